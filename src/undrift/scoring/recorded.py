"""Verdicts recorded outside undrift: a human label or an online judge's result that came with imported data.

Some outcomes cannot be recomputed here: whether a human rater judged an answer as a direct response (the LLMDrift
sensitive questions) or whether LeetCode's judge accepted a submission.  The importer puts such a verdict in the
sample's data under `field`; this scorer turns it into the score, so the comparison treats it like any other.
"""

from __future__ import annotations

from ..suites.schema import Sample
from .base import Score


class RecordedScorer:
    """`value` is the recorded number; with `verdict: true` it is also right/wrong; `detail` names it in details."""

    def __init__(self, field: str, verdict: bool = False, detail: str | None = None,
                 labels: tuple[str, str] = ("no", "yes")):
        self.field, self.verdict, self.detail, self.labels = field, bool(verdict), detail, tuple(labels)

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        raw = sample.data.get(self.field)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"sample {sample.id!r} has no number in {self.field!r} (found {raw!r})") from None
        flag = value >= 0.5
        details = {self.detail: flag} if self.detail else {}
        return Score(value, flag if self.verdict else None, self.labels[int(flag)], details)
