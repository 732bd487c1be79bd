"""What answers prompts: the spec grammar, the request/response types and the protocol every backend follows.

A spec is a string so that it can travel through a command line, a database row and a registry unchanged:

    bundled:smollm2                      the embedded SmolLM2-135M-Instruct
    hf:PATH[+lora:PATH]                  a transformers directory, optionally with a peft LoRA adapter
    gguf:FILE                            a GGUF file, converted once to a safetensors cache
    llamacpp:FILE                        a GGUF file run quantised by llama.cpp (extra: undrift[llamacpp])
    vllm:PATH[+lora:PATH]                a transformers directory run by vLLM on a CUDA GPU (extra: undrift[vllm])
    openai:MODEL[@BASE_URL]              any OpenAI-compatible chat-completions server
    echo:[?text=TEXT]                    scripted: says the last user message back (or TEXT), for tests
    script:FILE                          scripted: answers from a JSONL/YAML file, by prompt or sample id

The part before the colon is a scheme registered in the `undrift.backends` entry-point group (see plugins.py): the
built-ins above are declared there by undrift's own pyproject.toml, and an installed plugin adds its own schemes.

Any spec may end in `?key=value&...` options.  Every model takes `system=TEXT`, a hidden system prompt as hosted
services add one: by default (`system_mode=prepend`) it goes in front of the suite's own system message, in the same
message after a blank line; `system_mode=replace` drops the suite's system messages instead.  Local models also take
`quant=int8` (dynamic int8 quantisation of the linear layers), `batch_size=N` and `device=cpu|cuda`; llamacpp
models `context=TOKENS` and `threads=N`; vllm models `gpu_memory=SHARE`; OpenAI-compatible models `concurrency=N`,
`timeout=SECONDS` and `retries=N`.  The scripted backends take no hidden system prompt: what they answer does not
depend on one.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import UndriftError
from ..hashing import sha256_json
from ..jsonable import jsonable
from ..plugins import BACKENDS

SYSTEM_MODES = ("prepend", "replace")
SYSTEM_OPTIONS = frozenset({"system", "system_mode"})
EXAMPLE = " (write BACKEND:MODEL, e.g. bundled:smollm2; `undrift models` lists them)"


def file_name(spec: "ModelSpec") -> str:
    """A spec's model as clients of `undrift serve` name it by default: its folder's or file's name."""
    return Path(spec.target).expanduser().name


