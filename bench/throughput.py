"""Samples per second of `undrift run` against EleutherAI's lm-evaluation-harness, on the bundled model.

Both tools get the same model directory (the safetensors cache of SmolLM2-135M-Instruct), the same chat-formatted
generation prompts, the same max tokens and greedy decoding, in the same run of this script; each gets the best of
the batch sizes tried.  Wall time covers the whole command (start-up and model load included) for both.  Then the
same `undrift run` again: a deterministic local model is answered from the cache.

    .venv/bin/python bench/throughput.py [--samples 64] [--max-tokens 64] [--batch-sizes 16,32]

Needs `lm-eval` (`make bench` installs it).  Prints each figure and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from undrift.models.gguf_cache import bundled_gguf, converted_dir
from undrift.suites import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="16,32")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    model_dir = converted_dir(bundled_gguf())
    work = Path(tempfile.mkdtemp(prefix="undrift-bench-"))
    prompts = _prompts(args.samples)
    (work / "samples.jsonl").write_text("\n".join(json.dumps({"id": f"s{i}", "prompt": p, "target": ""})
                                                  for i, p in enumerate(prompts)) + "\n")
    (work / "bench.yaml").write_text(
        "name: bench\ntasks:\n- name: gen\n  samples: samples.jsonl\n  scorer: exact\n"
        f"  decoding: {{max_tokens: {args.max_tokens}, temperature: 0}}\n")
    (work / "lmeval").mkdir()
    (work / "lmeval" / "undrift_bench.yaml").write_text(
        "task: undrift_bench\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {work / 'samples.jsonl'}\n"
        "test_split: test\noutput_type: generate_until\ndoc_to_text: '{{prompt}}'\ndoc_to_target: '{{target}}'\n"
        f"generation_kwargs:\n  until: ['<|im_end|>']\n  max_gen_toks: {args.max_tokens}\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n")
    print(f"{len(prompts)} prompts, max {args.max_tokens} new tokens, greedy, model {model_dir.name}", flush=True)

    lm_eval = {b: _lm_eval(model_dir, work, b) for b in batch_sizes}
    undrift = {b: _undrift(model_dir, work, b, f"first-{b}") for b in batch_sizes}
    best_lm, best_ud = min(lm_eval.values()), min(undrift.values())
    cached = _undrift(model_dir, work, min(undrift, key=undrift.get), f"first-{min(undrift, key=undrift.get)}")
    n = len(prompts)
    for b in batch_sizes:
        print(f"batch {b:>3}: lm-eval {lm_eval[b]:7.1f}s ({n / lm_eval[b]:.2f} samples/s)   "
              f"undrift {undrift[b]:7.1f}s ({n / undrift[b]:.2f} samples/s)")
    print(f"undrift re-run from cache: {cached:.2f}s ({n / cached:.1f} samples/s)")
    print(f"RATIO undrift/lm-eval throughput (best batch each): {best_lm / best_ud:.2f}x")
    print(f"RATIO undrift first run / cached re-run: {best_ud / cached:.1f}x")


def _prompts(count: int) -> list[str]:
    suite = load_suite("drift")
    pool = [s.messages[-1]["content"] for t in suite.tasks for s in t.samples if t.name != "code"]
    return pool[:: max(1, len(pool) // count)][:count]


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{result.stderr[-3000:]}")
    return elapsed


def _lm_eval(model_dir: Path, work: Path, batch_size: int) -> float:
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return _timed([sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                   f"pretrained={model_dir},dtype=float32", "--tasks", "undrift_bench", "--include_path",
                   str(work / "lmeval"), "--apply_chat_template", "--batch_size", str(batch_size), "--device", "cpu",
                   "--output_path", str(work / f"lm-eval-{batch_size}")], offline)


def _undrift(model_dir: Path, work: Path, batch_size: int, db: str) -> float:
    return _timed([sys.executable, "-m", "undrift.cli", "run", str(work / "bench.yaml"), "--model",
                   f"hf:{model_dir}?batch_size={batch_size}", "--db", f"sqlite:///{work / db}.db", "-q"])


if __name__ == "__main__":
    main()
