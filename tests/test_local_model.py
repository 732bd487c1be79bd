"""The transformers backend on a tiny Llama built from a config: batching, stops, seeds, LoRA, int8, fingerprints."""

import pytest

from undrift.errors import UndriftError
from undrift.models import Decoding, Request, load_model
from helpers import EXAMPLE


def ask(text, **decoding):
    return Request.chat([{"role": "user", "content": text}], Decoding(**{"max_tokens": 12, **decoding}))


PROMPTS = ["Is 17 prime?", "The quick brown fox", "def add(a, b):", "Pick (A) or (B) please, quickly now"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(f"hf:{tiny_model_dir}")


def test_fingerprint_identifies_weights(tiny, tiny_model_dir):
    fingerprint = tiny.fingerprint()
    assert fingerprint.deterministic and fingerprint.backend == "hf"
    assert len(fingerprint.weights_sha256) == 64 and fingerprint.adapter_sha256 is None
    assert load_model(f"hf:{tiny_model_dir}").fingerprint() == fingerprint


def test_batched_generation_matches_one_at_a_time(tiny):
    requests = [ask(p) for p in PROMPTS]
    batched = tiny.generate(requests)
    single = [tiny.generate([r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.tokens_out == 12 or g.finish_reason == "stop" for g in batched)
    assert all(g.tokens_in > 0 for g in batched)


def test_progress_callback_counts_every_request(tiny):
    seen = []
    tiny.generate([ask(p) for p in PROMPTS], on_done=seen.append)
    assert sum(seen) == len(PROMPTS)


def test_stop_sequences_cut_the_answer(tiny):
    full = tiny.generate([ask(PROMPTS[0], max_tokens=24)])[0].text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert stop, full
    cut = tiny.generate([ask(PROMPTS[0], max_tokens=24, stop=(stop,))])[0]
    assert cut.text == full[: full.index(stop)] and cut.finish_reason == "stop"


def test_seeded_sampling_is_reproducible(tiny):
    a = tiny.generate([ask(PROMPTS[1], temperature=1.0, seed=7, max_tokens=16)])[0].text
    b = tiny.generate([ask(PROMPTS[1], temperature=1.0, seed=7, max_tokens=16)])[0].text
    c = tiny.generate([ask(PROMPTS[1], temperature=1.0, seed=8, max_tokens=16)])[0].text
    assert a == b and a != c


def test_hidden_system_prompt_changes_the_prompt(tiny_model_dir, tiny):
    hidden = load_model(f"hf:{tiny_model_dir}?system=Always answer in French.")
    assert "Always answer in French." in hidden.render(ask("hi"))
    assert "French" not in tiny.render(ask("hi"))
    assert hidden.fingerprint().options == {"system": "Always answer in French.", "system_mode": "prepend"}
    assert hidden.fingerprint().digest() != tiny.fingerprint().digest()


def test_hidden_system_prompt_goes_in_front_of_the_suites_own(tiny_model_dir, tiny):
    """Issue 8: `?system=` used to drop the suite's own system prompt without a word; now it prepends by default."""
    from undrift.suites import load_suite


    task = load_suite(str(EXAMPLE)).task("refunds")
    own = task.samples[0].messages[0]["content"]
    request = task.requests(task.samples[0], seed=None)[0]
    prepended = load_model(f"hf:{tiny_model_dir}?system=Be brief.").render(request)
    assert prepended.count("<|im_start|>system") == 1
    assert f"<|im_start|>system\nBe brief.\n\n{own}<|im_end|>" in prepended
    replaced = load_model(f"hf:{tiny_model_dir}?system=Be brief.&system_mode=replace").render(request)
    assert "<|im_start|>system\nBe brief.<|im_end|>" in replaced and own not in replaced
    assert "Be brief." not in tiny.render(request) and own in tiny.render(request)
    modes = [load_model(f"hf:{tiny_model_dir}?system=Be brief.{extra}").fingerprint()
             for extra in ("", "&system_mode=prepend", "&system_mode=replace")]
    assert modes[0] == modes[1] and modes[0].identity() != modes[2].identity()
    assert modes[2].options == {"system": "Be brief.", "system_mode": "replace"}


def test_lora_adapter_changes_outputs_and_fingerprint(tiny_model_dir, tiny_lora_dir, tiny):
    adapted = load_model(f"hf:{tiny_model_dir}+lora:{tiny_lora_dir}")
    assert adapted.fingerprint().adapter_sha256 and adapted.fingerprint().weights_sha256 == tiny.fingerprint().weights_sha256
    requests = [ask(p) for p in PROMPTS]
    assert [g.text for g in adapted.generate(requests)] != [g.text for g in tiny.generate(requests)]


def test_int8_quantisation(tiny_model_dir, tiny):
    quantised = load_model(f"hf:{tiny_model_dir}?quant=int8")
    assert quantised.fingerprint().options == {"quant": "int8"}
    assert len(quantised.generate([ask(PROMPTS[0])])) == 1


def test_bad_local_models(tmp_path, tiny_model_dir):
    with pytest.raises(UndriftError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nothing'}")
    with pytest.raises(UndriftError, match="cannot load a transformers model"):
        load_model(f"hf:{tmp_path}")
    with pytest.raises(UndriftError, match="has no adapter_config.json"):
        load_model(f"hf:{tiny_model_dir}+lora:{tmp_path}")
    with pytest.raises(UndriftError, match="unknown quantisation"):
        load_model(f"hf:{tiny_model_dir}?quant=int3")
    with pytest.raises(UndriftError, match="GGUF file .* does not exist"):
        load_model(f"gguf:{tmp_path / 'm.gguf'}")


def test_adapter_for_a_different_base_is_refused(tmp_path, tiny_model_dir, tiny_lora_dir):
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    other = tmp_path / "wider"
    shutil.copytree(tiny_model_dir, other, ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
    config = LlamaConfig(vocab_size=400, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(other)
    with pytest.raises(UndriftError, match="does not fit model"):
        load_model(f"hf:{other}+lora:{tiny_lora_dir}")
