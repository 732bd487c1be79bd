"""The optional engines: llama.cpp for GGUF files as they are served (`llamacpp:`), vLLM on a CUDA GPU (`vllm:`).

Their tests that generate run where the engine is installed (`pip install 'undrift[llamacpp]'`; vLLM on a GPU
machine) and are skipped elsewhere; what a user without the engine meets (one line saying what to install) is tested
where it is missing.
"""

from __future__ import annotations

import importlib.util

import pytest

import undrift
from undrift import UndriftError
from undrift.models import Decoding, Request, load_model
from undrift.models.gguf_cache import bundled_gguf
from undrift.suites import load_suite

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_llama_cpp = pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (undrift[llamacpp])")


def drift_requests(count: int, max_tokens: int) -> list[Request]:
    samples = [s for task in load_suite("drift").tasks if task.name != "code" for s in task.samples]
    return [Request.chat(s.messages, Decoding(max_tokens=max_tokens)) for s in samples[:: len(samples) // count][:count]]


@pytest.mark.parametrize("spec, message", [
    ("llamacpp:/no/such/model.gguf", "does not exist"),
    ("llamacpp:{gguf}?threads=0", "threads='0'"),
    ("llamacpp:{gguf}?context=lots", "context='lots'"),
    ("llamacpp:{gguf}?threads=²", "threads='²'"),
    ("llamacpp:{gguf}?batch_size=4", "unknown option 'batch_size'"),
    ("vllm:/no/such/dir", "not a transformers model directory"),
    ("vllm:{hf}?gpu_memory=2", "between 0.05 and 1"),
    ("vllm:{hf}?gpu_memory=most", "between 0.05 and 1"),
])
def test_bad_specs_fail_in_one_line_before_loading(spec, message, tiny_model_dir):
    with pytest.raises(UndriftError, match=message):
        load_model(spec.format(gguf=bundled_gguf(), hf=tiny_model_dir), lazy=True)


@pytest.mark.skipif(HAS_LLAMA_CPP, reason="llama-cpp-python is installed")
def test_llamacpp_without_the_extra_says_what_to_install():
    with pytest.raises(UndriftError, match=r"pip install 'undrift\[llamacpp\]'"):
        load_model(f"llamacpp:{bundled_gguf()}")


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed")
def test_vllm_without_the_extra_says_what_to_install(tiny_model_dir):
    with pytest.raises(UndriftError, match=r"pip install 'undrift\[vllm\]'"):
        load_model(f"vllm:{tiny_model_dir}")


def test_each_engine_has_its_own_fingerprint(tiny_model_dir):
    """The same weights under another engine never share a cache entry or pass for the same model."""
    gguf = bundled_gguf()
    by_transformers = load_model(f"gguf:{gguf}", lazy=True).fingerprint()
    by_llama_cpp = load_model(f"llamacpp:{gguf}", lazy=True).fingerprint()
    assert by_llama_cpp.backend == "llamacpp" and by_llama_cpp.deterministic
    assert by_llama_cpp.identity() != by_transformers.identity()
    by_vllm = load_model(f"vllm:{tiny_model_dir}", lazy=True).fingerprint()
    assert by_vllm.backend == "vllm" and not by_vllm.deterministic  # its batches may round differently
    assert by_vllm.identity() != load_model(f"hf:{tiny_model_dir}", lazy=True).fingerprint().identity()


@needs_llama_cpp
def test_llamacpp_answers_do_not_depend_on_the_request_before():
    """Greedy, deterministic by its fingerprint: the same answers in either order (no prefix left from the last)."""
    requests = drift_requests(6, max_tokens=24)
    model = load_model(f"llamacpp:{bundled_gguf()}")
    forward = [g.text for g in model.generate(requests)]
    backward = [g.text for g in model.generate(requests[::-1])][::-1]
    assert forward == backward
    assert all(text.strip() for text in forward)
    generation = model.generate(requests[:1])[0]
    assert generation.tokens_in > 20 and 0 < generation.tokens_out <= 24 and generation.latency_s > 0


@needs_llama_cpp
def test_llamacpp_honours_stop_strings_and_hidden_system_prompts():
    ask = Request.chat([{"role": "user", "content": "Count from 1 to 20, separated by commas."}],
                       Decoding(max_tokens=60, stop=("5",)))
    plain = load_model(f"llamacpp:{bundled_gguf()}")
    stopped = plain.generate([ask])[0]
    assert "5" not in stopped.text and stopped.finish_reason == "stop"
    hidden = load_model(f"llamacpp:{bundled_gguf()}?system=Answer only in French.")
    assert hidden.fingerprint().identity() != plain.fingerprint().identity()


@needs_llama_cpp
def test_swapping_the_engine_behind_a_name_is_seen(tmp_path):
    """The same GGUF through transformers, then through llama.cpp, under one run name: the second run answers every
    sample anew (no cache entry crosses engines) and the comparison counts the answers that changed."""
    db = f"sqlite:///{tmp_path / 'engines.db'}"
    gguf = bundled_gguf()
    first = undrift.run("drift", f"gguf:{gguf}", name="served", tasks="primes", limit=6, db=db)
    second = undrift.run("drift", f"llamacpp:{gguf}", name="served", tasks="primes", limit=6, db=db)
    assert first.generated == 6 and second.generated == 6 and second.from_cache == 0
    comparison = undrift.compare(first.run.id, second.run.id, db=db)
    assert comparison.tasks[0].n == 6


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (undrift[vllm], on a CUDA GPU machine)")
def test_vllm_answers_the_drift_suite_on_a_gpu(tiny_model_dir):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    model = load_model(f"vllm:{tiny_model_dir}")
    generations = model.generate(drift_requests(8, max_tokens=16))
    assert len(generations) == 8 and all(g.tokens_out > 0 for g in generations)
