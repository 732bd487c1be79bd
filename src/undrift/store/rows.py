"""One stored result: a (task, sample, repeat) of a run, as every analysis, report and check reads it.

The fields are the columns of `schema.results`.  A row holds either an answer or an error (a failed request): an
error is never an answer, so it has no outcome and enters no metric.  `outcome` is the one definition of what an
answer counts for, used by compare, check, history, forgetting and the training sweep alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..jsonable import jsonable


@dataclass(frozen=True)
class ResultRow:
    """One stored result of a run (`Store.results`, `undrift.show(..., samples=N).samples`)."""

    id: int
    run_id: str
    task: str
    sample_id: str
    repeat: int
    slices: list[str]
    messages: list[dict[str, Any]]
    target: Any
    response: str
    variants: list[str]  # the other responses of a task that asks several times (consistency scorers)
    extracted: str | None  # the answer the scorer read out of the response, if it extracts one
    value: float  # the scorer's number: 1/0 for a verdict, a fraction, a similarity; 0 for an error
    correct: bool | None  # the verdict, where the scorer gives one
    details: dict[str, Any]
    latency_s: float
    tokens_in: int
    tokens_out: int
    finish_reason: str
    system_fingerprint: str | None
    cache_key: str | None
    cached: bool  # served from the response cache: no request was made
    error: str | None  # why there is no answer; then the row is no evidence either way
    created_at: datetime

    @property
    def answered(self) -> bool:
        """Whether the row holds an answer (an errored request holds none)."""
        return self.error is None

    @property
    def outcome(self) -> float | None:
        """What the answer counts for: 1 or 0 where the scorer gives a verdict, else its score; None for an error.

        A sample asked several times counts for the mean of its repeats' outcomes, verdicts first
        (`analysis.metrics.mean_outcome`)."""
        if self.error is not None:
            return None
        if self.correct is not None:
            return float(self.correct)
        return float(self.value)

    def to_dict(self) -> dict[str, Any]:
        """The row as `undrift show --json --samples N` prints it: every column, times in ISO 8601."""
        return jsonable(asdict(self))


__all__ = ["ResultRow"]
