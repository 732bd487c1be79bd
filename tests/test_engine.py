"""The local engine (models/engine.py) changes the cost of generation, never the answers: greedy answers are those of a
plain padded `generate` on the same weights, on the tiny Llama and on the drift suite with the bundled model, whether
all prompts fit in one batch or rows are retired and admitted many times over; sampled answers follow their seed;
models the engine does not run fall back to `generate`."""

from __future__ import annotations

import pytest
import torch

from undrift.models import Decoding, Request, load_model
from undrift.models.engine import MIN_SHARED, shared_prefix, split_head, supports
from undrift.models.local import cut_at_stop
from undrift.suites import load_suite


QUESTIONS = ["hi", "Is 17 a prime number?", "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7",
             "def add(a, b): return a + b", "Pick one (A) (B) (C)", "x"]


def plain_generate(model, requests: list[Request]) -> list[str]:
    """transformers' own batched greedy `generate` over left-padded prompts: the reference the engine must match."""
    tokenizer, pad, eos = model.tokenizer, model.tokenizer.pad_token_id, model.tokenizer.eos_token_id
    prompts = [tokenizer(model.render(r), add_special_tokens=False)["input_ids"] for r in requests]
    width = max(len(p) for p in prompts)
    with torch.inference_mode():
        output = model.model.generate(
            input_ids=torch.tensor([[pad] * (width - len(p)) + p for p in prompts]),
            attention_mask=torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts]),
            max_new_tokens=requests[0].decoding.max_tokens, do_sample=False, pad_token_id=pad, eos_token_id=eos)
    answers = []
    for row in output:
        tokens = row[width:].tolist()
        tokens = tokens[: tokens.index(eos)] if eos in tokens else tokens
        answers.append(tokenizer.decode(tokens, skip_special_tokens=True))
    return answers


def drift_requests(count: int, max_tokens: int) -> list[Request]:
    """`count` prompts spread over the drift suite's tasks (code included), in suite order."""
    samples = [s for task in load_suite("drift").tasks for s in task.samples]
    step = max(1, len(samples) // count)
    return [Request.chat(s.messages, Decoding(max_tokens=max_tokens)) for s in samples[::step][:count]]


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    assert shared_prefix([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7]]) == 5
    assert shared_prefix([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]]) == 4  # the shorter keeps its last token
    assert shared_prefix([[1, 2, 3, 9, 9], [1, 2, 3, 8, 8]]) == 0  # shorter than MIN_SHARED: not worth a pass
    assert MIN_SHARED == 4
    assert shared_prefix([[7] * 10]) == 9


@pytest.mark.parametrize("rows", [32, 4, 1])
def test_greedy_answers_are_plain_generates_on_the_tiny_model(tiny_model_dir, rows):
    """At 32 rows every prompt is decoded at once; at 4 and 1, rows leave and are replaced many times, and the
    cache's columns are reclaimed and grown as the queue drains."""
    requests = [Request.chat([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q}],
                             Decoding(max_tokens=12)) for q in QUESTIONS * 3]
    model = load_model(f"hf:{tiny_model_dir}?batch_size={rows}")
    engine = [g.text for g in model.generate(requests)]
    # the engine sorts by length; the reference is one padded batch in the given order
    assert engine == plain_generate(model, requests)
    assert len(set(engine)) > 3  # the prompts really differ, so a mix-up of rows would show


