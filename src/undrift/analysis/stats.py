"""The statistics behind every comparison: intervals for rates, paired tests, and false-discovery control.

Two runs answer the *same* samples, so every difference is paired: a sample's old and new outcome are correlated,
and a paired test (exact McNemar on the discordant pairs, a paired bootstrap and Wilcoxon signed-rank for
continuous metrics) has far more power than comparing two independent rates.  Distributions come from SciPy;
scipy.stats is imported inside the functions because it costs about half a second on import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import ndtri

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def z_quantile(confidence: float = CONFIDENCE) -> float:
    return float(ndtri(0.5 + confidence / 2))


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n == 0:
        return (0.0, 1.0)
    z = z_quantile(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


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

    def mcnemar_p(self) -> float:
        """Exact McNemar test: under no change each discordant pair is equally likely to go either way."""
        discordant = self.old_only + self.new_only
        if discordant == 0:
            return 1.0
        from scipy.stats import binomtest

        return float(binomtest(self.new_only, discordant, 0.5).pvalue)

    def delta_interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Newcombe's hybrid score interval for a paired difference of proportions (method 10, 1998).

        It combines the two Wilson intervals with the correlation of the pairs, so it stays inside [-1, 1] and
        keeps its coverage near the nominal level even for small counts, where the Wald interval fails.
        """
        if self.n == 0:
            return (-1.0, 1.0)
        p_new, p_old = self.new_rate, self.old_rate
        l_new, u_new = wilson_interval(self.both + self.new_only, self.n, confidence)
        l_old, u_old = wilson_interval(self.both + self.old_only, self.n, confidence)
        phi = self._phi()
        below = ((p_new - l_new) ** 2 - 2 * phi * (p_new - l_new) * (u_old - p_old) + (u_old - p_old) ** 2) ** 0.5
        above = ((u_new - p_new) ** 2 - 2 * phi * (u_new - p_new) * (p_old - l_old) + (p_old - l_old) ** 2) ** 0.5
        return (max(-1.0, self.delta - below), min(1.0, self.delta + above))

    def _phi(self) -> float:
        """Correlation of old and new outcomes over the pairs (0 where a margin is empty)."""
        a, b, c, d = self.both, self.new_only, self.old_only, self.neither  # rows: new right/wrong; cols: old
        denominator = float((a + b) * (c + d) * (a + c) * (b + d))
        return (a * d - b * c) / denominator**0.5 if denominator > 0 else 0.0


@dataclass(frozen=True)
class PairedContinuous:
    """Mean of a continuous metric before and after, with a bootstrap interval and a signed-rank test."""

    old_mean: float
    new_mean: float
    delta: float
    ci: tuple[float, float]
    p: float


def paired_continuous(old: Sequence[float], new: Sequence[float], confidence: float = CONFIDENCE,
                      seed: int = 0) -> PairedContinuous:
    """Paired bootstrap (percentile) interval of the mean difference, and the Wilcoxon signed-rank p-value."""
    o = np.asarray(old, dtype=float)
    n = np.asarray(new, dtype=float)
    if o.shape != n.shape or o.size == 0:
        raise ValueError("paired values need the same, non-zero number of old and new values")
    differences = n - o
    delta = float(differences.mean())
    if not differences.any():
        return PairedContinuous(float(o.mean()), float(n.mean()), 0.0, (0.0, 0.0), 1.0)
    from scipy.stats import bootstrap, wilcoxon

    p = float(wilcoxon(differences, zero_method="wilcox").pvalue)
    if np.all(differences == differences[0]):
        ci = (delta, delta)  # every resample has the same mean
    else:
        result = bootstrap((differences,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                           method="percentile", rng=np.random.default_rng(seed))
        ci = (float(result.confidence_interval.low), float(result.confidence_interval.high))
    return PairedContinuous(float(o.mean()), float(n.mean()), delta, ci, p)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, so that flagging p_adj < 0.05 bounds the false discovery rate."""
    if not p_values:
        return []
    from scipy.stats import false_discovery_control

    return [float(p) for p in false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]
