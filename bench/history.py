"""Calibration of `undrift history`'s change points on simulated 50-run series: false flags and detection delays.

Each series follows one model on a fixed suite of n samples: 70% accuracy, and between any two runs 2% of samples
flip each way (8% of samples are a coin flip: nondeterminism).  Three kinds of series:

- no change: any change point is a false flag; the method promises at most alpha (5%) of such series with one;
- a step: 8 points lost at run 25 (the provider ships a worse snapshot);
- a slow decline: 1 point lost per run from run 10 on.

Printed per suite size: the share of unchanged series with a false flag, and for the other two the runs from the
change to the first flag (0 = flagged at the run where it happened) at the 50th, 80th and 90th percentiles, and the
share never flagged within the series.

    .venv/bin/python bench/history.py [--series 1000] [--sizes 200,500]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from undrift.analysis.history import change_points

RUNS, STEP_AT, DECLINE_FROM = 50, 25, 10


def simulate(seed: np.random.SeedSequence, n: int, kind: str) -> int | None:
    """Runs from the change to the first flag (for "none": the run of the first false flag), or None."""
    rng = np.random.default_rng(seed)
    coin = rng.random(n) < 0.08
    right = ~coin & (rng.random(n) < 0.66 / 0.92)
    chance = np.where(coin, 0.5, right.astype(float))
    doomed = rng.permutation(np.flatnonzero(right))
    series = []
    for run in range(RUNS):
        lost = {"none": 0, "step": round(0.08 * n) if run >= STEP_AT else 0,
                "decline": round(0.01 * n * (run - DECLINE_FROM + 1)) if run >= DECLINE_FROM else 0}[kind]
        now = chance.copy()
        now[doomed[:lost]] = 0.0
        outcome = rng.random(n) < now
        series.append({f"s{i}": (float(outcome[i]), 1) for i in range(n)})
    flagged = next((i + 1 for i, step in enumerate(change_points(series, "rate")) if step.change_point), None)
    start = {"none": 0, "step": STEP_AT, "decline": DECLINE_FROM}[kind]
    return None if flagged is None else flagged - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--sizes", default="200,500", help="samples per run, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    seeds = np.random.SeedSequence(args.seed)
    started = time.perf_counter()
    print(f"{RUNS}-run series, 70% accuracy, 2% of samples flipping each way between runs, alpha 0.05, "
          f"{args.series} series each")
    with ProcessPoolExecutor(args.jobs) as pool:
        for n in (int(x) for x in args.sizes.split(",")):
            results = {}
            for kind in ("none", "step", "decline"):
                jobs = [pool.submit(simulate, seed, n, kind) for seed in seeds.spawn(args.series)]
                results[kind] = [job.result() for job in jobs]
            false = np.mean([r is not None for r in results["none"]])
            print(f"n = {n}: series without change with a false change point: {false:.1%}")
            for kind, what in (("step", "8-point step at run 25"), ("decline", "1 point per run from run 10")):
                delays = np.array([np.inf if r is None else r for r in results[kind]], dtype=float)
                early = np.mean(delays < 0)
                quantiles = np.quantile(delays, [0.5, 0.8, 0.9])
                print(f"  {what}: runs to the first flag p50 {quantiles[0]:.0f}, p80 {quantiles[1]:.0f}, "
                      f"p90 {quantiles[2]:.0f}; never flagged {np.mean(np.isinf(delays)):.1%}; flagged before the "
                      f"change {early:.1%}")
    print(f"({time.perf_counter() - started:.0f} s on {args.jobs} processes)")


if __name__ == "__main__":
    main()
