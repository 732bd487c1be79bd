"""Anytime-valid drift checks: query a model sample by sample and stop as soon as the evidence decides.

A fixed-size test must fix its sample size in advance; looking at its p-value after every answer and stopping
when it dips below 0.05 inflates the false-alarm rate far above 5%.  A *confidence sequence* is a sequence of
intervals that all cover the true value at once with probability 1 - alpha, so it may be checked after every
answer and the check may stop whenever it likes.

We use the hedged betting confidence sequence of Waudby-Smith & Ramdas ("Estimating means of bounded random
variables by betting", JRSS-B 2024) with predictable plug-in bets: for every candidate mean m on a grid, two
gamblers bet that the mean is above / below m; m leaves the sequence once their wealth passes 1/alpha (Ville's
inequality).  The bets shrink with the running variance, so when old and new versions mostly agree (paired
differences mostly 0) the interval narrows far faster than a Hoeffding bound would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

MAX_BET = 0.5  # the bet never stakes more than half the wealth, so one observation cannot ruin a gambler


class BettingConfidenceSequence:
    """A (1 - alpha) confidence sequence for the mean of observations in [low, high]."""

    def __init__(self, low: float, high: float, alpha: float = 0.05, grid_size: int = 1001):
        if not 0 < alpha < 1:
            raise ValueError("alpha must lie in (0, 1)")
        self.low, self.high, self.alpha = float(low), float(high), float(alpha)
        self.grid = np.linspace(0, 1, grid_size)  # candidate means, scaled to [0, 1]
        self.log_up = np.zeros_like(self.grid)
        self.log_down = np.zeros_like(self.grid)
        self.threshold = math.log(1 / self.alpha)
        self.n = 0
        self._sum = 0.0
        self._square_sum = 0.25  # prior pseudo-observation for the variance estimate
        self._lower, self._upper = 0.0, 1.0

    def update(self, values: Iterable[float]) -> None:
        """Add observations in order; each bet is fixed before the observation it is placed on is seen."""
        ys = (np.asarray(list(values), dtype=float) - self.low) / (self.high - self.low)
        if ys.size == 0:
            return
        if ys.min() < -1e-12 or ys.max() > 1 + 1e-12:
            raise ValueError(f"observations must lie in [{self.low}, {self.high}]")
        bets = np.empty(ys.size)
        for i, y in enumerate(np.clip(ys, 0.0, 1.0)):
            t = self.n + 1
            variance = self._square_sum / t
            bets[i] = math.sqrt(2 * math.log(2 / self.alpha) / (variance * t * math.log(t + 1)))
            self._sum += y
            self._square_sum += (y - (0.5 + self._sum) / (t + 1)) ** 2
            self.n = t
        ys = np.clip(ys, 0.0, 1.0)[:, None]
        with np.errstate(divide="ignore"):  # at m = 0 (or 1) the cap is infinite: the plug-in bet alone counts
            up = np.minimum(bets[:, None], MAX_BET / self.grid[None, :])
            down = np.minimum(bets[:, None], MAX_BET / (1 - self.grid[None, :]))
        self.log_up += np.log1p(up * (ys - self.grid)).sum(axis=0)
        self.log_down += np.log1p(-down * (ys - self.grid)).sum(axis=0)
        # hedged wealth max(K+/2, K-/2) >= 1/alpha rejects m
        wealth = np.maximum(self.log_up, self.log_down) - math.log(2)
        kept = self.grid[wealth < self.threshold]
        if kept.size:  # the running intersection keeps the sequence nested
            self._lower = max(self._lower, float(kept.min()))
            self._upper = min(self._upper, float(kept.max()))
        if self._lower > self._upper:
            middle = (self._lower + self._upper) / 2
            self._lower = self._upper = middle

    @property
    def mean(self) -> float:
        scaled = self._sum / self.n if self.n else 0.5
        return self.low + scaled * (self.high - self.low)

    @property
    def interval(self) -> tuple[float, float]:
        span = self.high - self.low
        return (self.low + self._lower * span, self.low + self._upper * span)


@dataclass
class CheckState:
    """Where a sequential drift check stands after `n` paired observations."""

    n: int
    decision: str | None  # "changed", "unchanged" or None (undecided so far)
    reason: str
    difference: float
    difference_ci: tuple[float, float]
    nfr: float
    nfr_ci: tuple[float, float]


class SequentialDriftCheck:
    """Decide "changed" or "unchanged within tolerance" from paired outcomes (old, new), each in [0, 1].

    Two confidence sequences at alpha/2 each (so both hold together with probability 1 - alpha): one on the paired
    difference new - old, one on the negative flip rate (old right, new wrong; for graded scores, the share that
    went down).  Changed: the difference's interval excludes 0, or the flip rate's lower bound exceeds the
    tolerance.  Unchanged: the difference's interval lies within +-tolerance and the flip rate's upper bound is
    within it too.
    """

    def __init__(self, tolerance: float = 0.02, alpha: float = 0.05):
        if not 0 < tolerance < 1:
            raise ValueError("tolerance must lie in (0, 1)")
        self.tolerance = tolerance
        self.difference = BettingConfidenceSequence(-1.0, 1.0, alpha / 2)
        self.flips = BettingConfidenceSequence(0.0, 1.0, alpha / 2)

    def update(self, old: Iterable[float], new: Iterable[float]) -> CheckState:
        o = np.asarray(list(old), dtype=float)
        n = np.asarray(list(new), dtype=float)
        self.difference.update(n - o)
        self.flips.update((n < o).astype(float))
        return self.state()

    def state(self) -> CheckState:
        low, high = self.difference.interval
        flip_low, flip_high = self.flips.interval
        tol = self.tolerance
        decision, reason = None, "the intervals still straddle the thresholds; more samples are needed"
        if low > 0 or high < 0:
            decision, reason = "changed", "the interval of the paired difference excludes 0"
        elif flip_low > tol:
            decision, reason = "changed", f"negative flips exceed the tolerance {tol:.1%}"
        elif -tol <= low and high <= tol and flip_high <= tol:
            decision, reason = "unchanged", f"difference and negative flips are within ±{tol:.1%}"
        return CheckState(self.difference.n, decision, reason, self.difference.mean, (low, high),
                          self.flips.mean, (flip_low, flip_high))
