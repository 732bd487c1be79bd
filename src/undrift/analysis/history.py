"""The runs of one model name over time: a metric series per task, change points, and fingerprint changes.

A hosted model changes under its name, suddenly (a new snapshot) or slowly.  Each run is tested, sample by sample,
against the *baseline* of its regime: the first `window` runs since the series began or since the last change
point.  Testing against a fixed baseline rather than the run before catches a slow decline, which moves little from
one run to the next but adds up.

The test is online: the j-th test of a series is done at a level fixed in advance, alpha_j = alpha * spend(j), with
the shares summing to at most 1 (alpha-spending, the Bonferroni inequality over an open-ended series), and the
model's T task series share alpha (each has alpha / T).  So the chance that a model without any change shows a
change point anywhere is at most alpha, whatever the dependence between the tests (they share a baseline), as far
as each test holds its level: the paired-rate test of one ask per sample against one baseline run is checked by
enumeration; the t test used for means, repeats and wider baselines is approximate that far into its tail.  A
flag, once raised, never changes when later runs are appended (a run stored with an earlier time, such as an older
log imported later, changes the series after it).  A change point starts a new regime whose first runs are the new
baseline.  Each change is shown with its interval at the level its test was allowed, so the interval excludes zero
exactly when the run is flagged.

A change of the model's fingerprint (weights, adapter, options, served model, system_fingerprint) is marked
separately: the two together tell "the provider shipped a new model" from noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import UndriftError, option
from ..jsonable import jsonable
from ..store import ResultRow, RunRecord, Store
from .metrics import (
    HEADLINE_ORDER,
    METRICS,
    Metric,
    answered,
    by_sample,
    fingerprint_changes,
    latency_scope,
    sample_value,
)
from .stats import (
    PairedBinary,
    mean_interval,
    paired_mean_change,
    paired_rate_change,
    paired_rate_tests,
    rate_interval,
    wilson_interval,
)

ALPHA = 0.05
EVEN_TESTS = 50  # the first 50 tests of a series share 90% of alpha evenly; later ones share the rest


def spend(test: int) -> float:
    """The share of alpha the `test`-th test of a series (1, 2, ...) may spend; the shares sum to 1.

    A series of up to 50 tests spends alpha evenly (each test at alpha * 0.9 / 50), which keeps the early tests
    as sharp as a Bonferroni correction for 50 looks; a longer series goes on testing at levels that shrink like
    1/j² (0.1 * 50 / (j (j - 1)) sums to 0.1 over j > 50), so monitoring can continue for ever without the
    false-alarm bound ever being exceeded.
    """
    if test < 1:
        raise ValueError("tests are counted from 1")
    if test <= EVEN_TESTS:
        return 0.9 / EVEN_TESTS
    return 0.1 * EVEN_TESTS / (test * (test - 1))


@dataclass
class HistoryPoint:
    run_id: str
    created_at: datetime
    n: int
    value: float
    ci: tuple[float, float] | None
    baseline: list[str] = field(default_factory=list)  # the runs this one was tested against
    shared: int = 0  # samples shared with the baseline
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    p: float | None = None
    level: float | None = None  # the significance level this test was allowed (alpha-spending); delta_ci is at 1 - it
    change_point: bool = False
    fingerprint_changes: list[str] = field(default_factory=list)

    @property
    def tested(self) -> bool:
        return self.p is not None


@dataclass
class TaskHistory:
    task: str
    metric: str
    kind: str  # "rate" or "mean"
    points: list[HistoryPoint]
    note: str | None = None  # why the series is shown but not tested (latency shared by batches)


@dataclass
class ModelHistory:
    name: str
    window: int
    alpha: float
    tasks: list[TaskHistory]

    @property
    def decision(self) -> str:
        """"changed" when any series has a change point (either way: a rise is a change too), "unchanged" when
        every run after the first was tested without one, else "undecided" (too few runs, or runs that share no
        samples with their baseline)."""
        points = [p for t in self.tasks for p in t.points]
        if any(p.change_point for p in points):
            return "changed"
        later = [p for t in self.tasks for p in t.points[1:]]
        return "unchanged" if later and all(p.tested for p in later) else "undecided"

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"name": self.name, "window": self.window, "alpha": self.alpha, "decision": self.decision,
                         "tasks": {t.task: {"metric": t.metric, "kind": t.kind, "note": t.note,
                                            "points": [asdict(p) for p in t.points]} for t in self.tasks}})


def model_history(store: Store, name: str, metric: str | None = None, task: str | None = None,
                  window: int = 1, alpha: float = ALPHA) -> ModelHistory:
    """The series of `name`'s complete runs, oldest first, for `metric` (default: each task's headline)."""
    if metric is not None and metric not in METRICS:
        raise UndriftError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    if window < 1:
        raise UndriftError(f"{option('window')} must be 1 or more (got {window})")
    if not 0 < alpha < 1:
        raise UndriftError(f"{option('alpha')} must lie between 0 and 1 (got {alpha})")
    records = sorted((r for r in store.list_runs(name=name, limit=None) if r.status == "complete"),
                     key=lambda r: (r.created_at, r.id))
    if not records:
        raise UndriftError(f"no complete runs named {name!r}: "
                           "undrift.runs() and `undrift runs` list the names")
    samples = {r.id: _per_sample(store.results(r.id, task=task)) for r in records}
    tasks = list(dict.fromkeys(t for r in records for t in samples[r.id]))
    if task and not tasks:
        raise UndriftError(f"no run of {name!r} has task {task!r}")
    chosen = {t: metric or _headline(samples, t) for t in tasks}
    measured = {t: [(r, samples[r.id][t].get(m)) for r in records if t in samples[r.id]] for t, m in chosen.items() if m}
    measured = {t: [(r, values) for r, values in series if values] for t, series in measured.items()}
    measured = {t: series for t, series in measured.items() if series}
    histories = [_task_history(t, METRICS[chosen[t]], series, window, alpha / len(measured))
                 for t, series in measured.items()]
    if not histories:
        raise UndriftError(f"no run of {name!r} measures {metric!r}")
    return ModelHistory(name=name, window=window, alpha=alpha, tasks=histories)


SampleValues = dict[str, tuple[float, int]]  # sample id -> (value, answered repeats measuring it)


def _per_sample(rows: list[ResultRow]) -> dict[str, dict[str, SampleValues]]:
    """task -> metric -> sample id -> (the sample's value over its repeats, how many repeats measured it)."""
    out: dict[str, dict[str, SampleValues]] = {}
    for (task, sample_id), repeats in by_sample(rows).items():
        metrics = out.setdefault(task, {})
        for name, metric in METRICS.items():
            value = sample_value(metric, repeats)
            if value is not None:
                measured = sum(metric.read(r) is not None for r in answered(repeats))
                metrics.setdefault(name, {})[sample_id] = (value, measured)
    return out


def _headline(samples: dict, task: str) -> str | None:
    measured = {m for per_task in samples.values() for m in per_task.get(task, {})}
    return next((m for m in HEADLINE_ORDER if m in measured), None)


def _task_history(task: str, metric: Metric, series: list[tuple[RunRecord, SampleValues]], window: int,
                  alpha: float) -> TaskHistory:
    testable = metric.name != "latency" or all(latency_scope(r) == "request" for r, _ in series)
    points = [_point(record, values, metric) for record, values in series]
    for index in range(1, len(series)):
        points[index].fingerprint_changes = list(fingerprint_changes(series[index - 1][0].fingerprint,
                                                                     series[index][0].fingerprint))
    if testable:
        for point, step in zip(points[1:], change_points([v for _, v in series], metric.kind, window, alpha)):
            point.baseline = [series[i][0].id for i in step.baseline]
            point.shared, point.delta, point.delta_ci, point.p = step.shared, step.delta, step.delta_ci, step.p
            point.level, point.change_point = step.level, step.change_point
    note = None if testable else "latency of a local model is shared by the answers of a batch: shown, not tested"
    return TaskHistory(task, metric.name, metric.kind, points, note)


def _point(record: RunRecord, values: SampleValues, metric: Metric) -> HistoryPoint:
    numbers = [v for v, _ in values.values()]
    n = len(numbers)
    value = sum(numbers) / n
    if metric.kind == "rate" and all(count == 1 for _, count in values.values()):
        ci = wilson_interval(round(value * n), n)
    elif metric.kind == "rate":
        ci = rate_interval(numbers)  # clustered by sample: the sample's pass rate over its repeats is the unit
    else:
        ci = mean_interval(numbers)
    return HistoryPoint(record.id, record.created_at, n, value, ci)


@dataclass
class StepTest:
    """The test of one run (the second and later of a series) against the baseline of its regime."""

    baseline: list[int]  # positions in the series of the baseline's runs
    shared: int = 0
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    p: float | None = None
    level: float | None = None
    change_point: bool = False


def change_points(series: list[SampleValues], kind: str, window: int = 1, alpha: float = ALPHA) -> list[StepTest]:
    """Test runs 2, 3, ... of a series online; one result per run after the first.

    The j-th run that can be tested (it shares samples with its baseline) is tested at alpha * spend(j) and is a
    change point below it; the regime's baseline then restarts at that run.  Within a regime every test is known
    before it is made (its baseline is fixed), so a regime's tests run as one vectorised call; the result is the
    same as testing one run at a time.
    """
    steps: list[StepTest] = []
    start, tests = 0, 0
    while len(steps) < len(series) - 1:
        pending = [(index, list(range(start, min(index, start + window))))
                   for index in range(len(steps) + 1, len(series))]
        results = _tests(series, kind, pending, alpha, tests)
        restart = None
        for (index, _), step in zip(pending, results):
            if step.p is not None:
                tests += 1
                step.change_point = step.p < step.level
            steps.append(step)
            if step.change_point:
                restart = index
                break
        if restart is None:
            break
        start = restart
    return steps


def _tests(series: list[SampleValues], kind: str, pending: list[tuple[int, list[int]]], alpha: float,
           tests_before: int) -> list[StepTest]:
    """Paired tests of each pending run against its baseline on the samples they share (none: not tested), each at
    the level its place among the series' tests allows, with its interval at that level."""
    steps, tables = [], []
    for index, baseline in pending:
        current, reference_runs = series[index], [series[i] for i in baseline]
        shared = sorted(k for k in current if all(k in b for b in reference_runs))
        step = StepTest(baseline, len(shared))
        steps.append(step)
        if not shared:
            continue
        tests_before += 1
        step.level = alpha * spend(tests_before)
        reference = [sum(b[k][0] for b in reference_runs) / len(reference_runs) for k in shared]
        now = [current[k][0] for k in shared]
        single = all(current[k][1] == 1 and all(b[k][1] == 1 for b in reference_runs) for k in shared)
        if kind == "rate" and len(reference_runs) == 1 and single:
            tables.append((step, PairedBinary.of([v == 1.0 for v in reference], [v == 1.0 for v in now])))
            continue
        change = paired_rate_change if kind == "rate" else paired_mean_change
        result = change(reference, now, confidence=1 - step.level)
        step.delta, step.delta_ci, step.p = result.delta, result.ci, result.p
    confidence = np.array([1 - step.level for step, _ in tables])
    for (step, table), (interval, p) in zip(tables, paired_rate_tests([t for _, t in tables], confidence)):
        step.delta, step.delta_ci, step.p = table.delta, interval, p
    return steps

