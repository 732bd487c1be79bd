"""A transformers model directory run by vLLM on a CUDA GPU (`vllm:PATH`, the optional extra `undrift[vllm]`).

vLLM schedules every request of a run itself (continuous batching, paged attention, prefix caching), which is what
makes a large suite cheap on a GPU.  Its greedy answers are not promised to be the same from one batch to the next
(the kernels it picks depend on the batch), so its fingerprint is not deterministic: the runner does not answer a
vLLM run from the cache unless asked, and its backend name keeps its answers apart from transformers' and llama.cpp's.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UndriftError, first_line
from .base import Fingerprint, Generation, HiddenSystemPrompt, ModelSpec, ProgressCallback, Request
from .gguf_cache import weights_hash
from .local import lora_adapter


class VLLMModel:
    """All requests of a call go to vLLM at once; it batches them as it sees fit."""

    latency_scope = "batch"

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.model_dir = Path(spec.target).expanduser()
        if not (self.model_dir / "config.json").exists():
            raise UndriftError(f"vllm:{spec.target} is not a transformers model directory (no config.json)")
        self.weights_sha256 = weights_hash(self.model_dir)
        self.adapter_dir, self.adapter_sha256 = lora_adapter(self.spec)
        self.hidden_system = HiddenSystemPrompt.from_spec(spec)
        try:
            self.memory = float(spec.option("gpu_memory", "0.85"))
        except ValueError:
            self.memory = -1.0
        if not 0.05 <= self.memory <= 1.0:
            raise UndriftError(f"gpu_memory={spec.option('gpu_memory')} in {spec.display()} is a share of the GPU's memory: "
                               "give one between 0.05 and 1")
        self._llm = None

    def prepare(self) -> None:
        if self._llm is not None:
            return
        try:
            import torch
            from vllm import LLM
        except ImportError:
            raise UndriftError("vllm: needs vLLM: pip install 'undrift[vllm]' (a CUDA GPU machine)") from None
        if not torch.cuda.is_available():
            raise UndriftError("vllm: needs a CUDA GPU, and none is visible: use hf: for this model on this machine")
        try:
            self._llm = LLM(model=str(self.model_dir), gpu_memory_utilization=self.memory, seed=0,
                            enable_lora=self.adapter_dir is not None, enable_prefix_caching=True)
        except (ValueError, RuntimeError, OSError) as exc:
            raise UndriftError(f"vLLM cannot load {str(self.model_dir)!r}: {first_line(exc)}") from None

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(backend="vllm", model=self.spec.target, deterministic=False,
                           weights_sha256=self.weights_sha256, adapter_sha256=self.adapter_sha256,
                           options=self.hidden_system.fingerprint_options())

    def close(self) -> None:
        self._llm = None

    def generate(self, requests: list[Request], on_done: ProgressCallback | None = None) -> list[Generation]:
        from vllm import SamplingParams

        self.prepare()
        params = [SamplingParams(max_tokens=r.decoding.max_tokens, temperature=r.decoding.temperature,
                                 top_p=r.decoding.top_p, seed=r.decoding.seed, stop=list(r.decoding.stop) or None)
                  for r in requests]
        lora = None
        if self.adapter_dir is not None:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, str(self.adapter_dir))
        started = time.perf_counter()
        try:
            outputs = self._llm.chat([self.hidden_system.apply(r.message_dicts()) for r in requests], params,
                                     use_tqdm=False, lora_request=lora)
        except ValueError as exc:  # a prompt longer than the model's context, a chat template's refusal
            raise UndriftError(f"vLLM refused a request: {first_line(exc)}") from None
        latency = time.perf_counter() - started
        if on_done:
            on_done(len(requests))
        generations = []
        for output in outputs:
            answer = output.outputs[0]
            generations.append(Generation(text=answer.text, tokens_in=len(output.prompt_token_ids or ()),
                                          tokens_out=len(answer.token_ids), latency_s=latency,
                                          finish_reason=answer.finish_reason or "stop"))
        return generations
