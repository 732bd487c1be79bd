"""What `undrift proxy` adds to each request: the same open-loop load sent to a fast local upstream directly and
through the proxy (recording every request, `--sample 1`, into a fresh SQLite store), in the same run.

The upstream is a small OpenAI-compatible server (uvicorn, its own process) answering every chat completion at once
with a fixed body; the proxy is the real `undrift proxy` command, its own process.  The load is open-loop: request i
leaves at start + i/rate whether or not earlier ones have come back, and its latency counts from that moment, so a
proxy that falls behind shows it.  Direct and proxied rounds alternate, so both meet the same neighbours' load.

    .venv/bin/python bench/proxy_overhead.py [--rate 200] [--requests 2000] [--rounds 2]

Prints p50/p99 latency and throughput of both, the p99 the proxy adds, the throughput ratio, the CPU the proxy
spent per request, and the records written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMPLETION = {"id": "c1", "object": "chat.completion", "created": 0, "model": "bench-1", "system_fingerprint": "fp_b",
              "usage": {"prompt_tokens": 12, "completion_tokens": 6},
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "The answer is 42."}}]}
REQUEST = {"model": "bench", "messages": [{"role": "user", "content": "What is six times seven? Answer briefly."}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second, open loop")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round and target")
    parser.add_argument("--rounds", type=int, default=2, help="direct/proxied rounds, alternating")
    parser.add_argument("--sample", default="1", help="the proxy's --sample (the goal is stated at 1)")
    parser.add_argument("--upstream-only", type=int, help=argparse.SUPPRESS)  # the upstream process itself
    args = parser.parse_args()
    if args.upstream_only:
        return _serve_upstream(args.upstream_only)

    work = Path(tempfile.mkdtemp(prefix="undrift-proxy-bench-"))
    upstream_port, proxy_port = _free_port(), _free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream-only", str(upstream_port)])
    db = work / "traffic.db"
    proxy = subprocess.Popen([sys.executable, "-m", "undrift.cli", "proxy", "--upstream",
                              f"http://127.0.0.1:{upstream_port}/v1", "--port", str(proxy_port), "--sample", args.sample,
                              "--db", f"sqlite:///{db}"], stderr=subprocess.DEVNULL)
    try:
        _wait_for(upstream_port)
        _wait_for(proxy_port)
        targets = {"direct": (upstream_port, upstream.pid), "proxied": (proxy_port, proxy.pid)}
        print(f"{args.requests} requests x {args.rounds} rounds per target at {args.rate:g}/s open loop, "
              f"{os.cpu_count()} CPUs; recording at --sample {args.sample} into {db.name}", flush=True)
        results = asyncio.run(_measure(targets, args))
    finally:
        for process in (proxy, upstream):  # the proxy writes what is still queued as it stops
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    records = _records(db)

    figures = {}
    for name, (latencies, throughput, failures, cpu) in results.items():
        p50, p99 = np.percentile(latencies, [50, 99]) * 1000
        figures[name] = (p50, p99, throughput)
        print(f"{name:>8}: p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   throughput {throughput:7.1f} req/s   "
              f"failed {failures}")
    print(f"CPU per request: the proxy {results['proxied'][3] * 1000:.2f} ms (its recording writer included), the bare "
          f"upstream {results['direct'][3] * 1000:.2f} ms")
    added = figures["proxied"][1] - figures["direct"][1]
    ratio = figures["proxied"][2] / figures["direct"][2]
    print(f"records written {records} of {args.requests * args.rounds + 200} proxied requests (warm-up included)")
    print(f"ADDED p99 latency through the proxy: {added:.2f} ms (goal < 2 ms)")
    print(f"RATIO proxied/direct throughput: {ratio:.3f} (goal >= 0.95)")


async def _measure(targets: dict[str, tuple[int, int | None]], args) -> dict[str, tuple[np.ndarray, float, int]]:
    """Per target: latencies, throughput, failures, and the CPU seconds per request of the process it talks to (the
    upstream for direct, the proxy for proxied)."""
    latencies = {name: [] for name in targets}
    spans = {name: 0.0 for name in targets}
    failures = {name: 0 for name in targets}
    cpu = {name: 0.0 for name in targets}
    for name, (port, _) in targets.items():  # warm up: connections, imports, the store's first write
        await _load(port, args.rate, 200)
    for _ in range(args.rounds):
        for name, (port, pid) in targets.items():
            before = _cpu_s(pid)
            times, span, failed = await _load(port, args.rate, args.requests)
            cpu[name] += _cpu_s(pid) - before
            latencies[name] += times
            spans[name] += span
            failures[name] += failed
    return {name: (np.array(latencies[name]), len(latencies[name]) / spans[name], failures[name],
                   cpu[name] / (args.requests * args.rounds)) for name in targets}


async def _load(port: int, rate: float, count: int) -> tuple[list[float], float, int]:
    """`count` requests, request i sent at start + i/rate; latency from that moment to the whole answer.

    A minimal HTTP/1.1 keep-alive client on asyncio streams (a pool of connections, one request at a time on each),
    so the load generator spends little of the CPU the two servers share with it."""
    body = json.dumps(REQUEST).encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
               f"authorization: Bearer bench\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    start = time.perf_counter() + 0.05

    async def one(i: int) -> float | None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        for reused in (bool(idle), False):  # a kept-alive connection the server has closed meanwhile: a new one
            reader, writer = idle.pop() if reused else await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                answer = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, StopIteration):
                writer.close()
                if reused:
                    continue
                return None
            idle.append((reader, writer))
            return time.perf_counter() - due if head.startswith(b"HTTP/1.1 200") and b'"choices"' in answer else None

    outcomes = await asyncio.gather(*(one(i) for i in range(count)))
    span = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    done = [o for o in outcomes if o is not None]
    return done, span, count - len(done)


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds so far of a process and its children (the proxy's recording writer), from Linux's
    /proc; 0 where there is none to read."""
    if pid is None:
        return 0.0
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _serve_upstream(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    answer = json.dumps(COMPLETION).encode()

    async def chat(request):
        await request.body()
        return Response(answer, media_type="application/json")

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _records(db: Path) -> int:
    from undrift.store import Store
    from undrift.store.traffic import count_traffic

    return count_traffic(Store.open(f"sqlite:///{db}"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"nothing listened on port {port}")


if __name__ == "__main__":
    main()
