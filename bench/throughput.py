"""Generation speed of `undrift run` against its peers on the bundled model, on the same prompts, in one run.

Every tool answers the same chat-formatted drift prompts (64 and 256 by default), greedy, at most 64 new tokens:

- undrift (`undrift run` on the model's safetensors cache, the default engine), at each batch size tried;
- EleutherAI's lm-evaluation-harness (`--model hf`, the same directory, float32), at each batch size tried;
- llama.cpp's server on the bundled GGUF with parallel slots and as many concurrent clients, if `--llama-server`
  names its binary (or `llama-server` is on PATH), at each slot count tried;
- a llama-cpp-python loop on the same GGUF, if llama-cpp-python is installed (undrift[llamacpp]);
- the machine's limit: generated tokens per second if every step ran at the measured float32 matmul peak
  (2 x parameters FLOPs per token, the prompt's cost left out, so no tool can reach it).

Wall time covers each whole command (start-up and model load included).  Then `undrift run` again on its store: a
deterministic local model is answered from the cache.  Each tool's best figure is compared.

    .venv/bin/python bench/throughput.py [--samples 64,256] [--max-tokens 64] [--llama-server PATH]

Needs `lm-eval` (`make bench` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from undrift.models.gguf_cache import bundled_gguf, converted_dir
from undrift.suites import load_suite


@dataclass
class Result:
    tool: str
    setting: str
    seconds: float
    samples: int
    tokens: int | None  # generated tokens, where the tool reports them

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.seconds if self.tokens else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="64,256")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="64,128", help="undrift's and lm-eval's")
    parser.add_argument("--slots", default="4,8", help="llama.cpp server's parallel slots (= concurrent clients)")
    parser.add_argument("--llama-server", default=shutil.which("llama-server"))
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    model_dir, gguf = converted_dir(bundled_gguf()), bundled_gguf()
    peak = matmul_peak_gflops()
    per_token = flops_per_token(model_dir)
    limit = peak * 1e9 / per_token
    print(f"model {model_dir.name}; {per_token / 1e9:.2f} GFLOP per generated token; float32 matmul peak "
          f"{peak:.0f} GFLOP/s; limit {limit:.0f} generated tokens/s", flush=True)
    for count in (int(c) for c in args.samples.split(",")):
        work = Path(tempfile.mkdtemp(prefix="undrift-bench-"))
        prompts = drift_prompts(count)
        write_inputs(work, prompts, args.max_tokens)
        print(f"\n{len(prompts)} prompts, at most {args.max_tokens} new tokens, greedy", flush=True)
        results = [undrift_run(model_dir, work, b) for b in batch_sizes]
        best = max(results, key=lambda r: r.samples_per_s)
        cached = undrift_run(model_dir, work, int(best.setting.split()[-1]), again=True)
        results += [lm_eval(model_dir, work, b) for b in batch_sizes]
        if args.llama_server:
            results += [llama_server(args.llama_server, gguf, prompts, args.max_tokens, s)
                        for s in (int(s) for s in args.slots.split(","))]
        if llama_cpp_installed():
            results.append(llama_cpp_loop(gguf, prompts, args.max_tokens))
        report(results, cached, limit)


def report(results: list[Result], cached: Result, limit: float) -> None:
    print("| tool | setting | wall s | samples/s | generated tokens/s |")
    print("|---|---|---|---|---|")
    for r in results:
        tokens = f"{r.tokens_per_s:.0f}" if r.tokens_per_s else "n/a"
        print(f"| {r.tool} | {r.setting} | {r.seconds:.1f} | {r.samples_per_s:.2f} | {tokens} |")
    print(f"| machine limit | matmul peak | | | {limit:.0f} |")
    best = {}
    for r in results:
        if r.tool not in best or r.samples_per_s > best[r.tool].samples_per_s:
            best[r.tool] = r
    ours = best["undrift"]
    for tool, peer in best.items():
        if tool != "undrift":
            print(f"RATIO undrift/{tool} samples/s (best setting each): {ours.samples_per_s / peer.samples_per_s:.2f}x")
    if ours.tokens_per_s:
        print(f"RATIO machine limit/undrift generated tokens/s: {limit / ours.tokens_per_s:.2f}x")
    print(f"RATIO undrift first run / cached re-run: {ours.seconds / cached.seconds:.1f}x "
          f"({ours.seconds:.1f} s / {cached.seconds:.2f} s)", flush=True)


def drift_prompts(count: int) -> list[str]:
    """`count` user prompts spread evenly over the drift suite's non-code tasks (cycled if the suite has fewer)."""
    suite = load_suite("drift")
    pool = [s.messages[-1]["content"] for t in suite.tasks for s in t.samples if t.name != "code"]
    step = max(1, len(pool) // count)
    chosen = pool[::step][:count]
    return (chosen * (count // len(chosen) + 1))[:count]


def write_inputs(work: Path, prompts: list[str], max_tokens: int) -> None:
    (work / "samples.jsonl").write_text("\n".join(json.dumps({"id": f"s{i}", "prompt": p, "target": ""})
                                                  for i, p in enumerate(prompts)) + "\n")
    (work / "bench.yaml").write_text(
        "name: bench\ntasks:\n- name: gen\n  samples: samples.jsonl\n  scorer: exact\n"
        f"  decoding: {{max_tokens: {max_tokens}, temperature: 0}}\n")
    (work / "lmeval").mkdir()
    (work / "lmeval" / "undrift_bench.yaml").write_text(
        "task: undrift_bench\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {work / 'samples.jsonl'}\n"
        "test_split: test\noutput_type: generate_until\ndoc_to_text: '{{prompt}}'\ndoc_to_target: '{{target}}'\n"
        f"generation_kwargs:\n  until: ['<|im_end|>']\n  max_gen_toks: {max_tokens}\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n")


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def undrift_run(model_dir: Path, work: Path, batch_size: int, again: bool = False) -> Result:
    seconds, out = timed([sys.executable, "-m", "undrift.cli", "run", str(work / "bench.yaml"), "--model",
                          f"hf:{model_dir}?batch_size={batch_size}", "--db",
                          f"sqlite:///{work / f'undrift-{batch_size}.db'}", "--json", "-q"])
    report = json.loads(out)
    task = report["tasks"][0]
    tokens = round(task["tokens_out"] * task["n"]) if task.get("tokens_out") else None
    if again:
        assert report["from_cache"] == task["n"], "the re-run was not answered from the cache"
    return Result("undrift", f"{'cached re-run, ' if again else ''}batch {batch_size}", seconds, task["n"], tokens)


def lm_eval(model_dir: Path, work: Path, batch_size: int) -> Result:
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out_dir = work / f"lm-eval-{batch_size}"
    seconds, _ = timed([sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                        f"pretrained={model_dir},dtype=float32", "--tasks", "undrift_bench", "--include_path",
                        str(work / "lmeval"), "--apply_chat_template", "--batch_size", str(batch_size), "--device",
                        "cpu", "--output_path", str(out_dir), "--log_samples"], offline)
    samples = len((work / "samples.jsonl").read_text().splitlines())
    return Result("lm-eval", f"batch {batch_size}", seconds, samples, lm_eval_tokens(model_dir, out_dir))


def lm_eval_tokens(model_dir: Path, out_dir: Path) -> int | None:
    """Tokens lm-eval generated, counted from its logged answers with the model's tokenizer."""
    from transformers import AutoTokenizer

    logged = sorted(out_dir.rglob("samples_undrift_bench*.jsonl"))
    if not logged:
        return None
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    answers = [json.loads(line)["resps"][0][0] for line in logged[-1].read_text().splitlines() if line.strip()]
    return sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)


def llama_server(binary: str, gguf: Path, prompts: list[str], max_tokens: int, slots: int) -> Result:
    """llama.cpp's server with `slots` parallel slots, asked by `slots` concurrent clients; start-up included."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    threads = str(len(os.sched_getaffinity(0)))
    started = time.perf_counter()
    server = subprocess.Popen([binary, "-m", str(gguf), "--port", str(port), "--host", "127.0.0.1", "--parallel",
                               str(slots), "-c", str(slots * 1024), "-t", threads, "-tb", threads, "--no-webui"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 120:
                sys.exit(f"{binary} did not become healthy (exit status {server.returncode})")
            time.sleep(0.05)

        def ask(prompt: str) -> int:
            answer = client.post("/v1/chat/completions", json={
                "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0,
                "cache_prompt": True})
            answer.raise_for_status()
            return answer.json()["usage"]["completion_tokens"]

        with ThreadPoolExecutor(slots) as pool:
            tokens = sum(pool.map(ask, prompts))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    return Result("llama.cpp server", f"{slots} slots, {slots} clients", seconds, len(prompts), tokens)


def llama_cpp_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def llama_cpp_loop(gguf: Path, prompts: list[str], max_tokens: int) -> Result:
    """llama-cpp-python answering one prompt after another, load included (in this process)."""
    from llama_cpp import Llama

    started = time.perf_counter()
    threads = len(os.sched_getaffinity(0))
    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    tokens = 0
    for prompt in prompts:
        answer = llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
                                            temperature=0.0)
        tokens += answer["usage"]["completion_tokens"]
    seconds = time.perf_counter() - started
    llm.close()
    return Result("llama-cpp-python loop", "1 sequence", seconds, len(prompts), tokens)


def matmul_peak_gflops() -> float:
    """The best float32 matmul rate torch reaches here, on shapes like the model's prefill (tokens x 576 x 1536)."""
    import torch

    best = 0.0
    for rows in (1024, 4096):
        a, b = torch.randn(rows, 576), torch.randn(576, 1536)
        for _ in range(3):
            a @ b
        repeats = 20
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * rows * 576 * 1536 * repeats / (time.perf_counter() - started) / 1e9)
    return best


def flops_per_token(model_dir: Path) -> float:
    """2 x the weights a generated token is multiplied by: every layer's and the output head's.  The input embedding
    is a lookup; with tied embeddings it is the head, so it counts once either way."""
    from safetensors import safe_open

    sizes = {}
    for file in model_dir.glob("*.safetensors"):
        with safe_open(str(file), "pt") as weights:
            for name in weights.keys():
                sizes[name] = _numel(weights.get_slice(name).get_shape())
    if any(name.endswith("lm_head.weight") for name in sizes):
        sizes = {name: size for name, size in sizes.items() if not name.endswith("embed_tokens.weight")}
    return 2.0 * sum(sizes.values())


def _numel(shape) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


if __name__ == "__main__":
    main()
