"""Response bodies in OpenAI's shapes: chat completions and legacy completions, whole or as stream chunks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .batching import TokenLogprob


@dataclass
class Choice:
    """One answer being put together from the engine's updates."""

    index: int
    text: str = ""
    tokens: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    tokens_out: int = 0


@dataclass(frozen=True)
class Envelope:
    """The fields every body and chunk of one response repeats."""

    id: str
    object: str
    created: int
    model: str
    system_fingerprint: str

    def wrap(self, choices: list[dict], usage: dict | None = None, with_usage: bool = False) -> dict:
        body = {"id": self.id, "object": self.object, "created": self.created, "model": self.model,
                "system_fingerprint": self.system_fingerprint, "choices": choices}
        if usage is not None or with_usage:
            body["usage"] = usage
        return body


def usage(prompt_tokens: int, choices: list[Choice]) -> dict:
    """The prompt is counted once however many choices were drawn from it, as OpenAI counts it."""
    completion = sum(c.tokens_out for c in choices)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def chat_logprobs(tokens: list[TokenLogprob]) -> dict:
    def entry(token: str, logprob: float) -> dict:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    return {"content": [{**entry(t.token, t.logprob), "top_logprobs": [entry(s, v) for s, v in t.top]}
                        for t in tokens], "refusal": None}


def completion_logprobs(tokens: list[TokenLogprob], offset: int) -> dict:
    """The legacy shape: parallel lists, and each token's character offset in the text."""
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token.token)
    return {"tokens": [t.token for t in tokens], "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [dict(t.top) for t in tokens], "text_offset": offsets}


def chat_choice(choice: Choice, with_logprobs: bool) -> dict:
    return {"index": choice.index, "message": {"role": "assistant", "content": choice.text, "refusal": None},
            "finish_reason": choice.finish_reason,
            "logprobs": chat_logprobs(choice.tokens) if with_logprobs else None}


def completion_choice(choice: Choice, with_logprobs: bool, offset: int = 0) -> dict:
    return {"index": choice.index, "text": choice.text, "finish_reason": choice.finish_reason,
            "logprobs": completion_logprobs(choice.tokens, offset) if with_logprobs else None}


def sse(body: dict | str) -> str:
    return f"data: {body if isinstance(body, str) else json.dumps(body)}\n\n"
