"""The statistics behind every comparison: intervals for rates and means, paired tests, false-discovery control.

Two runs answer the *same* samples, so every difference is paired: a sample's old and new outcome are correlated,
and a paired analysis has far more power than comparing two independent rates.

One rule holds throughout: the p-value shown next to an interval is the test that the interval inverts, so the
95% interval excludes zero exactly when p < 0.05.

- A change of a rate (one binary outcome per sample) gets the union of the two paired intervals that Fagerland,
  Lydersen & Laake (2014) recommend: Tango's score interval, whose test at zero is McNemar's, and Newcombe's hybrid
  score interval (method 10, with its continuity-corrected correlation).  Its p-value is the larger of the two tests',
  so the interval excludes zero exactly when p < 0.05.  Each alone slips in one corner (Tango's coverage when few
  pairs disagree, Newcombe's level at n <= 15 when many do); enumerating every table (tests/test_stats.py) shows the
  union keeps coverage above 94% and the level near 5% at every n from 5 to 100.  The price is some power where few
  pairs disagree at small n, against McNemar's test alone (which there exceeds its level); it is far more powerful
  than the exact McNemar test there.
- A change of a mean (latency, length, tokens, a graded score) gets the paired Student t interval and test on the
  per-sample differences.
- Samples are the unit: a sample asked several times contributes its pass rate over the asks (intervals clustered by
  sample).  Such rates keep whole-verdict intervals where they are whole, and never shrink to a point where every
  sample scored the same (`rate_interval`, `paired_rate_change`).

SciPy's special functions are used rather than scipy.stats, whose import costs about half a second, and they are
imported at first use: a run answered from the cache prints its Wilson intervals without them (the normal quantile
comes from the standard library's `statistics.NormalDist`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
_Z_MAX = 40.0  # a z beyond which a p-value is 0 to double precision


def z_quantile(confidence=CONFIDENCE):
    """The two-sided normal quantile for a confidence level (or an array of them)."""
    levels = 0.5 + np.asarray(confidence, dtype=float) / 2
    if levels.ndim == 0:
        return _normal_quantile(float(levels))
    return np.vectorize(_normal_quantile, otypes=[float])(levels)


def _normal_quantile(level: float) -> float:
    """inf at a level of 1 (a confidence that rounds to 1, from a tiny alpha), where NormalDist would refuse."""
    return math.inf if level >= 1.0 else NormalDist().inv_cdf(level)


def _special():
    """scipy.special, imported at first use (about 0.3 s)."""
    import scipy.special

    return scipy.special


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n == 0:
        return (0.0, 1.0)
    low, high = _wilson(np.float64(successes), np.float64(n), z_quantile(confidence))
    return (float(low), float(high))


def _wilson(successes, n, z):
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(np.maximum(0.0, p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    # exactly 0 with no successes and 1 with no failures, as the algebra gives, whatever the rounding of z
    low = np.where(successes == 0, 0.0, np.maximum(0.0, centre - half))
    high = np.where(successes == n, 1.0, np.minimum(1.0, centre + half))
    return low, high


# -- paired rates: vectorised over tables, so that every 2x2 table can be enumerated in the tests --------------
# Cells: a right in both, b right before and wrong now (negative flips), c the reverse, d wrong in both.

def paired_rate_interval(a, b, c, d, confidence: float = CONFIDENCE):
    """Interval of the change new - old: the union of Tango's and Newcombe's method-10 intervals."""
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    z = z_quantile(confidence)
    tango_low, tango_high = _tango_interval(b, c, a + b + c + d, z)
    newcombe_low, newcombe_high = _newcombe_interval(a, b, c, d, z)
    return np.minimum(tango_low, newcombe_low), np.maximum(tango_high, newcombe_high)


def paired_rate_p_value(a, b, c, d):
    """Two-sided p-value of "no change": the larger of McNemar's score test (Tango's at zero) and the level at
    which Newcombe's interval starts to exclude zero."""
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    discordant = b + c
    mcnemar = 2 * _special().ndtr(-np.abs(c - b) / np.sqrt(np.maximum(discordant, 1.0)))
    p = np.maximum(mcnemar, _newcombe_p(a, b, c, d))
    return np.where((discordant == 0) | (b == c), 1.0, p)


