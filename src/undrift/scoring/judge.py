"""LLM-as-judge: another model (any spec) grades the response against a rubric.

The judge is a model call, and only the runner calls models; so this scorer only *builds* the judge's request and
*reads* its verdict, and the runner sends the request with the same batching and caching as any other.
"""

from __future__ import annotations

import re

from ..models.base import Decoding, Request
from ..suites.schema import Sample
from .base import Score, register, targets

DEFAULT_RUBRIC = (
    "You are grading an answer.\n\nQuestion:\n{question}\n\nReference answer (may be empty):\n{target}\n\n"
    "Answer to grade:\n{response}\n\nIs the answer correct and helpful? Reply with a grade from 1 (bad) to 5 "
    "(excellent) in the form [[N]], then one sentence of reasons."
)


@register("judge")
class JudgeScorer:
    """`model` is the judge's spec; the verdict is the first `[[N]]` (scaled to 0..1), correct when N >= `pass_at`."""

    def __init__(self, model: str, rubric: str = DEFAULT_RUBRIC, scale: int = 5, pass_at: int = 4, max_tokens: int = 128):
        from ..models.base import ModelSpec

        self.model = str(ModelSpec.parse(model))
        self.rubric, self.scale, self.pass_at = rubric, int(scale), int(pass_at)
        self.decoding = Decoding(max_tokens=int(max_tokens))

    def judge_request(self, sample: Sample, response: str) -> Request:
        question = "\n".join(m["content"] for m in sample.messages if m["role"] == "user")
        prompt = self.rubric.format(question=question, target=" / ".join(targets(sample)), response=response)
        return Request.chat([{"role": "user", "content": prompt}], self.decoding)

    def score_with_verdict(self, sample: Sample, response: str, verdict: str) -> Score:
        match = re.search(r"\[\[\s*(\d+)\s*\]\]", verdict) or re.search(r"\b([1-9])\b", verdict)
        grade = int(match.group(1)) if match else None
        if grade is None or not 1 <= grade <= self.scale:
            return Score(0.0, False, None, {"judge": verdict[:500], "grade": None})
        value = (grade - 1) / (self.scale - 1) if self.scale > 1 else float(grade)
        return Score(value, grade >= self.pass_at, str(grade), {"judge": verdict[:500], "grade": grade})

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        raise RuntimeError("the judge scorer is applied by the runner, which sends the judge's request")
