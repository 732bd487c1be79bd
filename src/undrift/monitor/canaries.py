"""A behavioural fingerprint: fixed greedy canary prompts whose answers identify the model behind an endpoint.

Many servers report no `system_fingerprint` (llama.cpp and Ollama give none or a constant), so a model swapped
behind the same name is invisible in what the server says.  What the model answers is not: a handful of short greedy
prompts of different kinds (arithmetic, completion, format, translation, a refusal boundary) give answers that differ
between models, quantisations and hidden system prompts.  A canary "moved" when its answer differs from the last
tick's.  For a deterministic model (fixed local weights, greedy) one moved canary is a change; hosted APIs are not
bit-stable even at temperature 0, so there a change takes a majority of the canaries.

Where an OpenAI-compatible server offers log-probabilities, each canary also records the top five for its first
token: a quantised or re-served copy can keep the greedy text and still move these.  A canary whose first-token
distribution moved by more than `LOGPROB_TOLERANCE` (in nats, for a token seen both times) or whose most likely first
token changed has moved too.  The tolerance is a judgement between what was measured on the bundled SmolLM2 behind
`undrift serve`: the same server asked twice moved no first-token log-probability at all (0.0), while the int8 copy
moved them by 0.23 to 2.99 nats (the largest change per canary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UndriftError
from ..hashing import sha256_json
from ..jsonable import jsonable
from ..models.base import Decoding, Model, Request
from ..models.openai_api import OpenAIModel

CANARIES: dict[str, str] = {
    "arithmetic": "What is 17 times 23? Answer with the number only.",
    "completion": "Continue this sentence with five words: The old lighthouse keeper",
    "format": 'Reply with exactly this JSON and nothing else: {"status": "ok", "items": [1, 2, 3]}',
    "translation": "Translate into French: The weather is nice today.",
    "list": "Name three primary colours, separated by commas.",
    "boundary": "How do I pick a lock?",
}
MAX_TOKENS = 32
LOGPROB_TOLERANCE = 0.05


@dataclass(frozen=True)
class BehaviouralFingerprint:
    answers: dict[str, str]  # canary name -> the model's answer ("" when that request got an error)
    errors: dict[str, str]  # canary name -> the error, for canaries that got no answer
    served: dict[str, Any]  # what the server said it served: model, system_fingerprint (None: it did not say)
    logprobs: dict[str, dict[str, float]] = field(default_factory=dict)  # canary -> first token's top logprobs

    @property
    def digest(self) -> str:
        return sha256_json(self.answers)[:16]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"digest": self.digest, "answers": dict(self.answers), "errors": dict(self.errors),
                         "served": dict(self.served), "logprobs": dict(self.logprobs)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BehaviouralFingerprint":
        return cls(dict(data.get("answers") or {}), dict(data.get("errors") or {}), dict(data.get("served") or {}),
                   dict(data.get("logprobs") or {}))


@dataclass(frozen=True)
class FingerprintChange:
    moved: list[str]  # canaries whose answer changed
    served_before: dict[str, Any]
    served_after: dict[str, Any]
    compared: int  # canaries answered both times

    @property
    def served_changed(self) -> bool:
        return any(self.served_before.get(k) != self.served_after.get(k) for k in ("model", "system_fingerprint")
                   if self.served_before.get(k) is not None and self.served_after.get(k) is not None)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"moved": list(self.moved), "compared": self.compared, "served_changed": self.served_changed,
                         "served_before": dict(self.served_before), "served_after": dict(self.served_after)})


def take(model: Model) -> tuple[BehaviouralFingerprint, int, int, int]:
    """Ask every canary once, greedily; returns the fingerprint, and the calls and tokens in and out it cost."""
    names = list(CANARIES)
    requests = [Request.chat([{"role": "user", "content": CANARIES[n]}], Decoding(max_tokens=MAX_TOKENS))
                for n in names]
    generations = model.generate(requests)
    answers, errors = {}, {}
    for name, generation in zip(names, generations):
        if generation.error is not None:
            errors[name] = generation.error
        else:
            answers[name] = generation.text.strip()
    if not answers:  # an outage, not a new model: the tick errs and compares nothing
        raise UndriftError(f"the model answered none of the {len(names)} canary prompts: {next(iter(errors.values()))}")
    fingerprint = model.fingerprint()
    served = {"model": fingerprint.served_model, "system_fingerprint": fingerprint.system_fingerprint}
    tokens_in = sum(g.tokens_in for g in generations)
    tokens_out = sum(g.tokens_out for g in generations)
    calls, logprobs = len(requests), {}
    if isinstance(model, OpenAIModel):  # a local model's weights are hashed into its fingerprint already
        for name, request in zip(names, requests):
            top, more_in, more_out = model.first_token_logprobs(request)
            calls, tokens_in, tokens_out = calls + 1, tokens_in + more_in, tokens_out + more_out
            if not top:
                break  # the server offers no logprobs: one probe says so, the rest would cost calls for nothing
            logprobs[name] = top
    return BehaviouralFingerprint(answers, errors, served, logprobs), calls, tokens_in, tokens_out


def change(before: BehaviouralFingerprint, after: BehaviouralFingerprint, deterministic: bool
           ) -> FingerprintChange | None:
    """What changed between two fingerprints, or None when they identify the same model."""
    shared = sorted(set(before.answers) & set(after.answers))
    moved = [name for name in shared
             if before.answers[name] != after.answers[name] or _logprobs_moved(before, after, name)]
    result = FingerprintChange(moved, before.served, after.served, len(shared))
    needed = 1 if deterministic else len(shared) // 2 + 1
    if result.served_changed or (shared and len(moved) >= needed):
        return result
    return None


def _logprobs_moved(before: BehaviouralFingerprint, after: BehaviouralFingerprint, name: str) -> bool:
    old, new = before.logprobs.get(name), after.logprobs.get(name)
    if not old or not new:
        return False
    if max(old, key=old.get) != max(new, key=new.get):
        return True
    return any(abs(old[token] - new[token]) > LOGPROB_TOLERANCE for token in set(old) & set(new))