@dataclass(frozen=True)
class Backend:
    """What one spec scheme means: how its specs read, how a model is loaded from one, and what its models can do.

    An `undrift.backends` entry point names one of these; its entry-point name is the scheme (`bundled`, `hf`, ...).
    The parsing rules are data so that `ModelSpec.parse` can check any backend's specs before loading anything, and
    the capabilities are data so that `undrift serve` and `undrift train` refuse a backend they cannot use in one
    line, before loading it, rather than failing inside it (see `require` in models/__init__.py).
    """

    usage: str  # what follows `SCHEME:` in a spec, for help and errors: "PATH[+lora:PATH]"
    description: str
    load: Callable[["ModelSpec", bool], "Model"]  # (spec, lazy) -> model; lazy defers loading weights to prepare()
    options: frozenset[str] = frozenset()  # the `?key=value` options its specs may carry (system: SYSTEM_OPTIONS)
    lora: bool = False  # takes `+lora:PATH`
    base_url: bool = False  # takes `@BASE_URL`
    targets: tuple[str, ...] | None = None  # the only models it has (None: any non-empty target)
    servable: bool = False  # its models are `ServableModel`s: `undrift serve` runs them
    trainable: bool = False  # its models are `TrainableModel`s: `undrift train` and `undrift probe` use their weights
    model_id: Callable[["ModelSpec"], str] = file_name  # the id `undrift serve` gives its models by default


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec; `str(spec)` gives back the canonical string."""

    backend: str
    target: str
    lora: str | None = None
    base_url: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """Check a spec against its backend's rules (see `Backend`); every mistake is a one-line `UndriftError`."""
        if not isinstance(text, str):
            raise UndriftError(f"a model spec is text such as 'echo:' or 'bundled:smollm2'; got {text!r}")
        text = text.strip()
        scheme, sep, rest = text.partition(":")
        backend = BACKENDS.get(scheme) if sep else None
        if backend is None:
            raise BACKENDS.unknown(f"model spec {text!r} ({f'no backend {scheme!r}' if sep else 'no backend named'})",
                                   EXAMPLE)
        rest, _, query = rest.partition("?")
        options = tuple(sorted(urllib.parse.parse_qsl(query, keep_blank_values=True)))
        unknown = sorted({key for key, _ in options} - backend.options)
        if unknown:
            takes = ", ".join(sorted(backend.options)) or "no options"
            raise UndriftError(f"unknown option {unknown[0]!r} in model spec {text!r}: {scheme} models take {takes}")
        mode = dict(options).get("system_mode", SYSTEM_MODES[0])
        if mode not in SYSTEM_MODES:
            raise UndriftError(
                f"unknown system_mode {mode!r} in model spec {text!r}: use system_mode=prepend (the default) or replace"
            )
        lora = base_url = None
        if backend.base_url:
            rest, _, base_url = rest.partition("@")
            base_url = base_url or None
            if base_url and not base_url.startswith(("http://", "https://")):
                raise UndriftError(f"bad server address {base_url!r} in {text!r}: write it as http://HOST:PORT/v1")
        elif backend.lora and "+lora:" in rest:
            rest, _, lora = rest.partition("+lora:")
        if backend.targets is not None and rest not in backend.targets:
            known = " or ".join(f"{scheme}:{target}" for target in backend.targets)
            raise UndriftError(f"unknown {scheme} model {rest!r} in model spec {text!r}: write {known}")
        if not rest and backend.targets is None:
            raise UndriftError(f"model spec {text!r} names no model: write it as {scheme}:{backend.usage}")
        return cls(backend=scheme, target=rest, lora=lora, base_url=base_url, options=options)

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def count_option(self, key: str, default: int) -> int:
        """An option that counts something (`batch_size=32`), or `default` if the spec does not give it."""
        value = self.option(key)
        if value is None:
            return default
        if not (value.isascii() and value.isdecimal()) or int(value) < 1:
            raise UndriftError(f"{key}={value!r} in {self.display()} is not a positive whole number")
        return int(value)

    def __str__(self) -> str:
        return self._with_options(urllib.parse.urlencode(self.options, quote_via=urllib.parse.quote))

    def display(self) -> str:
        """The spec as a person writes it (`?system=Be brief.`, not `Be%20brief.`): default run and version names.

        Not for parsing back: an option value holding `&`, `=` or `+` reads differently; `str(spec)` round-trips.
        """
        return self._with_options("&".join(f"{key}={value}" for key, value in self.options))

    @staticmethod
    def readable(stored: str) -> str:
        """A stored spec string as `display` writes it; also for specs of imported runs, which do not parse."""
        return urllib.parse.unquote(stored)

    def _with_options(self, query: str) -> str:
        text = f"{self.backend}:{self.target}"
        if self.lora:
            text += f"+lora:{self.lora}"
        if self.base_url:
            text += f"@{self.base_url}"
        return f"{text}?{query}" if query else text


@dataclass(frozen=True)
class Decoding:
    """Decoding parameters of one request.  Greedy (temperature 0) unless a task asks otherwise."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
        })

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decoding":
        known = {"max_tokens", "temperature", "top_p", "stop", "seed"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UndriftError(f"unknown decoding parameter {unknown[0]!r}: use {', '.join(sorted(known))}")
        stop = data.get("stop") or ()
        max_tokens = int(data.get("max_tokens", 256))
        if max_tokens < 1:
            raise UndriftError(f"decoding max_tokens is {max_tokens}: give at least 1")
        return cls(
            max_tokens=max_tokens,
            temperature=float(data.get("temperature", 0.0)),
            top_p=float(data.get("top_p", 1.0)),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            seed=None if data.get("seed") is None else int(data["seed"]),
        )


@dataclass(frozen=True)
class Request:
    """One chat request: messages (role/content dicts) and how to decode.

    `sample_id` says which suite sample asked, where one did; it is not part of the request (equality, cache key),
    since a model answers the messages, but a scripted model may answer by it (`script:` files with `ids`).
    """

    messages: tuple[tuple[tuple[str, str], ...], ...]
    decoding: Decoding
    sample_id: str | None = field(default=None, compare=False)

    @classmethod
    def chat(cls, messages: list[dict[str, str]], decoding: Decoding, sample_id: str | None = None) -> "Request":
        return cls(tuple(tuple(sorted(m.items())) for m in messages), decoding, sample_id)

    def message_dicts(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages]

    def key(self) -> str:
        """Hash that identifies the request for the response cache."""
        return sha256_json({"messages": self.message_dicts(), "decoding": self.decoding.to_dict()})


@dataclass
class Generation:
    """What a model said to one request, and what it cost."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    finish_reason: str = "stop"
    system_fingerprint: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Fingerprint:
    """Everything that identifies the model behind the answers.

    For local models: weight and adapter hashes and the options that change outputs (hidden system prompt,
    quantisation).  For APIs: the requested model, the served model id and the server's `system_fingerprint`
    (filled in from responses).  `deterministic` says whether the same request must give the same answer, which is
    what makes a cached response a valid substitute.
    """

    backend: str
    model: str
    deterministic: bool
    weights_sha256: str | None = None
    adapter_sha256: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    served_model: str | None = None
    system_fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "backend": self.backend,
            "model": self.model,
            "deterministic": self.deterministic,
            "weights_sha256": self.weights_sha256,
            "adapter_sha256": self.adapter_sha256,
            "options": dict(self.options),
            "served_model": self.served_model,
            "system_fingerprint": self.system_fingerprint,
        })

    def digest(self) -> str:
        return sha256_json(self.to_dict())

    def identity(self) -> str:
        """Hash of what was *asked for* (not what a server reported serving): the response cache's model key."""
        asked = {k: v for k, v in self.to_dict().items() if k not in ("served_model", "system_fingerprint")}
        return sha256_json(asked)


