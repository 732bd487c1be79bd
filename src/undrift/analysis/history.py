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
from ..store import RunRecord, Store
from .metrics import (
    HEADLINE_ORDER,
    METRICS,
    Metric,
    fingerprint_changes,
    latency_scope,
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
    slice: str | None = None  # only the samples tagged with this slice were measured
    slices: list[str] = field(default_factory=list)  # the slice tags of the newest run's samples, to choose from

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
                         "slice": self.slice, "slices": self.slices,
                         "tasks": {t.task: {"metric": t.metric, "kind": t.kind, "note": t.note,
                                            "points": [asdict(p) for p in t.points]} for t in self.tasks}})


def model_history(store: Store, name: str, metric: str | None = None, task: str | None = None,
                  window: int = 1, alpha: float = ALPHA, slice: str | None = None) -> ModelHistory:
    """The series of `name`'s complete runs, oldest first, for `metric` (default: each task's headline); `slice`:
    only the samples tagged with it (a run's own tags: a sample moved between slices counts where it was)."""
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
    readings = _Readings(store, [r.id for r in records], task, METRICS[metric or HEADLINE_ORDER[0]], slice)
    tasks = readings.tasks
    if task and not tasks:
        raise UndriftError(f"no run of {name!r} has task {task!r}")
    if slice is not None and not tasks:
        known = ", ".join(readings.slices) or "none: its samples carry no slice tags"
        raise UndriftError(f"no sample of {name!r}{f' in task {task!r}' if task else ''} is tagged with slice "
                           f"{slice!r}: its slices are {known}")
    chosen = {t: metric for t in tasks} if metric else readings.headlines()
    values = {t: readings.values(METRICS[m], t) for t, m in chosen.items() if m}
    measured = {t: [(r, values[t][r.id]) for r in records if values[t].get(r.id)] for t in values}
    measured = {t: series for t, series in measured.items() if series}
    histories = [_task_history(t, METRICS[chosen[t]], series, window, alpha / len(measured))
                 for t, series in measured.items()]
    if not histories:
        raise UndriftError(f"no run of {name!r} measures {metric!r}")
    return ModelHistory(name=name, window=window, alpha=alpha, tasks=histories, slice=slice, slices=readings.slices)


SampleValues = dict[str, tuple[float, int]]  # sample id -> (value, answered repeats measuring it)


class _Readings:
    """The sample values of a name's runs, read from the store a metric at a time: only the columns the metric looks
    at (`Metric.reads`), every run in one query.

    A sample's value is `analysis.metrics.sample_value` of its repeats, worked out here over those columns: the mean
    of the metric over its answered repeats (in repeat order), and how many measured it."""

    def __init__(self, store: Store, run_ids: list[str], task: str | None, first: Metric,
                 slice: str | None = None) -> None:
        """`run_ids` oldest first; `task`: only that task; `first`: the metric read first, for every task;
        `slice`: only the rows tagged with it."""
        self.store, self.run_ids, self.slice = store, run_ids, slice
        self._values: dict[tuple[str, str], dict[str, SampleValues]] = {}  # (metric, task) -> run id -> values
        present = self._read(first, [task] if task else None)
        order = {run_id: i for i, run_id in enumerate(run_ids)}
        # The tasks of the oldest run first, then those that came later, each run's in the store's order.
        self.tasks = list(dict.fromkeys(t for _, t in sorted(present, key=lambda k: order[k[0]])))

    @property
    def slices(self) -> list[str]:
        """The slice tags of the newest run's samples, to choose from (one run's rows: cheap beside a history)."""
        found = self.store.result_columns(self.run_ids[-1:], ["slices"])["slices"]
        return sorted({tag for tags in found for tag in tags or ()})

    def values(self, metric: Metric, task: str) -> dict[str, SampleValues]:
        """run id -> the task's sample values for `metric`, for each run that measures it there."""
        if (metric.name, task) not in self._values:
            self._read(metric, [task])
        return self._values[(metric.name, task)]

    def headlines(self) -> dict[str, str | None]:
        """Each task's headline metric: the first of `HEADLINE_ORDER` that some run measures on it (None: none).
        Each metric is read only for the tasks still without one."""
        chosen: dict[str, str | None] = {t: None for t in self.tasks}
        for name in HEADLINE_ORDER:
            open_tasks = [t for t, m in chosen.items() if m is None]
            if not open_tasks:
                break
            if any((name, t) not in self._values for t in open_tasks):
                self._read(METRICS[name], open_tasks)
            for t in open_tasks:
                if any(self._values[(name, t)].values()):
                    chosen[t] = name
        return chosen

    def _read(self, metric: Metric, tasks: list[str] | None) -> list[tuple[str, str]]:
        """Read `metric`'s columns for `tasks` (None: all) and keep each task's sample values; the (run id, task)
        pairs that have rows, errors included."""
        if self.slice is None:
            found = self.store.result_columns(self.run_ids, metric.reads, tasks)
        else:
            found = self.store.result_columns(self.run_ids, [*metric.reads, "slices"], tasks)
            keep = [self.slice in (tags or ()) for tags in found.pop("slices")]
            found = {column: [v for v, kept in zip(values, keep) if kept] for column, values in found.items()}
        present = _sample_values(found, metric)
        for task in tasks if tasks is not None else {t for _, t in present}:
            self._values[(metric.name, task)] = {}
        for (run_id, task), samples in present.items():
            self._values[(metric.name, task)][run_id] = samples
        return list(present)


