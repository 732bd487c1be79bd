"""Two-sample tests between the reference window and the current one, one per metric, Holm-adjusted.

The windows hold different requests, so the samples are independent (unlike `compare`, whose runs answer the same
samples and are tested paired):
- a rate (errors, refusals, valid JSON) gets Fisher's exact test on the 2x2 table: exact at the small counts that
  error and refusal rates usually have, where the chi-square approximation oversteps its level.  Its effect is the
  change in percentage points with Newcombe's hybrid score interval (his method 10, from two Wilson intervals);
- a continuous metric (length, tokens, latency, time to first token) gets the two-sided Mann-Whitney U test: no
  assumption of a shape, robust to the long tails of latency, and valid with the many ties of token counts (where
  the KS test's exact p-values assume no ties and grow conservative).  It is a test of one window tending to larger
  values than the other, so its effect is the Hodges-Lehmann shift (the median of all current - reference
  differences) with its distribution-free 95% interval (normal approximation to the U distribution);
- Mann-Whitney misses a change only in the tail (the slowest 10% of requests twice as slow: p99 doubled, median and
  p90 unchanged), which is how latency usually degrades (a slow replica, a queue).  So latency, time to first token
  and length also get a tail test: Fisher's exact test on the share of each window above the p95 of both windows
  pooled.  The threshold is chosen without the window labels, so given the pooled values the count above it splits
  between the windows hypergeometrically under no change: the test is the exact permutation test of that share,
  ties included.  The p95 rather than the p90 because a stretched tail moves few values across the p90 (simulated
  in tests/test_traffic.py: power 0.99 against 0.13 at the p90 on 500 requests a window), and not the p99 because a
  window of a few hundred requests has too few values above it for any split to be significant;
- the p-values of the family (these tests and the drift of meaning) are adjusted with Holm's step-down method, which
  bounds the chance of *any* false alarm (the family-wise error rate) at alpha under every combination of true and
  false nulls.  A drift report is read as one yes/no alarm, which is what the family-wise rate controls; with a
  family of about a dozen tests, Holm loses little power against Benjamini-Hochberg (which bounds only the share of
  false alarms among the alarms, and lets a single false alarm through more often when a few metrics truly moved).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..analysis.stats import CONFIDENCE, wilson_interval, z_quantile
from ..jsonable import jsonable

TAIL_PERCENTILE = 95  # the tail tests' threshold, of both windows pooled
_PAIRS_CAP = 1_000_000  # pairwise differences for the Hodges-Lehmann interval; larger windows are subsampled


@dataclass(frozen=True)
class MetricTest:
    """One metric compared between the reference and the current window."""

    metric: str
    test: str
    reference: float | None  # the rate, or the median of a continuous metric
    current: float | None
    n_reference: int
    n_current: int
    effect: str  # what `estimate` measures
    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None  # None where either window has no values for the metric (not tested)
    p_adjusted: float | None = None  # Holm, across the tested metrics
    drifted: bool = False
    threshold: float | None = None  # a tail test's: the pooled p95 the shares are above

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dict(self.__dict__))


def rate_test(metric: str, reference: Sequence[bool], current: Sequence[bool]) -> MetricTest:
    from scipy.stats import fisher_exact

    a, n, b, m = int(sum(reference)), len(reference), int(sum(current)), len(current)
    if not n or not m:
        return MetricTest(metric, "Fisher exact", a / n if n else None, b / m if m else None, n, m,
                          "change (points)", None, None, None, None)
    p = float(fisher_exact([[a, n - a], [b, m - b]], alternative="two-sided").pvalue)
    low, high = newcombe_interval(a, n, b, m)
    return MetricTest(metric, "Fisher exact", a / n, b / m, n, m, "change (points)", b / m - a / n, low, high, p)


def newcombe_interval(a: int, n: int, b: int, m: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's hybrid score interval for b/m - a/n (independent samples, method 10 of his 1998 paper)."""
    p1, p2 = a / n, b / m
    l1, u1 = wilson_interval(a, n, confidence)
    l2, u2 = wilson_interval(b, m, confidence)
    delta = p2 - p1
    return (delta - float(np.hypot(p2 - l2, u1 - p1)), delta + float(np.hypot(u2 - p2, p1 - l1)))


def shift_test(metric: str, reference: Sequence[float], current: Sequence[float], seed: int = 0) -> MetricTest:
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    medians = (float(np.median(x)) if len(x) else None, float(np.median(y)) if len(y) else None)
    if not len(x) or not len(y):
        return MetricTest(metric, "Mann-Whitney U", *medians, len(x), len(y), "shift (Hodges-Lehmann)",
                          None, None, None, None)
    p = float(mannwhitneyu(y, x, alternative="two-sided").pvalue)
    estimate, low, high = hodges_lehmann(x, y, seed=seed)
    return MetricTest(metric, "Mann-Whitney U", *medians, len(x), len(y), "shift (Hodges-Lehmann)",
                      estimate, low, high, p)


def tail_test(metric: str, reference: Sequence[float], current: Sequence[float]) -> MetricTest:
    """Fisher's exact test on the share of each window above the pooled p95 (`TAIL_PERCENTILE`): a longer or
    shorter tail, where the median need not move."""
    x, y = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    name = f"{metric} > p{TAIL_PERCENTILE}"
    if not len(x) or not len(y):
        return rate_test(name, [], [])
    threshold = float(np.percentile(np.concatenate([x, y]), TAIL_PERCENTILE))
    test = rate_test(name, list(x > threshold), list(y > threshold))
    return MetricTest(**{**test.__dict__, "threshold": threshold})


def hodges_lehmann(x: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE, seed: int = 0
                   ) -> tuple[float, float, float]:
    """The median of y - x over all pairs, and the interval between the order statistics of those differences that
    the Mann-Whitney test at 1 - confidence inverts (Lehmann 1963).  Windows with more than a million pairs are
    subsampled (seeded) to a thousand values each for the interval."""
    if len(x) * len(y) > _PAIRS_CAP:
        rng = np.random.default_rng(seed)
        side = int(np.sqrt(_PAIRS_CAP))
        x = rng.choice(x, min(len(x), side), replace=False)
        y = rng.choice(y, min(len(y), side), replace=False)
    n, m = len(x), len(y)
    differences = np.sort(np.subtract.outer(y, x).ravel())
    k = int(np.floor(n * m / 2 - z_quantile(confidence) * np.sqrt(n * m * (n + m + 1) / 12)))
    k = max(k, 0)
    return float(np.median(differences)), float(differences[k]), float(differences[n * m - 1 - k])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: the i-th smallest p times (m - i + 1), made monotone, capped at 1.
    (SciPy offers only Benjamini-Hochberg/Yekutieli, and statsmodels is a heavy dependency for five lines.)"""
    p = np.asarray(p_values, dtype=float)
    if not len(p):
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    result = np.empty_like(adjusted)
    result[order] = adjusted
    return [float(v) for v in result]


def adjust(tests: list[MetricTest], alpha: float) -> list[MetricTest]:
    """The tests with their Holm-adjusted p-values and verdicts; untested metrics stay as they are."""
    tested = [i for i, t in enumerate(tests) if t.p_value is not None]
    adjusted = dict(zip(tested, holm([tests[i].p_value for i in tested])))
    return [t if i not in adjusted else
            MetricTest(**{**t.__dict__, "p_adjusted": adjusted[i], "drifted": adjusted[i] < alpha})
            for i, t in enumerate(tests)]