ProgressCallback = Callable[[int], None]


class Model(Protocol):
    """A loaded model, as every backend gives one.  Only the runner calls `generate`."""

    spec: ModelSpec

    def fingerprint(self) -> Fingerprint: ...

    def prepare(self) -> None:
        """Make ready to generate (load weights); raises `UndriftError` if that is impossible."""
        ...

    def generate(self, requests: list[Request], on_done: ProgressCallback | None = None) -> list[Generation]:
        """Answer every request, in order; `on_done(n)` is called as n more requests finish."""
        ...

    def close(self) -> None: ...


class ServableModel(Model, Protocol):
    """A model `undrift serve` can run (a backend with `servable=True`): the server does not call `generate` but
    steps a transformers causal LM itself, token by token, so that it can batch requests as they arrive and stream.

    The attributes are set by `prepare()`.
    """

    model: Any  # a transformers causal LM (`config`, `generation_config`, a forward taking a KV cache)
    tokenizer: Any  # its transformers tokenizer (`__call__`, `decode`, `eos_token_id`, `model_max_length`)
    device: str  # where `model` lives: "cpu" or "cuda"
    batch_size: int  # how many requests to step together unless the server is told otherwise
    lock: threading.Lock  # held around every forward pass, so the server and `generate` never share the model

    def render(self, request: Request) -> str:
        """The prompt text for a chat request (chat template, hidden system prompt); `UndriftError` if too long."""
        ...


class TrainableModel(Model, Protocol):
    """A model whose weights `undrift train` fine-tunes and `undrift probe` reads logits from (`trainable=True`)."""

    def trainable_weights(self) -> tuple[Any, Any]:
        """A fresh float32 transformers causal LM (the spec's adapter merged in) and its tokenizer, with a pad
        token; loaded anew each call, so training never changes a model that is serving or evaluating."""
        ...


@dataclass(frozen=True)
class HiddenSystemPrompt:
    """A spec's `system=TEXT`: the system prompt a hosted service adds without the caller seeing it (none if empty).

    `prepend` (the default) keeps the suite's own system message, after the hidden text, because a provider's
    preamble does not delete the instructions a suite relies on; `replace` drops the suite's system messages, for
    when that is what is being tested.  The mode is part of the fingerprint, so answers made under one mode are never
    reused for the other.
    """

    text: str | None
    mode: str = SYSTEM_MODES[0]

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "HiddenSystemPrompt":
        return cls(spec.option("system") or None, spec.option("system_mode", SYSTEM_MODES[0]))

    def apply(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if not self.text:
            return messages
        if self.mode == "replace":
            return [{"role": "system", "content": self.text}, *(m for m in messages if m.get("role") != "system")]
        if messages and messages[0].get("role") == "system":
            return [{**messages[0], "content": f"{self.text}\n\n{messages[0]['content']}"}, *messages[1:]]
        return [{"role": "system", "content": self.text}, *messages]

    def fingerprint_options(self) -> dict[str, str]:
        return {"system": self.text, "system_mode": self.mode} if self.text else {}
