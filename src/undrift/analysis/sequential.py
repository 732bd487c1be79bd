"""Anytime-valid drift checks: query a model sample by sample and stop as soon as the evidence decides.

A fixed-size test must fix its sample size in advance; looking at its p-value after every answer and stopping
when it dips below 0.05 inflates the false-alarm rate far above 5%.  Two anytime-valid tools avoid that:

- an *e-process* for the headline question "did accuracy drop?" (or "did it move?"): a mixture of betting
  martingales on the paired differences Z = new - old in [-1, 1].  A gambler betting a fraction lam of their wealth
  that Z is negative multiplies it by 1 - lam * Z each answer; when accuracy did not drop, E[Z] >= 0 and the wealth is
  a supermartingale, so by Ville's inequality it ever reaches 1/alpha with probability at most alpha, however often
  one looks.  For 0/1 outcomes only the discordant pairs move the wealth, and the mixture over lam is a mixture
  sequential probability ratio test of "a discordant pair is a negative flip with probability 1/2" (the McNemar
  question): nondeterminism that flips answers both ways equally never raises it, whatever its rate.
- *confidence sequences* (Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting", JRSS-B
  2024) for reporting: intervals that cover the truth at every look at once, for the paired difference (which also
  decides "unchanged within tolerance") and for the share of samples whose outcome changed at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy.special import logsumexp

DIRECTIONS = ("drop", "any")
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

    def update(self, values: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
        """Add observations in order; returns the interval after each of them (a look after every observation).

        Each bet is fixed before the observation it is placed on is seen: it shrinks with the running variance of
        the observations before it (a prior pseudo-observation keeps the first bets modest).
        """
        ys = (np.asarray(list(values), dtype=float) - self.low) / (self.high - self.low)
        if ys.size == 0:
            return np.empty(0), np.empty(0)
        if ys.min() < -1e-12 or ys.max() > 1 + 1e-12:
            raise ValueError(f"observations must lie in [{self.low}, {self.high}]")
        ys = np.clip(ys, 0.0, 1.0)
        t = self.n + 1 + np.arange(ys.size)
        sums = self._sum + np.cumsum(ys)
        deviations = (ys - (0.5 + sums) / (t + 1)) ** 2
        squares_before = self._square_sum + np.concatenate([[0.0], np.cumsum(deviations)[:-1]])
        bets = np.sqrt(2 * math.log(2 / self.alpha) / ((squares_before / t) * t * np.log(t + 1)))
        self.n, self._sum = int(t[-1]), float(sums[-1])
        self._square_sum = float(squares_before[-1] + deviations[-1])
        with np.errstate(divide="ignore"):  # at m = 0 (or 1) the cap is infinite: the plug-in bet alone counts
            up = np.minimum(bets[:, None], MAX_BET / self.grid[None, :])
            down = np.minimum(bets[:, None], MAX_BET / (1 - self.grid[None, :]))
        step = ys[:, None] - self.grid[None, :]
        log_up = self.log_up + np.cumsum(np.log1p(up * step), axis=0)
        log_down = self.log_down + np.cumsum(np.log1p(-down * step), axis=0)
        self.log_up, self.log_down = log_up[-1], log_down[-1]
        # hedged wealth max(K+/2, K-/2) >= 1/alpha rejects m; what is not rejected yet stays in the sequence
        kept = np.maximum(log_up, log_down) - math.log(2) < self.threshold
        any_kept = kept.any(axis=1)
        # the bounds are the rejected grid points next to the kept ones, so a mean between two grid points that
        # is still plausible stays inside the interval
        first_index = np.maximum(np.argmax(kept, axis=1) - 1, 0)
        last_index = np.minimum(len(self.grid) - 1 - np.argmax(kept[:, ::-1], axis=1) + 1, len(self.grid) - 1)
        first = np.where(any_kept, self.grid[first_index], 0.0)
        last = np.where(any_kept, self.grid[last_index], 1.0)
        lowers = np.maximum.accumulate(np.maximum(self._lower, first))  # the running intersection keeps it nested
        uppers = np.minimum.accumulate(np.minimum(self._upper, last))
        crossed = lowers > uppers
        middle = (lowers + uppers) / 2
        lowers, uppers = np.where(crossed, middle, lowers), np.where(crossed, middle, uppers)
        self._lower, self._upper = float(lowers[-1]), float(uppers[-1])
        span = self.high - self.low
        return self.low + lowers * span, self.low + uppers * span

    @property
    def mean(self) -> float:
        scaled = self._sum / self.n if self.n else 0.5
        return self.low + scaled * (self.high - self.low)

    @property
    def interval(self) -> tuple[float, float]:
        span = self.high - self.low
        return (self.low + self._lower * span, self.low + self._upper * span)


class MixtureBettingTest:
    """E-process against "the mean of Z did not drop below 0" (direction "drop") or "is 0" (direction "any").

    The bets lam = 2 theta - 1 are mixed with Beta(2, 2) weights on theta, restricted to theta > 1/2 for a drop
    (a negative flip more likely than a positive one) and over (0, 1) for any change; `bench/detection.py` measures
    the calls this spends against a fixed-size McNemar test.
    """

    def __init__(self, alpha: float = 0.05, direction: str = "drop", grid: int = 100):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        theta = 0.5 + (np.arange(grid) + 0.5) / (2 * grid)
        bets, weights = 2 * theta - 1, theta * (1 - theta)
        if direction == "any":
            bets, weights = np.concatenate([bets, -bets]), np.concatenate([weights, weights])
        self.bets = bets
        self.log_weights = np.log(weights / weights.sum())
        self.log_wealth = np.zeros_like(bets)
        self.threshold = math.log(1 / alpha)
        self.n = 0
        self.rejected_at: int | None = None  # the answer after which the wealth first reached 1/alpha

    def update(self, differences: Iterable[float]) -> np.ndarray:
        """Add paired differences in order; returns the log e-value after each of them."""
        z = np.asarray(list(differences), dtype=float)
        if z.size == 0:
            return np.empty(0)
        if np.abs(z).max() > 1 + 1e-12:
            raise ValueError("paired differences must lie in [-1, 1]")
        paths = self.log_wealth + np.cumsum(np.log1p(-np.outer(np.clip(z, -1, 1), self.bets)), axis=0)
        log_e = logsumexp(self.log_weights + paths, axis=1)
        if self.rejected_at is None and (log_e >= self.threshold).any():
            self.rejected_at = self.n + 1 + int(np.argmax(log_e >= self.threshold))
        self.log_wealth = paths[-1]
        self.n += int(z.size)
        return log_e

    @property
    def e_value(self) -> float:
        return float(math.exp(min(700.0, logsumexp(self.log_weights + self.log_wealth))))

    @property
    def rejected(self) -> bool:
        return self.rejected_at is not None


@dataclass
class CheckState:
    """Where a sequential drift check stands after `n` paired observations.

    (a) `decision`, the headline: "changed" when accuracy dropped (or, with direction "any", moved), "unchanged"
    when the confidence sequence of the difference rules out a drop (change) beyond the tolerance, else None.
    (b) `churn_decision`: "above" when the share of samples whose outcome changed exceeds the model's own churn
    (the share that changes between two asks of the unchanged model), "within" when it does not, else None.
    Only (a) decides the exit status and the gate; (b) tells nondeterminism from a changed model.
    """

    n: int
    direction: str
    decision: str | None
    reason: str
    difference: float
    difference_ci: tuple[float, float]
    e_value: float
    flip_rate: float
    flip_rate_ci: tuple[float, float]
    churn: float | None  # None: not known (no repeats, none declared, not a deterministic model)
    churn_source: str
    churn_decision: str | None
    decided_at: int | None = None  # the answer after which the decision was reached


class SequentialDriftCheck:
    """Decide "changed" or "unchanged within tolerance" from paired outcomes (old, new), each in [0, 1].

    Each error rate holds on its own, at every look: P(says "changed" | no drop) <= alpha (the e-process) and
    P(says "unchanged" | a drop beyond the tolerance) <= alpha (the confidence sequence).
    """

    def __init__(self, tolerance: float = 0.02, alpha: float = 0.05, direction: str = "drop",
                 churn: float | None = None, churn_source: str = "declared"):
        """`churn` is the model's own churn (estimated from repeats, declared, or 0 for a deterministic model);
        without one the churn question is not answered (the accuracy tolerance is a different quantity)."""
        if not 0 < tolerance < 1:
            raise ValueError("tolerance must lie in (0, 1)")
        self.tolerance, self.direction = tolerance, direction
        self.evidence = MixtureBettingTest(alpha, direction)
        self.difference = BettingConfidenceSequence(-1.0, 1.0, alpha)
        self.flips = BettingConfidenceSequence(0.0, 1.0, alpha)
        self.churn = churn
        self.churn_source = "unknown" if churn is None else churn_source
        self.decision: str | None = None
        self.decided_at: int | None = None

    def update(self, old: Iterable[float], new: Iterable[float]) -> CheckState:
        """Add paired outcomes in order, looking after each one; the first decision reached stands."""
        o = np.asarray(list(old), dtype=float)
        n = np.asarray(list(new), dtype=float)
        log_e = self.evidence.update(n - o)
        lows, highs = self.difference.update(n - o)
        self.flips.update((np.abs(n - o) > 1e-9).astype(float))
        if self.decision is None and o.size:
            changed = log_e >= self.evidence.threshold
            unchanged = (lows >= -self.tolerance) & ((highs <= self.tolerance) if self.direction == "any" else True)
            decided = changed | unchanged
            if decided.any():
                first = int(np.argmax(decided))
                self.decision = "changed" if changed[first] else "unchanged"
                self.decided_at = self.difference.n - o.size + first + 1
        return self.state()

    def state(self) -> CheckState:
        low, high = self.difference.interval
        tol = self.tolerance
        reason = "the evidence cannot decide yet; more samples are needed"
        if self.decision == "changed":
            moved = "dropped" if self.direction == "drop" else "moved"
            reason = (f"the outcome (right answers, or the score) {moved}: the e-value reached 1/alpha = "
                      f"{math.exp(self.evidence.threshold):.3g} after {self.decided_at} answers")
        elif self.decision == "unchanged":
            limit = f"no drop beyond {tol:.1%}" if self.direction == "drop" else f"a change within ±{tol:.1%}"
            reason = f"the difference's confidence sequence showed {limit} after {self.decided_at} answers"
        flip_low, flip_high = self.flips.interval
        churn_decision = None
        if self.churn is not None:
            churn_decision = "above" if flip_low > self.churn else "within" if flip_high <= self.churn else None
        return CheckState(self.difference.n, self.direction, self.decision, reason, self.difference.mean, (low, high),
                          self.evidence.e_value, self.flips.mean, (flip_low, flip_high), self.churn,
                          self.churn_source, churn_decision, self.decided_at)


def own_churn(outcomes: list[list[float]]) -> float | None:
    """The share of pairs of asks of one unchanged model whose outcomes differ, from samples asked several times.

    For each sample with K >= 2 outcomes, the share of its K(K-1)/2 pairs that differ; averaged over samples.
    None when no sample was asked twice.
    """
    shares = []
    for values in outcomes:
        if len(values) < 2:
            continue
        pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1:]]
        shares.append(sum(abs(a - b) > 1e-9 for a, b in pairs) / len(pairs))
    return sum(shares) / len(shares) if shares else None