def _sample_values(found: dict[str, list], metric: Metric) -> dict[tuple[str, str], SampleValues]:
    """(run id, task) -> each sample's value for `metric` over its answered repeats that measure it, and how many
    did, from the columns `Store.result_columns` gives (rows sorted by run, task, sample and repeat).

    The same numbers as `metrics.sample_value` over `ResultRow`s, to the last bit: `metric.read` decides each row
    (once per distinct set of the values it reads: it looks at nothing else, and reads equal values alike), and a
    sample's values are added in repeat order, from 0, one repeat position at a time for all samples at once: for
    one or two values exactly what `sum` gives."""
    if not found["run_id"]:
        return {}
    run_ids, tasks, samples = (np.array(found[c], dtype=object) for c in ("run_id", "task", "sample_id"))
    read, columns = metric.column_reader(), [found[c] for c in metric.reads]
    if len(columns) == 1:  # the values themselves are the keys: no tuple a row
        keys, readings = columns[0], {value: read((value,)) for value in set(columns[0])}
    else:
        keys = list(zip(*columns))
        readings = {values: read(values) for values in set(keys)}
    measured = np.fromiter(map({k: v is not None for k, v in readings.items()}.__getitem__, keys), bool, len(keys))
    measured &= np.array(found["answered"], dtype=bool)
    numbers = {k: 0.0 if v is None else float(v) for k, v in readings.items()}
    numbers = np.fromiter(map(numbers.__getitem__, keys), float, len(keys))[measured]
    new_task = np.ones(len(keys), dtype=bool)
    new_task[1:] = (run_ids[1:] != run_ids[:-1]) | (tasks[1:] != tasks[:-1])
    new_sample = new_task.copy()
    new_sample[1:] |= samples[1:] != samples[:-1]
    group = np.cumsum(new_sample) - 1  # the sample each row belongs to
    firsts = np.flatnonzero(new_sample)
    position = np.arange(len(keys)) - firsts[group]  # its place among the sample's repeats
    sums, counts = np.zeros(len(firsts)), np.zeros(len(firsts), dtype=int)
    at, rows_measured = group[measured], position[measured]
    for place in range(int(rows_measured.max(initial=-1)) + 1):
        these = rows_measured == place  # at most one row of each sample
        sums[at[these]] += numbers[these]
        counts[at[these]] += 1
    # Three values or more: `sum` itself, which compensates its rounding from Python 3.12 on.
    for sample in np.flatnonzero(counts >= 3):
        low, high = np.searchsorted(at, [sample, sample + 1])
        sums[sample] = sum(numbers[low:high].tolist())
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    out: dict[tuple[str, str], SampleValues] = {}
    bounds = [*np.flatnonzero(new_task[firsts]).tolist(), len(firsts)]  # each (run, task)'s samples
    names, means, counts = samples[firsts].tolist(), means.tolist(), counts.tolist()
    for begin, end in zip(bounds[:-1], bounds[1:]):
        first = firsts[begin]
        out[(run_ids[first], tasks[first])] = {names[i]: (means[i], counts[i]) for i in range(begin, end) if counts[i]}
    return out


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
    if metric.kind == "rate" and [count for _, count in values.values()].count(1) == n:  # each sample asked once
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
        shared = sorted(set(current).intersection(*reference_runs))
        step = StepTest(baseline, len(shared))
        steps.append(step)
        if not shared:
            continue
        tests_before += 1
        step.level = alpha * spend(tests_before)
        picked = [[b[k] for k in shared] for b in reference_runs]
        columns = [[v for v, _ in run] for run in picked]
        if len(columns) == 1:  # one baseline run (the default window): `sum` of one value is 0 + it
            reference = [0 + v for v in columns[0]]
        else:
            reference = [sum(values) / len(columns) for values in zip(*columns)]
        now_picked = [current[k] for k in shared]
        now = [v for v, _ in now_picked]
        counts = [c for _, c in now_picked] + [c for run in picked for _, c in run]
        single = counts.count(1) == len(counts)  # every sample asked once, on both sides
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

