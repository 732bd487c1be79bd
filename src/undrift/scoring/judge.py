"""LLM-as-judge: another model (any spec) grades the response against a rubric.

The judge is a model call, and only the runner calls models; so this scorer only *builds* the judge's request and
*reads* its verdict, and the runner sends the request with the same batching and caching as any other.
"""

from __future__ import annotations

import re

from ..models.base import Decoding, Request
from ..suites.schema import Sample
from .base import Score, targets

DEFAULT_RUBRIC = (
    "You are grading an answer.\n\nQuestion:\n{question}\n\nReference answer (may be empty):\n{target}\n\n"
    "Answer to grade:\n{response}\n\nIs the answer correct and helpful? Reply with a grade from 1 (bad) to 5 "
    "(excellent) in the form [[N]], then one sentence of reasons."
)
REFERENCE_RUBRIC = (
    "You are checking an answer against a reference answer.\n\nQuestion:\n{question}\n\nReference answer:\n{target}"
    "\n\nAnswer to check:\n{response}\n\nDoes the answer agree with the reference on every key fact (numbers, dates, "
    "names, decisions)? An answer that contradicts or leaves out a key fact of the reference fails, however fluent "
    "it is; other wording, and extra detail that does not contradict the reference, do not matter. Grade it in the "
    "form [[N]]: [[5]] agrees on every key fact, [[4]] agrees on every key fact but is unclear, [[2]] leaves out a key "
    "fact, [[1]] contradicts a key fact; then write one sentence naming the fact that decided it."
)


class JudgeScorer:
    """`model` is the judge's spec; the verdict is the first `[[N]]` (scaled to 0..1), correct when N >= `pass_at`.

    `reference: true` grades against the sample's target with `REFERENCE_RUBRIC` (a contradicted or missing key fact
    fails), so every sample needs a target; the default rubric only shows the target as a hint.
    """

    def __init__(self, model: str, rubric: str | None = None, scale: int = 5, pass_at: int = 4, max_tokens: int = 128,
                 reference: bool = False):
        from ..models.base import ModelSpec

        self.model = str(ModelSpec.parse(model))
        self.reference = bool(reference)
        self.rubric = rubric or (REFERENCE_RUBRIC if self.reference else DEFAULT_RUBRIC)
        self.scale, self.pass_at = int(scale), int(pass_at)
        self.decoding = Decoding(max_tokens=int(max_tokens))

    def sample_problem(self, sample: Sample) -> str | None:
        if self.reference and not targets(sample):
            return ("has no `target`, which a reference-guided judge needs (`reference: true`): "
                    "add the reference answer or drop `reference: true`")
        return None

    @property
    def judge_model(self) -> str:
        """The judge's spec: the runner sends `judge_requests` to it and hands the verdicts to `score_with_verdicts`."""
        return self.model

    def judge_requests(self, sample: Sample, response: str) -> list[Request]:
        return [self.judge_request(sample, response)]

    def score_with_verdicts(self, sample: Sample, response: str, verdicts: list[str | None]) -> Score:
        return self.score_with_verdict(sample, response, verdicts[0] or "")

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


# -- pairwise: which of two answers is better (replay: the recorded answer against a candidate's) -----------------

PAIRWISE_RUBRIC = (
    "You are comparing two answers to the same conversation.\n\nConversation:\n{conversation}\n\nAnswer A:\n{a}"
    "\n\nAnswer B:\n{b}\n\nWhich answer is better: more correct, more helpful, closer to what was asked? Reply with "
    "[[A]], [[B]] or [[tie]], then one sentence of reasons."
)
_PREFERENCE = re.compile(r"\[\[\s*(A|B|tie)\s*\]\]", re.IGNORECASE)


def pairwise_requests(sample: Sample, first: str, second: str, decoding: Decoding) -> list[Request]:
    """Two asks of the judge with the answers in both orders (first as A, then second as A), so that a judge that
    favours a position cancels out."""
    conversation = "\n".join(f"{m['role']}: {m['content']}" for m in sample.messages)
    return [Request.chat([{"role": "user", "content": PAIRWISE_RUBRIC.format(conversation=conversation, a=a, b=b)}],
                         decoding) for a, b in ((first, second), (second, first))]


def pairwise_verdict(verdicts: list[str | None], first: str, second: str) -> str | None:
    """`first`, `second` or "tie" from the two position-swapped verdicts: where the asks disagree it is a tie; None
    where the judge gave no readable verdict (or its request failed) in either ask."""
    picks = []
    for verdict, (a, b) in zip(verdicts, ((first, second), (second, first))):
        match = _PREFERENCE.search(verdict or "")
        if match is None:
            return None
        picks.append({"a": a, "b": b}.get(match.group(1).lower(), "tie"))
    return picks[0] if picks[0] == picks[1] else "tie"
