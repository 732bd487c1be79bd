"""Model calls needed to detect a drop in accuracy: `undrift check` against a fixed-size exact McNemar test.

Both answer the same question at the same error rates.  A simulated model is right on 70% of samples; between
versions `--churn` of all samples flip each way anyway (nondeterminism), and the new version loses `delta` more to
extra negative flips.  Alpha is 0.05.

- fixed-size: the exact McNemar test with the smallest sample size whose exact power is 80% against the smallest
  drop of interest (2 points), one-sided (the same hypothesis as `check --direction drop`) and two-sided (the same
  as `--direction any`, and the test people usually run).  It spends all those calls whatever the drop is.
- sequential: `SequentialDriftCheck`, the class `undrift check` uses, looking after every answer and stopping at
  its first decision; a trial that has not said "changed" within the budget counts as never detecting.

Printed: the calls by which 80% of checks said "changed" (the sequential test's 80% power point), their mean,
the ratio to each fixed test, and the false-alarm rate ("changed" with no drop) under churn of 2%, 5% and 10%
each way, looking after every answer up to the budget.  For reference, the same for an oracle: a sequential
probability ratio test told the true share of negative flips among discordant pairs (no user knows it; it shows
how close to the best possible the check comes).

    .venv/bin/python bench/detection.py [--trials 500] [--churn 0.02] [--budget 6000]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy.stats import binom

from undrift.analysis.sequential import SequentialDriftCheck

ALPHA, POWER, BASE, DESIGN_DROP, BLOCK = 0.05, 0.8, 0.70, 0.02, 256


def answers(rng: np.random.Generator, n: int, churn: float, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Old and new outcomes: `churn` of all samples flip each way, `delta` more flip from right to wrong."""
    old = rng.random(n) < BASE
    u = rng.random(n)
    new = np.where(old, u >= (churn + delta) / BASE, u < churn / (1 - BASE))
    return old.astype(float), new.astype(float)


def sequential_calls(seed: np.random.SeedSequence, delta: float, churn: float, direction: str, budget: int,
                     tolerance: float = 0.02) -> tuple[int, str | None]:
    """One check, fed answer by answer (in blocks; it looks after each answer) until it decides or the budget ends."""
    rng = np.random.default_rng(seed)
    check = SequentialDriftCheck(tolerance, ALPHA, direction)
    for start in range(0, budget, BLOCK):
        state = check.update(*answers(rng, min(BLOCK, budget - start), churn, delta))
        if state.decision:
            return state.decided_at, state.decision
    return budget, None


def oracle_calls(seed: np.random.SeedSequence, delta: float, churn: float, budget: int) -> int | None:
    """Calls until a probability ratio test that knows the true flip ratio reaches 1/alpha (None: not in budget)."""
    rng = np.random.default_rng(seed)
    old, new = answers(rng, budget, churn, delta)
    negative, positive = churn + delta, churn
    bet = (negative - positive) / (negative + positive)  # the growth-optimal bet against "no drop"
    wealth = np.cumsum(np.log1p(-bet * (new - old)))
    crossed = np.flatnonzero(wealth >= np.log(1 / ALPHA))
    return int(crossed[0]) + 1 if crossed.size else None


def mcnemar_power(n: int, negative: float, positive: float, sides: int) -> float:
    """Exact power of the exact McNemar test at ALPHA with n pairs (one-sided: against a drop)."""
    discordant = np.arange(n + 1)
    q = negative / (negative + positive)  # chance that a discordant pair is a negative flip
    level = ALPHA / sides
    # smallest count k of negative flips whose upper tail P(Bin(D, 1/2) >= k) is within the level, per D
    k = binom.isf(level, discordant, 0.5).astype(int) + 1
    k = np.where(binom.sf(k - 2, discordant, 0.5) <= level, k - 1, k)
    reject = binom.sf(k - 1, discordant, q)
    if sides == 2:
        reject = reject + binom.cdf(discordant - k, discordant, q)
    return float(np.sum(binom.pmf(discordant, n, negative + positive) * reject))


def fixed_sample_size(negative: float, positive: float, sides: int) -> int:
    high = 16
    while mcnemar_power(high, negative, positive, sides) < POWER:
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if mcnemar_power(middle, negative, positive, sides) < POWER else (low, middle)
    return high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--churn", type=float, default=0.02, help="share of samples flipping each way anyway")
    parser.add_argument("--budget", type=int, default=6000, help="answers a check may ask before giving up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes to simulate in")
    args = parser.parse_args()
    seeds = np.random.SeedSequence(args.seed)
    pool = ProcessPoolExecutor(args.jobs)

    def trials(delta: float, churn: float, direction: str) -> list[tuple[int, str | None]]:
        jobs = [pool.submit(sequential_calls, seed, delta, churn, direction, args.budget)
                for seed in seeds.spawn(args.trials)]
        return [job.result() for job in jobs]

    started = time.perf_counter()
    design = (args.churn + DESIGN_DROP, args.churn)
    fixed = {sides: fixed_sample_size(*design, sides) for sides in (1, 2)}
    print(f"alpha {ALPHA}, base accuracy {BASE:.0%}, churn {args.churn:.0%} of samples each way, {args.trials} trials, "
          f"a look after every answer, budget {args.budget}")
    print(f"fixed-size exact McNemar test, 80% power against a {DESIGN_DROP:.0%} drop: {fixed[1]} calls one-sided, "
          f"{fixed[2]} two-sided")
    print(f"{'drop':>5} {'direction':>9} {'seq p80':>8} {'seq mean':>9} {'found':>6} {'p80/1-sided':>12} "
          f"{'p80/2-sided':>12}")
    oracle = {}
    for delta in (0.02, 0.05, 0.10):
        for direction in ("drop", "any"):
            runs = trials(delta, args.churn, direction)
            calls = np.array([c if d == "changed" else np.inf for c, d in runs])
            found = np.isfinite(calls).mean()
            p80 = float(np.quantile(calls, POWER))
            mean = float(np.mean(np.where(np.isfinite(calls), calls, args.budget)))
            print(f"{delta:>5.0%} {direction:>9} {p80:>8.0f} {mean:>9.0f} {found:>6.0%} {p80 / fixed[1]:>11.2f}x "
                  f"{p80 / fixed[2]:>11.2f}x")
        jobs = [pool.submit(oracle_calls, seed, delta, args.churn, args.budget) for seed in seeds.spawn(args.trials)]
        oracle[delta] = float(np.quantile([np.inf if c is None else c for c in (j.result() for j in jobs)], POWER))
    print("oracle (a probability ratio test told the true flip ratio), p80: " + ", ".join(
        f"{delta:.0%} drop {calls:.0f} ({calls / fixed[1]:.2f}x one-sided)" for delta, calls in oracle.items()))
    print("false alarms (said 'changed' with accuracy unchanged), looking after every answer:")
    for churn in (0.02, 0.05, 0.10):
        for direction in ("drop", "any"):
            runs = trials(0.0, churn, direction)
            decisions = [d for _, d in runs]
            unchanged = [c for c, d in runs if d == "unchanged"]
            print(f"  churn {churn:.0%} each way, {direction:>4}: changed {decisions.count('changed') / len(runs):.1%}, "
                  f"unchanged {len(unchanged) / len(runs):.0%} (median {np.median(unchanged) if unchanged else 0:.0f} "
                  f"calls), undecided after {args.budget} {decisions.count(None) / len(runs):.0%}")
    print(f"({time.perf_counter() - started:.0f} s on {args.jobs} processes)")
    pool.shutdown()


if __name__ == "__main__":
    main()