def _tango_statistic(b, c, n, d0):
    """Tango (1998): (c - b - n·d0) / sd, the sd under the restricted maximum-likelihood negative-flip rate."""
    n = np.maximum(n, 1.0)  # an empty table has no interval to find; keep the arithmetic finite
    linear = -(b + c) + (2 * n - c + b) * d0
    root = np.sqrt(np.maximum(0.0, linear * linear + 8 * n * b * d0 * (1 - d0)))
    q_negative = (root - linear) / (4 * n)
    variance = n * (2 * q_negative + d0 * (1 - d0))
    difference = c - b - n * d0
    statistic = difference / np.sqrt(np.where(variance > 0, variance, 1.0))
    return np.where(variance > 0, statistic, np.sign(difference) * _Z_MAX * 1e6)


def _tango_interval(b, c, n, z):
    """The values d0 the score test does not reject; the statistic falls as d0 rises, so each end is a bisection."""
    edge = 1 - 1e-12
    estimate = (c - b) / np.maximum(n, 1.0)
    low = _bisect(lambda d0: _tango_statistic(b, c, n, d0) <= z, np.full_like(estimate, -edge), estimate)
    high = _bisect(lambda d0: _tango_statistic(b, c, n, d0) < -z, estimate, np.full_like(estimate, edge))
    low = np.where(_tango_statistic(b, c, n, -edge) <= z, -1.0, low)
    high = np.where(_tango_statistic(b, c, n, edge) >= -z, 1.0, high)
    return np.where(n > 0, low, -1.0), np.where(n > 0, high, 1.0)


def _newcombe_interval(a, b, c, d, z):
    """Newcombe (1998) method 10: the two Wilson intervals combined with the continuity-corrected correlation."""
    n = a + b + c + d
    size = np.where(n > 0, n, 1.0)
    p_new, p_old = (a + c) / size, (a + b) / size
    l_new, u_new = _wilson(a + c, size, z)
    l_old, u_old = _wilson(a + b, size, z)
    phi = _phi(a, b, c, d)
    below = _combine(p_new - l_new, u_old - p_old, phi)
    above = _combine(u_new - p_new, p_old - l_old, phi)
    delta = p_new - p_old
    low, high = np.maximum(-1.0, delta - below), np.minimum(1.0, delta + above)
    return np.where(n > 0, low, -1.0), np.where(n > 0, high, 1.0)


def _newcombe_p(a, b, c, d):
    """The smallest 1 - confidence at which Newcombe's interval excludes zero (a bisection on z)."""
    upper = (c - b) < 0  # the bound that moves towards zero as the interval widens

    def includes_zero(z):
        low, high = _newcombe_interval(a, b, c, d, z)
        return np.where(upper, high >= 0, low <= 0)

    z = _bisect(includes_zero, np.zeros_like(a), np.full_like(a, _Z_MAX))
    return np.where(includes_zero(_Z_MAX), 2 * _special().ndtr(-z), 0.0)


def _phi(a, b, c, d):
    """Correlation of old and new outcomes, continuity-corrected as in method 10 (0 with an empty margin)."""
    n = a + b + c + d
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    numerator = a * d - b * c
    numerator = np.where(numerator > 0, np.maximum(numerator - n / 2, 0.0), numerator)
    phi = numerator / np.sqrt(np.where(denominator > 0, denominator, 1.0))
    return np.where(denominator > 0, np.clip(phi, -1.0, 1.0), 0.0)


def _combine(x, y, phi):
    """sqrt(x² - 2·phi·x·y + y²), never the square root of a rounding error below zero."""
    return np.sqrt(np.maximum(0.0, x * x - 2 * phi * x * y + y * y))


def _bisect(holds, low, high, steps: int = 42):
    """Where `holds` turns from False (at `low`) to True (at `high`), element by element; it must be monotone."""
    low, high = np.array(low, dtype=float), np.array(high, dtype=float)
    for _ in range(steps):
        middle = (low + high) / 2
        inside = holds(middle)
        low, high = np.where(inside, low, middle), np.where(inside, middle, high)
    return high


