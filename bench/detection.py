"""Model calls needed to detect a regression: `undrift check`'s sequential test against a fixed-size McNemar test.

A simulated model answers a stream of samples: the old version is right on 70% of them, and between versions 3%
of right answers and 7% of wrong ones flip anyway (the churn of a nondeterministic or lightly changed model).  On
top, the new version loses `delta` of accuracy to extra negative flips.  Both tests work at alpha = 0.05:

- sequential: `SequentialDriftCheck` (the class `undrift check` uses), looking after every 16 samples and stopping
  at "changed"; we report the number of calls by which 80% of trials had detected the change, and the mean;
- fixed-size: the exact McNemar test with the smallest sample size whose exact power is 80% (binomial sums).

So both detect the regression with probability 0.8 at a 5% false-alarm rate, and the ratio of their calls is a fair
comparison.  The same simulation with no regression measures how fast the check says "unchanged".

    .venv/bin/python bench/detection.py [--trials 200] [--tolerance 0.02]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import binom

from undrift.analysis.sequential import SequentialDriftCheck

ALPHA, POWER, BASE, CHURN_DOWN, CHURN_UP, CHUNK, BUDGET = 0.05, 0.8, 0.70, 0.03, 0.07, 16, 100_000


def simulate(rng: np.random.Generator, delta: float, tolerance: float, churn_down: float = CHURN_DOWN,
             churn_up: float = CHURN_UP, budget: int = BUDGET) -> tuple[int, str | None]:
    """Run one sequential check to its decision (or the budget); return (calls, decision)."""
    check = SequentialDriftCheck(tolerance, ALPHA)
    down = churn_down + delta / BASE  # P(flip | old right)
    up = churn_up  # P(flip | old wrong); 30% * 7% = 70% * 3%, so churn alone keeps accuracy
    calls = 0
    while calls < budget:
        old = rng.random(CHUNK) < BASE
        u = rng.random(CHUNK)
        new = np.where(old, u >= down, u < up)
        state = check.update(old.astype(float), new.astype(float))
        calls += CHUNK
        if state.decision:
            return calls, state.decision
    return calls, None


def flip_rates(delta: float) -> tuple[float, float]:
    """P(old right, new wrong) and P(old wrong, new right) in the simulation."""
    negative = BASE * CHURN_DOWN + delta
    positive = (1 - BASE) * CHURN_UP
    return negative, positive


def mcnemar_power(n: int, negative: float, positive: float) -> float:
    """Exact power of the two-sided exact McNemar test at ALPHA with n pairs."""
    discordant = np.arange(n + 1)
    p_discordant = negative + positive
    q = positive / p_discordant
    # largest k with 2 * P(Bin(D, 1/2) <= k) < ALPHA, per D (-1 where none)
    k = binom.ppf(ALPHA / 2, discordant, 0.5).astype(int)
    k = np.where(2 * binom.cdf(k, discordant, 0.5) < ALPHA, k, k - 1)
    reject = binom.cdf(k, discordant, q) + binom.sf(discordant - k - 1, discordant, q)
    reject = np.where(k >= 0, reject, 0.0)
    return float(np.sum(binom.pmf(discordant, n, p_discordant) * reject))


def fixed_sample_size(negative: float, positive: float) -> int:
    high = 16
    while mcnemar_power(high, negative, positive) < POWER:
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if mcnemar_power(middle, negative, positive) < POWER else (low, middle)
    return high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"alpha {ALPHA}, power {POWER}, base accuracy {BASE:.0%}, churn {CHURN_DOWN:.0%} of right / "
          f"{CHURN_UP:.0%} of wrong answers flip, {args.trials} trials, a look every {CHUNK} calls")
    print(f"{'regression':>10}  {'fixed n':>8}  {'seq p80':>8}  {'seq mean':>8}  {'detected':>8}  "
          f"{'ratio p80':>9}  {'ratio mean':>10}")
    for delta in (0.02, 0.05, 0.10):
        runs = [simulate(rng, delta, args.tolerance) for _ in range(args.trials)]
        calls = np.array([c if d == "changed" else BUDGET for c, d in runs])
        detected = np.mean([d == "changed" for _, d in runs])
        fixed = fixed_sample_size(*flip_rates(delta))
        p80 = float(np.quantile(calls, POWER))
        print(f"{delta:>10.0%}  {fixed:>8d}  {p80:>8.0f}  {calls.mean():>8.0f}  {detected:>8.0%}  "
              f"{fixed / p80:>8.2f}x  {fixed / calls.mean():>9.2f}x")
    # No regression: identical answers, and a churn whose negative flips (0.7 * 1% = 0.7%) are within tolerance.
    for down, up, label in ((0.0, 0.0, "identical answers"), (0.01, 0.07 / 3, "0.7% of samples flip each way")):
        runs = [simulate(rng, 0.0, args.tolerance, down, up, budget=20_000) for _ in range(args.trials)]
        decisions = [d for _, d in runs]
        print(f"no regression ({label}): median {np.median([c for c, _ in runs]):.0f} calls to a decision; "
              f"unchanged {decisions.count('unchanged') / len(runs):.0%}, changed (a false alarm here) "
              f"{decisions.count('changed') / len(runs):.0%}, undecided after 20000 "
              f"{decisions.count(None) / len(runs):.0%}")


if __name__ == "__main__":
    main()
