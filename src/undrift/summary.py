"""Per-task summaries of a stored run: what `undrift run` and `undrift show` print.

Rates carry 95% Wilson intervals, so a reader can tell a real difference from noise.  Rows that hold an error are
not answers: they are counted in `errors` and enter no metric (`n` counts the answers; a task with none has no
score, not a score of 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import mean
from typing import Any

from .analysis.metrics import SUMMARY_RATES
from .analysis.stats import wilson_interval
from .jsonable import jsonable
from .store.rows import ResultRow


@dataclass
class TaskSummary:
    task: str
    n: int
    score: float | None
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    rates: dict[str, float] = field(default_factory=dict)
    verbosity_chars: float | None = None
    tokens_out: float | None = None
    latency_s: float | None = None
    cached: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def summarise(rows: list[ResultRow]) -> list[TaskSummary]:
    by_task: dict[str, list[ResultRow]] = {}
    for row in rows:
        by_task.setdefault(row.task, []).append(row)
    return [_summarise_task(task, task_rows) for task, task_rows in by_task.items()]


def _summarise_task(task: str, all_rows: list[ResultRow]) -> TaskSummary:
    rows = [row for row in all_rows if row.answered]
    verdicts = [row.correct for row in rows if row.correct is not None]
    accuracy = sum(verdicts) / len(verdicts) if verdicts else None
    rates = {}
    for key in SUMMARY_RATES:
        flags = [bool(row.details[key]) for row in rows if key in (row.details or {})]
        if flags:
            rates[key] = sum(flags) / len(flags)
    return TaskSummary(
        task=task,
        n=len(rows),
        score=_mean(row.value for row in rows),
        accuracy=accuracy,
        accuracy_ci=wilson_interval(sum(verdicts), len(verdicts)) if verdicts else None,
        rates=rates,
        verbosity_chars=_mean(len(row.response) for row in rows),
        tokens_out=_mean(row.tokens_out for row in rows),
        latency_s=_mean(row.latency_s for row in rows),
        cached=sum(bool(row.cached) for row in rows),
        errors=len(all_rows) - len(rows),
    )


def _mean(values) -> float | None:
    values = list(values)
    return mean(values) if values else None