@dataclass(frozen=True)
class PairedBinary:
    """Old and new binary outcomes on the same n samples, as the four cells of the paired 2x2 table."""

    both: int  # right in both versions
    old_only: int  # right before, wrong now: the negative flips
    new_only: int  # wrong before, right now: the positive flips
    neither: int

    @classmethod
    def of(cls, old: Sequence[bool], new: Sequence[bool]) -> "PairedBinary":
        o = np.asarray(old, dtype=bool)
        n = np.asarray(new, dtype=bool)
        if o.shape != n.shape:
            raise ValueError("paired outcomes need the same number of old and new values")
        return cls(int((o & n).sum()), int((o & ~n).sum()), int((~o & n).sum()), int((~o & ~n).sum()))

    @property
    def n(self) -> int:
        return self.both + self.old_only + self.new_only + self.neither

    @property
    def old_rate(self) -> float:
        return (self.both + self.old_only) / self.n if self.n else 0.0

    @property
    def new_rate(self) -> float:
        return (self.both + self.new_only) / self.n if self.n else 0.0

    @property
    def delta(self) -> float:
        return self.new_rate - self.old_rate

    @property
    def _cells(self) -> tuple[int, int, int, int]:
        return (self.both, self.old_only, self.new_only, self.neither)

    def delta_interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        low, high = paired_rate_interval(*self._cells, confidence=confidence)
        return (float(low), float(high))

    def p_value(self) -> float:
        return float(paired_rate_p_value(*self._cells))


def paired_rate_tests(tables: Sequence[PairedBinary], confidence=CONFIDENCE) -> list[tuple[tuple[float, float], float]]:
    """(interval, p-value) of many 2x2 tables in one vectorised call; `confidence` may differ table by table."""
    if not tables:
        return []
    cells = np.array([t._cells for t in tables], dtype=float).T
    lows, highs = paired_rate_interval(*cells, confidence=confidence)
    return [((float(low), float(high)), float(p)) for low, high, p in zip(lows, highs, paired_rate_p_value(*cells))]


@dataclass(frozen=True)
class PairedContinuous:
    """Mean of a metric before and after on the same samples, the change, its interval and the matching p-value.

    `ci` is None where no interval can be given (a single sample, or identical differences the sign test cannot
    call): nothing is shown rather than a number that means nothing.
    """

    n: int
    old_mean: float
    new_mean: float
    delta: float
    ci: tuple[float, float] | None
    p: float


def paired_mean_change(old: Sequence[float], new: Sequence[float], confidence: float = CONFIDENCE) -> PairedContinuous:
    """Paired Student t interval and two-sided t test of the mean difference new - old.

    With every difference equal (no spread to estimate), the exact sign test decides: n identical non-zero
    differences give p = 2^(1-n), and the interval is that single value only when the test rejects.
    """
    o = np.asarray(old, dtype=float)
    n = np.asarray(new, dtype=float)
    if o.shape != n.shape or o.size == 0:
        raise ValueError("paired values need the same, non-zero number of old and new values")
    differences = n - o
    size = int(differences.size)
    delta = float(differences.mean())
    means = (float(o.mean()), float(n.mean()))
    alpha = 1 - confidence
    if not differences.any():
        return PairedContinuous(size, *means, 0.0, (0.0, 0.0), 1.0)
    spread = float(differences.std(ddof=1)) if size > 1 else 0.0
    if size > 1 and spread > 1e-12 * max(1.0, abs(delta)):
        se = spread / math.sqrt(size)
        t = delta / se
        p = float(2 * _special().stdtr(size - 1, -abs(t)))
        half = float(_special().stdtrit(size - 1, 1 - alpha / 2)) * se
        return PairedContinuous(size, *means, delta, (delta - half, delta + half), p)
    p = min(1.0, 2.0 ** (1 - size))  # every difference the same (to rounding): n of n on one side
    return PairedContinuous(size, *means, delta, (delta, delta) if p < alpha else None, p)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student t interval of a mean of per-sample values (None with fewer than two)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return None
    half = float(_special().stdtrit(v.size - 1, 0.5 + confidence / 2)) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return (float(v.mean()) - half, float(v.mean()) + half)