@pytest.mark.parametrize("rows", [5, 2])
def test_rows_ending_at_different_steps_leave_the_others_answers_alone(tiny_model_dir, rows):
    """A stop string that the answers reach at different steps: rows leave mid-batch, later rows move into their
    places, new prompts arrive among half-finished ones; each answer is still the plain one, cut at the stop."""
    questions = [f"{q} ({n})" for n in range(4) for q in QUESTIONS]
    plain_requests = [Request.chat([{"role": "user", "content": q}], Decoding(max_tokens=14)) for q in questions]
    model = load_model(f"hf:{tiny_model_dir}?batch_size={rows}")
    reference = plain_generate(model, plain_requests)
    # the character that ends the most answers early, at the most different places
    stop = max({c for answer in reference for c in answer[1:]},
               key=lambda c: len({answer.find(c) for answer in reference if c in answer[1:]}))
    stopped = [Request.chat(r.message_dicts(), Decoding(max_tokens=14, stop=(stop,))) for r in plain_requests]
    answers = model.generate(stopped)
    assert [a.text for a in answers] == [cut_at_stop(text, (stop,))[0] for text in reference]
    assert len({a.tokens_out for a in answers}) > 4  # rows really ended at different steps


def test_prompts_sharing_nothing_are_prefilled_by_their_own_tokens_alone(tiny_model_dir):
    """Half the prompts carry a system message and half do not: too little in common to prefill once."""
    requests = [Request.chat(([{"role": "system", "content": "Be brief."}] if i % 2 else [])
                             + [{"role": "user", "content": q}], Decoding(max_tokens=10))
                for i, q in enumerate(QUESTIONS)]
    model = load_model(f"hf:{tiny_model_dir}?batch_size=3")
    model.prepare()
    prompts = [model.tokenizer(model.render(r), add_special_tokens=False)["input_ids"] for r in requests]
    assert shared_prefix(prompts) == 0
    assert [g.text for g in model.generate(requests)] == plain_generate(model, requests)


def test_a_prompt_of_one_token_is_answered_as_generate_answers_it(tiny_model_dir):
    """A row with no token but its last is admitted with nothing to prefill and decoded beside longer ones."""
    from undrift.models.engine import Engine

    model = load_model(f"hf:{tiny_model_dir}")
    model.prepare()
    tokenizer, eos = model.tokenizer, model.tokenizer.eos_token_id
    prompts = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("<|im_start|>", "Is 17 a prime?")]
    assert len(prompts[0]) == 1
    engine = Engine(model.model, torch, rows=2, max_new=8, eos_id=eos, pad_id=tokenizer.pad_token_id, device="cpu")
    with torch.inference_mode():
        answers = [d.tokens for d in engine.run(prompts)]
        for prompt, answer in zip(prompts, answers):
            alone = model.model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                         pad_token_id=tokenizer.pad_token_id, eos_token_id=eos)[0, len(prompt):]
            expected = alone.tolist()
            assert answer == (expected[: expected.index(eos)] if eos in expected else expected)


def test_stop_strings_end_an_answer_early(tiny_model_dir):
    model = load_model(f"hf:{tiny_model_dir}?batch_size=2")
    free = Decoding(max_tokens=16)
    requests = [Request.chat([{"role": "user", "content": q}], free) for q in QUESTIONS]
    answers = model.generate(requests)
    # a stop string taken from inside each long answer: the answer ends before it, sooner than the token limit
    chosen = [(r, a) for r, a in zip(requests, answers) if len(a.text.strip()) > 6][:3]
    assert chosen
    for request, answer in chosen:
        stop = answer.text.strip()[3:6]
        stopped = model.generate([Request.chat(request.message_dicts(), Decoding(max_tokens=16, stop=(stop,)))])[0]
        assert stopped.text == answer.text[: answer.text.find(stop)]
        assert stopped.finish_reason == "stop"
        assert stopped.tokens_out < answer.tokens_out


def test_an_output_head_split_in_slices_gives_the_plain_answers(tiny_model_dir, tiny_lora_dir, monkeypatch):
    """The tiny model's 400-entry head in slices of 64: seven products instead of one, the same answers; with a LoRA
    adapter on its attention too (the adapted layers are the decoder's, the head stays plain)."""
    from undrift.models import engine

    monkeypatch.setattr(engine, "HEAD_ROWS", 64)
    requests = [Request.chat([{"role": "user", "content": q}], Decoding(max_tokens=12)) for q in QUESTIONS * 2]
    for spec in (f"hf:{tiny_model_dir}?batch_size=4", f"hf:{tiny_model_dir}+lora:{tiny_lora_dir}?batch_size=4"):
        model = load_model(spec)
        model.prepare()
        assert len(model.head.slices) == 7
        assert [g.text for g in model.generate(requests)] == plain_generate(model, requests)


