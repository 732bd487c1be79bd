"""The request bodies the server accepts, and the refusal of what a local transformers model cannot honestly do.

Unknown fields are refused (as OpenAI refuses them) rather than ignored, and fields that OpenAI defines but this
server cannot honour (tools, structured output, penalties, logit bias, images) are refused with a 400 that names the
field: a 200 with plain text would let structured output and tool calls fail silently downstream.  Fields that change
nothing about the answer (`user`, `metadata`, `store`, `service_tier`, `parallel_tool_calls`) are accepted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .batching import Sampling
from .errors import ApiError, unsupported

MAX_N = 16
MAX_STOPS = 4


class _Body(BaseModel):
    """Fields both endpoints share."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: "StreamOptions | None" = None
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None

    def refuse_unsupported(self) -> None:
        for penalty in ("frequency_penalty", "presence_penalty"):
            if getattr(self, penalty):
                raise unsupported(penalty, "the model samples from its own distribution; send 0 or leave it out")
        if self.logit_bias:
            raise unsupported("logit_bias", "leave it out")
        if len(self.stop_strings()) > MAX_STOPS:
            raise ApiError(400, f"`stop` takes at most {MAX_STOPS} sequences", param="stop", code="invalid_value")
        if self.stream_options is not None and not self.stream:
            raise ApiError(400, "`stream_options` is only allowed when `stream` is true", param="stream_options",
                           code="invalid_value")

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(s for s in self.stop or () if s)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def samplings(self, max_tokens: int, top_logprobs: int | None) -> list[Sampling]:
        """One sampling per choice; each choice of a seeded request gets its own seed, so `n` answers differ."""
        n = self.n or 1
        temperature = 0.0 if self.temperature is None else self.temperature  # greedy unless asked: reproducible
        return [Sampling(max_tokens=max_tokens, temperature=temperature, top_p=1.0 if self.top_p is None else self.top_p,
                         seed=None if self.seed is None else self.seed + i, stop=self.stop_strings(),
                         top_logprobs=top_logprobs) for i in range(n)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool | None = False


class ContentPart(BaseModel):
    """A part of a message's content; only text parts are understood by a text-only model."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. `refusal` or `annotations` on an assistant turn sent back

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[Any] | None = None


class ChatRequest(_Body):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: str | None = None
    web_search_options: Any = None

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        for field in ("tools", "functions"):
            if getattr(self, field):
                raise unsupported(field, "a local transformers model here has no tool calling; leave it out")
        for field in ("tool_choice", "function_call"):
            if getattr(self, field) not in (None, "none"):
                raise unsupported(field, "a local transformers model here has no tool calling; leave it out")
        if self.response_format and self.response_format.get("type") != "text":
            raise unsupported("response_format", "only {\"type\": \"text\"} is served; structured output is not "
                                                 "enforced by this server")
        if self.modalities and set(self.modalities) != {"text"}:
            raise unsupported("modalities", "the model answers in text only")
        for field in ("audio", "prediction", "reasoning_effort", "web_search_options"):
            if getattr(self, field) is not None:
                raise unsupported(field, "leave it out")
        if self.top_logprobs is not None and not self.logprobs:
            raise ApiError(400, "`top_logprobs` needs `logprobs` set to true", param="top_logprobs",
                           code="invalid_value")
        for i, message in enumerate(self.messages):
            if message.role in ("tool", "function"):
                raise unsupported(f"messages[{i}].role", f"{message.role!r} messages come with tool calls, which "
                                                          "this server does not make")
            if message.tool_calls:
                raise unsupported(f"messages[{i}].tool_calls", "this server does not make tool calls")
            for j, part in enumerate(message.content if isinstance(message.content, list) else ()):
                if part.type != "text" or part.text is None:
                    raise unsupported(f"messages[{i}].content[{j}].type",
                                      f"only text parts are understood, not {part.type!r}")

    def message_dicts(self) -> list[dict[str, str]]:
        """Role and text of each message: text parts joined by newlines, `developer` read as `system`."""
        dicts = []
        for message in self.messages:
            content = message.content
            if isinstance(content, list):
                content = "\n".join(part.text or "" for part in content)
            role = "system" if message.role == "developer" else message.role
            dicts.append({"role": role, "content": content or ""})
        return dicts

    def max_new_tokens(self, default: int) -> int:
        return self.max_completion_tokens or self.max_tokens or default

    def top_logprobs_wanted(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Body):
    """The legacy text-completion body: raw prompt text, no chat template."""

    prompt: str | list[str] = Field(min_length=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1, le=MAX_N)

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.echo:
            raise unsupported("echo", "leave it out or send false")
        if self.suffix:
            raise unsupported("suffix", "insertion is not served; leave it out")
        if self.best_of not in (None, self.n or 1):
            raise unsupported("best_of", "choices are not ranked here; send n instead")

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


_Body.model_rebuild()
ChatRequest.model_rebuild()
CompletionRequest.model_rebuild()
