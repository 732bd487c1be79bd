"""The local engine's prefill (models/prefill.py) changes the cost of generation, never the answers: greedy answers are
those of a plain padded `generate` on the same weights, on the tiny Llama and on the drift suite with the bundled
model; sampled answers still follow their seed."""

from __future__ import annotations

import pytest
import torch

from undrift.models import Decoding, Request, load_model
from undrift.models.prefill import MIN_SHARED, shared_prefix
from undrift.suites import load_suite


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


def test_greedy_answers_are_plain_generates_on_the_tiny_model(tiny_model_dir):
    questions = ["hi", "Is 17 a prime number?", "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7",
                 "def add(a, b): return a + b", "Pick one (A) (B) (C)", "x"] * 3
    requests = [Request.chat([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q}],
                             Decoding(max_tokens=12)) for q in questions]
    model = load_model(f"hf:{tiny_model_dir}?batch_size=32")
    engine = [g.text for g in model.generate(requests)]
    # the engine sorts by length; the reference is one padded batch in the given order
    assert engine == plain_generate(model, requests)
    assert len(set(engine)) > 3  # the prompts really differ, so a mix-up of rows would show


def test_prompts_sharing_nothing_are_prefilled_by_their_own_tokens_alone(tiny_model_dir):
    """Half the prompts carry a system message and half do not: too little in common to prefill once."""
    requests = [Request.chat(([{"role": "system", "content": "Be brief."}] if i % 2 else [])
                             + [{"role": "user", "content": q}], Decoding(max_tokens=10))
                for i, q in enumerate(["hi", "Is 17 a prime number?", "0 1 2 3 4 5", "def add(a, b):", "(A) (B)"])]
    model = load_model(f"hf:{tiny_model_dir}")
    model.prepare()
    prompts = [model.tokenizer(model.render(r), add_special_tokens=False)["input_ids"] for r in requests]
    assert shared_prefix(prompts) == 0
    assert [g.text for g in model.generate(requests)] == plain_generate(model, requests)


def test_a_prompt_of_one_token_falls_back_to_plain_padding(tiny_model_dir):
    """Nothing shared and a prompt with no token but its last: the layout does not apply, and generate still works."""
    model = load_model(f"hf:{tiny_model_dir}")
    model.prepare()
    one = model.tokenizer("<|im_start|>", add_special_tokens=False)["input_ids"]
    longer = model.tokenizer("Is 17 a prime number?", add_special_tokens=False)["input_ids"]
    from undrift.models.prefill import prefill

    assert len(one) == 1
    assert prefill(model.model, torch, [longer, one], model.tokenizer.pad_token_id, "cpu") is None


def test_sampled_answers_follow_their_seed(tiny_model_dir):
    model = load_model(f"hf:{tiny_model_dir}")

    def ask(seed: int) -> str:
        decoding = Decoding(max_tokens=16, temperature=1.0, seed=seed)
        return model.generate([Request.chat([{"role": "user", "content": "hi"}], decoding)])[0].text

    assert ask(1) == ask(1) != ask(2)


@pytest.mark.integration
def test_greedy_answers_on_the_drift_suite_are_plain_generates():
    """48 drift prompts across its tasks, at the default batch size: every answer equals transformers' own."""
    requests = drift_requests(48, max_tokens=48)
    model = load_model("bundled:smollm2")
    engine = [g.text for g in model.generate(requests)]
    reference = [answer for start in range(0, len(requests), 16)
                 for answer in plain_generate(model, requests[start : start + 16])]
    assert engine == reference
    assert sum(bool(a.strip()) for a in engine) > 40
