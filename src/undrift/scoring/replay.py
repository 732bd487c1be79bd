"""Agreement with a recorded answer: how a replayed request's new answer relates to the one served at the time.

Traffic has no ground truth, so the recorded answer is the target and the score is a similarity to it (ROUGE-L or
token F1, from `similarity`), with no right/wrong verdict: `compare --tolerance T` counts a flip where the similarity
falls more than T, and the recorded side scores 1 against itself.  The details also say whether the answer refused
(`answered`, the refusal detector) and, where the request asked for JSON or the recorded answer was JSON, whether
the answer is valid JSON (`json_valid`), so compare shows refusal and format changes as paired rates.

With `judge: SPEC` a second model is asked which of the two answers is better, twice with the positions swapped; its
preference (`candidate`, `recorded` or `tie`) goes into the details.  A judge is a model with its own biases (length,
style, its own family's wording), not ground truth.
"""

from __future__ import annotations

from ..models.base import Decoding, ModelSpec
from ..suites.schema import Sample
from .base import Score, targets
from .formats import parse_json_response
from .judge import pairwise_requests, pairwise_verdict
from .refusal import is_refusal
from .similarity import METRICS


class ReplayScorer:
    """Similarity to the recorded answer (`metric`: rouge_l or f1) as the value, no verdict; refusal and JSON details;
    an optional pairwise `judge`."""

    def __init__(self, metric: str = "rouge_l", judge: str | None = None, judge_max_tokens: int = 64):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use {', '.join(METRICS)}")
        self.metric = metric
        self.judge_model = str(ModelSpec.parse(judge)) if judge else None
        self.judge_decoding = Decoding(max_tokens=int(judge_max_tokens))

    def sample_problem(self, sample: Sample) -> str | None:
        if not targets(sample):
            return "has no `target`: a replayed sample's target is the recorded answer"
        return None

    def score(self, sample: Sample, response: str, variants: list[str]) -> Score:
        recorded = targets(sample)[0] if targets(sample) else ""
        value = METRICS[self.metric](response, recorded)
        details: dict = {self.metric: value, "answered": not is_refusal(response)}
        if sample.data.get("json") or _is_json(recorded):
            details["json_valid"] = _is_json(response)
        return Score(value, None, None, details)

    def judge_requests(self, sample: Sample, response: str):
        return pairwise_requests(sample, targets(sample)[0], response, self.judge_decoding)

    def score_with_verdicts(self, sample: Sample, response: str, verdicts: list[str | None]) -> Score:
        score = self.score(sample, response, [])
        preference = pairwise_verdict(verdicts, "recorded", "candidate")
        score.details["judge"] = preference
        score.details["judge_verdicts"] = [(v or "")[:300] for v in verdicts]
        return score


def _is_json(text: str) -> bool:
    """A JSON object or array (a ```json fence allowed): what a request for JSON wants; a bare number is just text."""
    return isinstance(parse_json_response(text)[0], (dict, list))
