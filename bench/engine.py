"""The local engine against transformers' own `generate`, in one process, on the same weights and prompts.

Both answer the same chat-formatted drift prompts greedily (at most 64 new tokens) with the bundled model, already
loaded: the engine (models/engine.py) at `--rows` rows, the engine with its output head in one piece (the model's own
forward computes the logits; `split_head` is what it lacks), and a plain `generate` over left-padded batches of the
same size, sorted by length as the engine sorts them.  Printed: each one's wall time and generated tokens per second,
the ratios, and how many answers are identical (all of them, or the engine is wrong).

    .venv/bin/python bench/engine.py [--samples 64] [--rows 64] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from throughput import drift_prompts  # noqa: E402

from undrift.models import Decoding, Request, load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    model = load_model(f"bundled:smollm2?batch_size={args.rows}")
    model.prepare()
    requests = [Request.chat([{"role": "user", "content": p}], Decoding(max_tokens=args.max_tokens))
                for p in drift_prompts(args.samples)]
    prompts = [model.tokenizer(model.render(r), add_special_tokens=False)["input_ids"] for r in requests]

    model._run_engine(prompts[:8], requests[0].decoding, None)  # warm-up, so the first timed run pays no more
    started = time.perf_counter()
    engine = model._run_engine(prompts, requests[0].decoding, None)
    engine_s = time.perf_counter() - started
    split, model.head = model.head, None
    started = time.perf_counter()
    whole = model._run_engine(prompts, requests[0].decoding, None)
    whole_s = time.perf_counter() - started
    model.head = split
    started = time.perf_counter()
    plain = model._generate_padded(prompts, requests[0].decoding, None)
    plain_s = time.perf_counter() - started

    tokens = sum(g.tokens_out for g in engine)
    print(f"{len(prompts)} prompts, {args.rows} rows, at most {args.max_tokens} new tokens, greedy")
    print(f"engine:             {engine_s:.1f} s, {tokens / engine_s:.0f} generated tokens/s")
    print(f"engine, whole head: {whole_s:.1f} s, {tokens / whole_s:.0f} generated tokens/s")
    print(f"padded generate:    {plain_s:.1f} s, {sum(g.tokens_out for g in plain) / plain_s:.0f} generated tokens/s")
    print(f"identical answers:  {sum(a.text == b.text == c.text for a, b, c in zip(engine, whole, plain))} "
          f"of {len(prompts)}")
    print(f"RATIO engine/generate speed: {plain_s / engine_s:.2f}x")
    print(f"RATIO split head/whole head speed: {whole_s / engine_s:.2f}x")


if __name__ == "__main__":
    main()
