"""The runs of one model name over time: a metric series per task, change points, and fingerprint changes.

A hosted model changes under its name.  Each run is tested against the window of runs before it on the samples
they share (a paired test, as in a comparison); a step whose Benjamini-Hochberg adjusted p-value is below 0.05 is
flagged as a change point.  A change of the model's fingerprint (weights, adapter, options, served model,
system_fingerprint) is marked separately: the two together tell "the provider shipped a new model" from noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import UndriftError
from ..store import RunRecord, Store
from .compare import HEADLINE_ORDER, MEAN_METRICS, RATE_METRICS, SIGNIFICANCE
from .stats import PairedBinary, benjamini_hochberg, paired_continuous, wilson_interval


@dataclass
class HistoryPoint:
    run_id: str
    created_at: datetime
    n: int
    value: float
    ci: tuple[float, float] | None
    shared: int = 0  # samples shared with the window before it
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    p: float | None = None
    p_adjusted: float | None = None
    change_point: bool = False
    fingerprint_changes: list[str] = field(default_factory=list)


@dataclass
class TaskHistory:
    task: str
    metric: str
    kind: str  # "rate" or "mean"
    points: list[HistoryPoint]


@dataclass
class History:
    name: str
    window: int
    tasks: list[TaskHistory]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "window": self.window,
                "tasks": {t.task: {"metric": t.metric, "kind": t.kind, "points": [asdict(p) for p in t.points]}
                          for t in self.tasks}}


def model_history(store: Store, name: str, metric: str | None = None, task: str | None = None,
                  window: int = 1) -> History:
    """The series of `name`'s complete runs, oldest first, for `metric` (default: each task's headline)."""
    if metric is not None and metric not in RATE_METRICS and metric not in MEAN_METRICS:
        raise UndriftError(f"unknown metric {metric!r}: choose one of {', '.join([*RATE_METRICS, *MEAN_METRICS])}")
    if window < 1:
        raise UndriftError(f"--window must be 1 or more (got {window})")
    records = sorted((r for r in store.list_runs(name=name, limit=100_000) if r.status == "complete"),
                     key=lambda r: (r.created_at, r.id))
    if not records:
        raise UndriftError(f"no complete runs named {name!r}: `undrift runs` lists the names")
    values = {r.id: _per_sample(store.results(r.id, task=task)) for r in records}
    tasks = list(dict.fromkeys(t for r in records for t in values[r.id]))
    if task and not tasks:
        raise UndriftError(f"no run of {name!r} has task {task!r}")
    histories = []
    for task_name in tasks:
        chosen = metric or _headline(values, task_name)
        if chosen is None:
            continue
        series = [(r, values[r.id][task_name].get(chosen)) for r in records if task_name in values[r.id]]
        series = [(r, s) for r, s in series if s]
        if series:
            histories.append(_task_history(task_name, chosen, series, window))
    if not histories:
        raise UndriftError(f"no run of {name!r} measures {metric!r}")
    return History(name=name, window=window, tasks=histories)


def _per_sample(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """task -> metric -> sample id -> value (repeat 0 only)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in rows:
        if row["repeat"] != 0:
            continue
        metrics = out.setdefault(row["task"], {})
        for name, (_, read) in RATE_METRICS.items():
            value = read(row)
            if value is not None:
                metrics.setdefault(name, {})[row["sample_id"]] = float(value)
        for name, (_, read) in MEAN_METRICS.items():
            metrics.setdefault(name, {})[row["sample_id"]] = read(row)
    return out


def _headline(values: dict, task: str) -> str | None:
    measured = {m for per_task in values.values() for m in per_task.get(task, {})}
    return next((m for m in HEADLINE_ORDER if m in measured), None)


def _task_history(task: str, metric: str, series: list[tuple[RunRecord, dict[str, float]]],
                  window: int) -> TaskHistory:
    kind = "rate" if metric in RATE_METRICS else "mean"
    points = []
    for index, (record, samples) in enumerate(series):
        n = len(samples)
        value = sum(samples.values()) / n
        ci = wilson_interval(int(round(value * n)), n) if kind == "rate" else None
        point = HistoryPoint(record.id, record.created_at, n, value, ci)
        if index:
            previous = series[max(0, index - window):index]
            _test_step(point, samples, [s for _, s in previous], kind)
            point.fingerprint_changes = _fingerprint_changes(series[index - 1][0].fingerprint, record.fingerprint)
        points.append(point)
    tested = [p for p in points if p.p is not None]
    for point, adjusted in zip(tested, benjamini_hochberg([p.p for p in tested])):
        point.p_adjusted = adjusted
        point.change_point = adjusted < SIGNIFICANCE
    return TaskHistory(task, metric, kind, points)


def _test_step(point: HistoryPoint, current: dict[str, float], window: list[dict[str, float]], kind: str) -> None:
    """Paired test of this run against the mean of the window's runs, sample by sample."""
    shared = sorted(k for k in current if any(k in w for w in window))
    point.shared = len(shared)
    if not shared:
        return
    reference = np.array([np.mean([w[k] for w in window if k in w]) for k in shared])
    now = np.array([current[k] for k in shared])
    if kind == "rate" and np.isin(reference, (0.0, 1.0)).all():
        table = PairedBinary.of(reference.astype(bool), now.astype(bool))
        point.delta, point.delta_ci, point.p = table.delta, table.delta_interval(), table.mcnemar_p()
    else:
        result = paired_continuous(reference, now)
        point.delta, point.delta_ci, point.p = result.delta, result.ci, result.p


def _fingerprint_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The fingerprint fields that differ between two runs (weights, adapter, options, served model...)."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
