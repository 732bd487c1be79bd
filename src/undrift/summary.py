"""Per-task summaries of a stored run: what `undrift run` and `undrift show` print.

Rates carry 95% Wilson intervals, so a reader can tell a real difference from noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import mean
from typing import Any

from .analysis.stats import wilson_interval

RATE_DETAILS = ("answered", "responded", "executable")


@dataclass
class TaskSummary:
    task: str
    n: int
    score: float
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    rates: dict[str, float] = field(default_factory=dict)
    verbosity_chars: float = 0.0
    tokens_out: float = 0.0
    latency_s: float = 0.0
    cached: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(rows: list[dict[str, Any]]) -> list[TaskSummary]:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    return [_summarise_task(task, task_rows) for task, task_rows in by_task.items()]


def _summarise_task(task: str, rows: list[dict[str, Any]]) -> TaskSummary:
    verdicts = [row["correct"] for row in rows if row["correct"] is not None]
    accuracy = sum(verdicts) / len(verdicts) if verdicts else None
    rates = {}
    for key in RATE_DETAILS:
        flags = [bool(row["details"][key]) for row in rows if key in (row["details"] or {})]
        if flags:
            rates[key] = sum(flags) / len(flags)
    return TaskSummary(
        task=task,
        n=len(rows),
        score=mean(row["value"] for row in rows),
        accuracy=accuracy,
        accuracy_ci=wilson_interval(sum(verdicts), len(verdicts)) if verdicts else None,
        rates=rates,
        verbosity_chars=mean(len(row["response"]) for row in rows),
        tokens_out=mean(row["tokens_out"] for row in rows),
        latency_s=mean(row["latency_s"] for row in rows),
        cached=sum(bool(row["cached"]) for row in rows),
        errors=sum(row["error"] is not None for row in rows),
    )
