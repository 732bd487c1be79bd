"""The kernel two-sample test (Gretton et al. 2012) behind the drift of meaning: did the responses' embeddings come
from the same distribution in both windows?

- Kernel: Gaussian (RBF), k(u, v) = exp(-|u - v|^2 / (2 s^2)), with s^2 the median squared distance between all
  pairs of the pooled sample (the median heuristic).  The bandwidth is chosen without the window labels, so it
  does not break the exchangeability the permutation test relies on.
- Statistic: the unbiased estimate of MMD^2 (the U-statistic): mean within-reference kernel + mean within-current
  kernel - 2 mean cross kernel, diagonals left out.  Zero in expectation when nothing moved.
- p-value: the labels are permuted B times (seeded); p = (1 + #{permuted >= observed}) / (B + 1), which is a valid
  p-value at every B (never 0, exact level under exchangeability).  All permutations are computed at once from the
  pooled kernel matrix with one matrix product.
- Witness: f(z) = mean k(z, reference) - mean k(z, current), the function that best separates the two windows;
  responses of the current window with the lowest f are the ones most unlike the reference, and reference responses
  with the highest f the ones the current window no longer gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BATCH = 250  # permutations per matrix product: bounds memory at N x 250 floats


@dataclass(frozen=True)
class MmdResult:
    mmd2: float
    bandwidth: float  # s, the kernel's length scale
    p_value: float
    permutations: int
    witness_reference: np.ndarray  # f at each reference point (higher: more typical of the reference)
    witness_current: np.ndarray  # f at each current point (lower: more typical of the current window)


def mmd_test(reference: np.ndarray, current: np.ndarray, permutations: int = 1000, seed: int = 0) -> MmdResult:
    """Two-sample test of `reference` (n x d) against `current` (m x d), n, m >= 2."""
    x, y = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("the MMD test needs at least two points on each side")
    pooled = np.vstack([x, y])
    squares = np.sum(pooled * pooled, axis=1)
    distances = np.maximum(squares[:, None] + squares[None, :] - 2 * pooled @ pooled.T, 0.0)
    off_diagonal = distances[~np.eye(n + m, dtype=bool)]
    scale = float(np.median(off_diagonal))
    if scale <= 0:  # more than half the pairs identical: fall back on the mean distance, if any
        scale = float(off_diagonal.mean())
    kernel = np.exp(-distances / (2 * scale)) if scale > 0 else np.ones_like(distances)
    labels = np.zeros(n + m)
    labels[:n] = 1.0
    observed = float(_mmd2(kernel, labels[:, None], n, m)[0])
    rng = np.random.default_rng(seed)
    exceed, done = 0, 0
    while done < permutations:
        batch = min(_BATCH, permutations - done)
        shuffled = rng.permuted(np.repeat(labels[:, None], batch, axis=1), axis=0)
        exceed += int(np.sum(_mmd2(kernel, shuffled, n, m) >= observed - 1e-12))
        done += batch
    witness = kernel[:, :n].mean(axis=1) - kernel[:, n:].mean(axis=1)
    return MmdResult(observed, float(np.sqrt(scale)), (1 + exceed) / (1 + permutations), permutations,
                     witness[:n], witness[n:])


def _mmd2(kernel: np.ndarray, indicators: np.ndarray, n: int, m: int) -> np.ndarray:
    """Unbiased MMD^2 for each column of 0/1 indicators of the first sample (the kernel's diagonal is 1)."""
    row_sums = kernel.sum(axis=1)
    total = row_sums.sum()
    a_k_a = np.einsum("ib,ib->b", indicators, kernel @ indicators)
    a_k_1 = indicators.T @ row_sums
    b_k_b = total - 2 * a_k_1 + a_k_a
    a_k_b = a_k_1 - a_k_a
    return (a_k_a - n) / (n * (n - 1)) + (b_k_b - m) / (m * (m - 1)) - 2 * a_k_b / (n * m)
