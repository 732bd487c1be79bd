"""GGUF files run by llama.cpp, as most private instances of small models are served (`llamacpp:FILE`).

`gguf:FILE` de-quantises a GGUF into transformers weights; this backend runs the quantised file itself, through
llama-cpp-python (the optional extra `undrift[llamacpp]`), so that a team watches the model as it serves it and can
compare the two engines on the same weights.  The chat template is the one the file carries, as llama.cpp's server
applies it.  The fingerprint's backend is `llamacpp`, so no cached answer or comparison mixes it with another engine.

Each answer is computed from an empty KV cache.  llama.cpp would otherwise reuse the longest prompt prefix it still
holds from the previous request, evaluated in a batch of another shape; nothing in llama.cpp promises that such a
prefix rounds the same, and the fingerprint promises that the same request gets the same answer whatever came
before it.  On the bundled model, 24 drift prompts gave the same 24 answers either way, and starting afresh cost
5-15% more time.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..errors import UndriftError, first_line
from ..hashing import sha256_file
from .base import Fingerprint, Generation, HiddenSystemPrompt, ModelSpec, ProgressCallback, Request

DEFAULT_CONTEXT = 4096  # tokens of KV cache; `context=N` in the spec for longer prompts


class LlamaCppModel:
    """A GGUF file loaded by llama-cpp-python; requests are answered one after another on all the machine's cores."""

    latency_scope = "request"

    def __init__(self, spec: ModelSpec):
        """Checks and hashes the file without importing llama_cpp, so a fully cached re-run never loads it."""
        self.spec = spec
        self.path = Path(spec.target).expanduser()
        if not self.path.is_file():
            raise UndriftError(f"GGUF file {spec.target!r} does not exist: give llamacpp:PATH of a .gguf file")
        self.hidden_system = HiddenSystemPrompt.from_spec(spec)
        self.context = spec.count_option("context", DEFAULT_CONTEXT)
        affinity = getattr(os, "sched_getaffinity", None)  # Linux only
        self.threads = spec.count_option("threads", len(affinity(0)) if affinity else os.cpu_count() or 1)
        self.weights_sha256 = sha256_file(self.path)
        self.lock = threading.Lock()
        self._llama = None

    def prepare(self) -> None:
        if self._llama is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError:
            raise UndriftError("llamacpp: needs llama-cpp-python: pip install 'undrift[llamacpp]'") from None
        try:
            self._llama = Llama(model_path=str(self.path), n_ctx=self.context, n_threads=self.threads,
                                n_threads_batch=self.threads, verbose=False)
        except Exception as exc:  # noqa: BLE001 - llama.cpp's and its template engine's errors, in one line
            raise UndriftError(f"llama.cpp cannot load {str(self.path)!r} ({first_line(exc)}): is it a GGUF file "
                               "of a model llama.cpp supports?") from None

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(backend="llamacpp", model=self.spec.target, deterministic=True,
                           weights_sha256=self.weights_sha256, options=self.hidden_system.fingerprint_options())

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close()
        self._llama = None

    def generate(self, requests: list[Request], on_done: ProgressCallback | None = None) -> list[Generation]:
        self.prepare()
        generations = []
        for request in requests:
            generations.append(self._answer(request))
            if on_done:
                on_done(1)
        return generations

    def _answer(self, request: Request) -> Generation:
        decoding = request.decoding
        sampling = dict(temperature=0.0) if decoding.greedy else dict(
            temperature=decoding.temperature, top_p=decoding.top_p, top_k=0, min_p=0.0,
            seed=decoding.seed if decoding.seed is not None else 0)
        with self.lock:
            self._llama.reset()
            started = time.perf_counter()
            try:
                answer = self._llama.create_chat_completion(
                    messages=self.hidden_system.apply(request.message_dicts()), max_tokens=decoding.max_tokens,
                    stop=list(decoding.stop), repeat_penalty=1.0, **sampling)
            except ValueError as exc:  # a prompt longer than the context, or one the file's chat template refuses
                hint = ("shorten the prompt or raise context= in the spec" if "context window" in str(exc)
                        else "the GGUF file's chat template refused these messages")
                raise UndriftError(f"llama.cpp: {first_line(exc)}: {hint} ({self.spec.display()})") from None
            except RuntimeError as exc:
                raise UndriftError(f"llama.cpp failed to generate ({first_line(exc)}) with "
                                   f"{self.spec.display()}") from None
            latency = time.perf_counter() - started
        choice, usage = answer["choices"][0], answer.get("usage") or {}
        return Generation(text=choice["message"].get("content") or "", tokens_in=int(usage.get("prompt_tokens", 0)),
                          tokens_out=int(usage.get("completion_tokens", 0)), latency_s=latency,
                          finish_reason=choice.get("finish_reason") or "stop")