def rate_interval(rates: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of a rate measured as per-sample pass rates over repeats (the sample is the unit).

    The union of the clustered Student t interval and the Wilson interval of (sum of the rates, number of samples):
    a per-sample rate in [0, 1] with mean m varies at most as much as one verdict, m(1 - m), so Wilson never
    understates the spread, and it keeps its width where every sample scored the same (all right: the t interval
    alone would shrink to a point).
    """
    v = np.asarray(rates, dtype=float)
    if v.size == 0:
        return (0.0, 1.0)
    low, high = _wilson(v.sum(), v.size, z_quantile(confidence))
    t = mean_interval(v, confidence)
    if t is not None:
        low, high = min(float(low), t[0]), max(float(high), t[1])
    return (max(0.0, float(low)), min(1.0, float(high)))


def paired_rate_change(old: Sequence[float], new: Sequence[float], confidence: float = CONFIDENCE) -> PairedContinuous:
    """Change of a rate measured as per-sample pass rates (values in [0, 1]) on the same samples.

    Whole verdicts (every value 0 or 1) get the paired-rate interval of their 2x2 table.  Fractional pass rates get
    the paired t on the per-sample changes, clipped to [-1, 1]; where those changes do not vary (so t has no spread
    to use), the paired-rate interval of the fractional table (a sample right in 2 of 3 asks before and 1 of 3 now
    is a third of a negative flip), which treats a partial flip as carrying the variance of a whole one.
    """
    o = np.asarray(old, dtype=float)
    n = np.asarray(new, dtype=float)
    if o.shape != n.shape or o.size == 0:
        raise ValueError("paired values need the same, non-zero number of old and new values")
    means = (float(o.mean()), float(n.mean()))
    differences = n - o
    whole = bool(np.isin(o, (0.0, 1.0)).all() and np.isin(n, (0.0, 1.0)).all())
    if not whole and o.size > 1 and float(differences.std(ddof=1)) > 1e-12:
        result = paired_mean_change(o, n, confidence)
        ci = (max(-1.0, result.ci[0]), min(1.0, result.ci[1]))
        return PairedContinuous(result.n, *means, result.delta, ci, result.p)
    cells = (np.minimum(o, n).sum(), np.maximum(o - n, 0).sum(), np.maximum(n - o, 0).sum(),
             (1 - np.maximum(o, n)).sum())
    low, high = paired_rate_interval(*cells, confidence=confidence)
    return PairedContinuous(int(o.size), *means, float(differences.mean()), (float(low), float(high)),
                            float(paired_rate_p_value(*cells)))


def pass_at_k(correct: int, attempts: int, k: int) -> float:
    """Chance that at least one of k attempts drawn from `attempts` (of which `correct` were right) is right.

    The unbiased estimator of Chen et al. (2021): 1 - C(n - c, k) / C(n, k).
    """
    if not 1 <= k <= attempts:
        raise ValueError(f"k must lie in 1..{attempts} (got {k})")
    if attempts - correct < k:
        return 1.0
    return float(1 - math.exp(_log_choose(attempts - correct, k) - _log_choose(attempts, k)))


def pass_hat_k(correct: int, attempts: int, k: int) -> float:
    """Chance that all of k attempts drawn from `attempts` are right (pass^k, Yao et al. 2024): C(c, k) / C(n, k)."""
    if not 1 <= k <= attempts:
        raise ValueError(f"k must lie in 1..{attempts} (got {k})")
    if correct < k:
        return 0.0
    return float(math.exp(_log_choose(correct, k) - _log_choose(attempts, k)))


def _log_choose(n: int, k: int) -> float:
    return -math.log(n + 1) - float(_special().betaln(n - k + 1, k + 1))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), so that flagging q < 0.05 bounds the false discovery rate."""
    if not p_values:
        return []
    from scipy.stats import false_discovery_control

    return [float(p) for p in false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]