def test_a_head_whose_logits_are_not_its_plain_product_is_left_to_the_model():
    """Granite divides its logits by a scale, a dynamically quantised head is no plain Linear, and a GPU's libraries
    may sum a product in another order when its width changes: their logits come from the model's own forward.  The
    same shapes as a Llama are split, a head with a bias too."""
    from transformers import GraniteConfig, GraniteForCausalLM, LlamaConfig, LlamaForCausalLM

    shape = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                 num_key_value_heads=2)
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(**shape, tie_word_embeddings=False)).eval()
    assert split_head(llama, torch, "cpu", rows=16) is not None
    assert split_head(llama, torch, "cuda", rows=16) is None
    granite = GraniteForCausalLM(GraniteConfig(**shape, logits_scaling=4.0)).eval()
    assert split_head(granite, torch, "cpu", rows=16) is None
    quantised = torch.ao.quantization.quantize_dynamic(llama, {torch.nn.Linear}, dtype=torch.qint8)
    assert split_head(quantised, torch, "cpu", rows=16) is None
    biased = torch.nn.Linear(32, 300, bias=True)
    llama.lm_head = biased
    split = split_head(llama, torch, "cpu", rows=16)
    hidden = torch.randn(5, 32)
    with torch.inference_mode():
        assert torch.equal(split.logits(torch, hidden), biased(hidden))


def test_a_model_whose_generation_config_processes_logits_falls_back_to_generate(tiny_model_dir):
    """A repetition penalty in the model's generation config is `generate`'s to apply: the engine steps aside."""
    model = load_model(f"hf:{tiny_model_dir}?batch_size=4")
    model.prepare()
    assert supports(model.model)
    requests = [Request.chat([{"role": "user", "content": q}], Decoding(max_tokens=12)) for q in QUESTIONS]
    plain = [g.text for g in model.generate(requests)]
    model.model.generation_config.repetition_penalty = 5.0
    assert not supports(model.model)
    penalised = [g.text for g in model.generate(requests)]
    assert penalised == plain_generate(model, requests)
    assert penalised != plain


def test_sampled_answers_follow_their_seed(tiny_model_dir):
    model = load_model(f"hf:{tiny_model_dir}")

    def ask(seed: int) -> str:
        decoding = Decoding(max_tokens=16, temperature=1.0, seed=seed)
        return model.generate([Request.chat([{"role": "user", "content": "hi"}], decoding)])[0].text

    assert ask(1) == ask(1) != ask(2)


@pytest.mark.integration
def test_greedy_answers_on_the_drift_suite_are_plain_generates():
    """48 drift prompts across its tasks, at the default batch size and at 8 rows (prompts admitted as others
    finish): every answer equals transformers' own, generated in batches of 16 in suite order."""
    requests = drift_requests(48, max_tokens=48)
    model = load_model("bundled:smollm2")
    engine = [g.text for g in model.generate(requests)]
    model.batch_size = 8
    narrow = [g.text for g in model.generate(requests)]
    reference = [answer for start in range(0, len(requests), 16)
                 for answer in plain_generate(model, requests[start : start + 16])]
    assert engine == reference
    assert narrow == reference
    assert sum(bool(a.strip()) for a in engine) > 40


def test_a_token_limit_below_one_is_refused_where_decoding_is_read():
    from undrift.errors import UndriftError

    with pytest.raises(UndriftError, match="max_tokens is 0: give at least 1"):
        Decoding.from_dict({"max_tokens": 0})
