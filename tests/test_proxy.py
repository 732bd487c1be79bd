"""`undrift proxy`: real uvicorn servers on 127.0.0.1 (an upstream, the proxy), the official client, a real SQLite
store, and the CLI in a subprocess for its start-up errors and one run from end to end."""

import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import anyio
import httpx
import openai
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from helpers import free_port, undrift, wait_for_port
from undrift.proxy import ProxyOptions, create_app, parse_size
from undrift.store import Store
from undrift.store.traffic import count_traffic, read_traffic

SECRET_KEY = "sk-callerSecret0123456789abcdefXYZ"
COMPLETION = {"id": "c1", "object": "chat.completion", "model": "m-served-2024", "system_fingerprint": "fp_up",
              "usage": {"prompt_tokens": 7, "completion_tokens": 5},
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "Write to bob@example.org today"}}]}
STREAM_PARTS = ["Hel", "lo ", "carol@example.net"]


class Upstream:
    """An OpenAI-shaped server that keeps what reached it: chat (plain, streamed, or 400 on bad JSON), models, and
    an echo of any other path."""

    def __init__(self, first_delay_s: float = 0.2):
        self.seen: list[dict] = []
        self.first_delay_s = first_delay_s
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                     Route("/v1/models", self.models), Route("/{path:path}", self.echo,
                                                                             methods=["GET", "POST", "DELETE"])])

    async def keep(self, request: Request) -> bytes:
        body = await request.body()
        self.seen.append({"path": request.url.path, "query": request.url.query, "body": body,
                          "headers": {k.lower(): v for k, v in request.headers.items()}})
        return body

    async def chat(self, request: Request):
        try:
            data = json.loads(await self.keep(request))
        except ValueError:
            return JSONResponse({"error": {"message": "We could not parse the JSON body of your request.",
                                           "type": "invalid_request_error"}}, status_code=400)
        if not data.get("stream"):
            return JSONResponse(COMPLETION)

        async def events():
            head = {"id": "c2", "object": "chat.completion.chunk", "created": 1, "model": "m-served-2024",
                    "system_fingerprint": "fp_up"}
            yield _sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
            for i, part in enumerate(STREAM_PARTS):
                await anyio.sleep(self.first_delay_s if i == 0 else 0.15)
                yield _sse({**head, "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}]})
            yield _sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            yield _sse({**head, "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(self, request: Request):
        await self.keep(request)
        return JSONResponse({"object": "list", "data": [{"id": "m-served-2024", "object": "model"}]})

    async def echo(self, request: Request):
        await self.keep(request)
        return JSONResponse({"path": request.url.path, "query": request.url.query},
                            headers={"x-upstream": "yes", "set-cookie": "a=1"})


def _sse(chunk: dict) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class Serving:
    """A real uvicorn server on 127.0.0.1, port 0, in a thread."""

    def __init__(self, app):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error",
                                                    server_header=False, date_header=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def upstream():
    served = Upstream()
    with Serving(served.app) as url:
        served.url = url
        yield served


@pytest.fixture
def store(tmp_path):
    return Store.open(f"sqlite:///{tmp_path / 'traffic.db'}")


def proxy(store, upstream_url: str, **options):
    return Serving(create_app(ProxyOptions(upstream=upstream_url + "/v1", **options), store))


def wait_until(condition, timeout: float = 10.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def metric(base_url: str, name: str, labels: str = "") -> float:
    text = httpx.get(base_url + "/metrics").text
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_forwards_unchanged_and_records_the_completion(upstream, store):
    with proxy(store, upstream.url, token="pt") as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key=SECRET_KEY,
                               default_headers={"Proxy-Authorization": "Bearer pt", "X-Undrift-Tag": "checkout"})
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "Write to bob@example.org today"  # the caller sees it all
        raw = b'{"model": "m",   "messages": [{"role": "user", "content": "as sent"}]}'
        sent = httpx.post(base + "/v1/chat/completions?api-version=7", content=raw,
                          headers={"X-Undrift-Token": "pt", "X-Custom": "kept", "Authorization": "Bearer up-key",
                                   "Content-Type": "application/json"})
        assert sent.status_code == 200 and sent.json() == COMPLETION
        wait_until(lambda: count_traffic(store) == 2)
    first, second = upstream.seen
    assert first["headers"]["authorization"] == f"Bearer {SECRET_KEY}"  # the caller's credential goes upstream
    assert not {"proxy-authorization", "x-undrift-tag", "x-undrift-token"} & set(first["headers"])
    assert second["body"] == raw and second["query"] == "api-version=7" and second["headers"]["x-custom"] == "kept"
    assert second["headers"]["authorization"] == "Bearer up-key" and second["headers"]["host"].startswith("127.0.0.1")
    record = read_traffic(store, tag="checkout")[0]
    assert (record.method, record.path, record.status, record.stream) == ("POST", "/v1/chat/completions", 200, False)
    assert (record.model, record.served_model, record.system_fingerprint) == ("m", "m-served-2024", "fp_up")
    assert (record.tokens_in, record.tokens_out, record.finish_reason) == (7, 5, "stop")
    assert record.request["messages"] == [{"role": "user", "content": "hi"}] and record.ttft_s is None
    assert record.response_text == "Write to [REDACTED] today" and record.response["model"] == "m-served-2024"
    assert record.latency_s > 0 and record.error is None and record.upstream == upstream.url + "/v1"
    assert read_traffic(store)[1].tag is None and read_traffic(store)[1].request["messages"][0]["content"] == "as sent"


def test_streams_pass_through_as_they_come_and_are_recorded_assembled(upstream, store):
    with proxy(store, upstream.url) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="k")
        started = time.perf_counter()
        arrivals, texts = [], []
        for chunk in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                    stream=True, stream_options={"include_usage": True}):
            arrivals.append(time.perf_counter() - started)
            texts.extend(c.delta.content or "" for c in chunk.choices)
        assert "".join(texts) == "".join(STREAM_PARTS)
        first_text = arrivals[1]  # after the role chunk, the first content chunk
        assert first_text < arrivals[-1] - 0.2  # chunk by chunk, not held back until the end
        wait_until(lambda: count_traffic(store) == 1)
        assert metric(base, "undrift_proxy_time_to_first_token_seconds_count") == 1
    record = read_traffic(store)[0]
    assert record.stream and record.status == 200 and record.finish_reason == "stop"
    assert 0.2 <= record.ttft_s < record.latency_s and record.latency_s >= 0.5
    assert record.response_text == "Hello [REDACTED]" and (record.tokens_in, record.tokens_out) == (4, 3)
    assert record.response["object"] == "chat.completion" and record.served_model == "m-served-2024"
    assert record.response["choices"][0]["message"] == {"role": "assistant", "content": "Hello [REDACTED]"}
    assert record.system_fingerprint == "fp_up" and record.request["stream"] is True


def test_models_and_other_paths_pass_through(upstream, store):
    with proxy(store, upstream.url) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="k")
        assert [m.id for m in client.models.list()] == ["m-served-2024"]
        other = httpx.get(base + "/v1/files/f-1/content?purpose=x")
        assert other.json() == {"path": "/v1/files/f-1/content", "query": "purpose=x"}
        assert other.headers["x-upstream"] == "yes" and other.headers["set-cookie"] == "a=1"
        assert httpx.get(base + "/health").json()["path"] == "/health"  # outside /v1: the upstream's host, as is
        assert httpx.delete(base + "/v1/files/f-1").status_code == 200
        wait_until(lambda: count_traffic(store) == 4)
    assert [r.path for r in read_traffic(store)] == ["/v1/models", "/v1/files/f-1/content", "/health", "/v1/files/f-1"]
    assert read_traffic(store)[0].response["data"][0]["id"] == "m-served-2024"


def test_sampling_records_a_share(upstream, store, tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    with proxy(store, upstream.url, sample=0.0) as base:
        assert all(httpx.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(10))
        assert metric(base, "undrift_proxy_requests_total", '{status="200"}') == 10
    half = Store.open(f"sqlite:///{tmp_path / 'half.db'}")
    with proxy(half, upstream.url, sample=0.5) as base, httpx.Client() as client:
        assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(100))
        wait_until(lambda: metric(base, "undrift_proxy_records_written_total") == count_traffic(half))
    assert count_traffic(store) == 0 and 25 <= count_traffic(half) <= 75


def test_credentials_and_personal_data_never_reach_the_store(upstream, tmp_path):
    path = tmp_path / "secret.db"
    store = Store.open(f"sqlite:///{path}")
    secrets = [SECRET_KEY, "alice@example.com", "AKIAIOSFODNN7EXAMPLE", "ACME-99812", "proxy-token-1",
               "Bearer abcdefgh12345678", "bob@example.org"]
    prompt = f"my key is {SECRET_KEY}, mail alice@example.com, aws AKIAIOSFODNN7EXAMPLE, order ACME-99812"
    with proxy(store, upstream.url, token="proxy-token-1", redact=(r"ACME-\d+",)) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key=SECRET_KEY,
                               default_headers={"Proxy-Authorization": "Bearer proxy-token-1",
                                                "X-Undrift-Tag": "alice@example.com"})
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt},
                                                            {"role": "user", "content": "Bearer abcdefgh12345678"}])
        wait_until(lambda: count_traffic(store) == 1)
    record = read_traffic(store)[0]
    assert record.request["messages"][0]["content"] == ("my key is [REDACTED], mail [REDACTED], aws [REDACTED], "
                                                        "order [REDACTED]")
    assert record.tag == "[REDACTED]"
    store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("secret.db"))
    assert b"[REDACTED]" in stored
    assert not [s for s in secrets if s.encode() in stored]


REFUSED = ("missing or wrong proxy token: send `Proxy-Authorization: Bearer TOKEN` (or `X-Undrift-Token: TOKEN`) "
           "with the proxy's --token; your Authorization header goes on to the upstream")


def test_proxy_token_is_required_and_not_the_callers_authorization(upstream, store):
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    with proxy(store, upstream.url, token="pt") as base:
        for headers in ({}, {"Proxy-Authorization": "Bearer wrong"}, {"Authorization": "Bearer pt"},
                        {"X-Undrift-Token": "Bearer pt"}):
            refused = httpx.post(base + "/v1/chat/completions", json=body, headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
            assert refused.json()["error"]["message"] == REFUSED
        with pytest.raises(openai.AuthenticationError, match="Proxy-Authorization"):
            openai.OpenAI(base_url=base + "/v1", api_key="pt").models.list()
        assert httpx.post(base + "/v1/chat/completions", json=body, headers={"X-Undrift-Token": "pt"}).status_code == 200
        tabbed = httpx.post(base + "/v1/chat/completions", json=body, headers={"Proxy-Authorization": "Bearer\tpt"})
        assert tabbed.status_code == 200  # any whitespace separates the scheme from the token
        assert httpx.get(base + "/metrics").status_code == 200  # counts only, open to Prometheus
        assert metric(base, "undrift_proxy_requests_total", '{status="401"}') == 5.0  # refusals are counted too
    assert len(upstream.seen) == 2


def test_oversized_body_is_413_and_never_forwarded(upstream, store):
    with proxy(store, upstream.url, max_body_bytes=1000) as base:
        body = {"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]}
        refused = httpx.post(base + "/v1/chat/completions", json=body)
        assert refused.status_code == 413 and "--max-body" in refused.json()["error"]["message"]
        chunked = httpx.post(base + "/v1/chat/completions", content=iter([b"x" * 600, b"y" * 600]))  # no length
        assert chunked.status_code == 413
    assert upstream.seen == [] and parse_size("4MB") == 4_000_000 and parse_size("512KB") == 512_000


def test_upstream_refusing_is_502_and_hanging_is_504(store):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused_port = closed.getsockname()[1]
    with proxy(store, f"http://127.0.0.1:{refused_port}") as base:
        answer = httpx.post(base + "/v1/chat/completions", json={"model": "m"})
        assert answer.status_code == 502 and answer.json()["error"]["type"] == "server_error"
        assert "cannot reach the upstream" in answer.json()["error"]["message"]
        assert metric(base, "undrift_proxy_upstream_errors_total", '{kind="refused"}') == 1
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        with proxy(store, f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.5) as base:
            started = time.perf_counter()
            answer = httpx.post(base + "/v1/chat/completions", json={"model": "m"}, timeout=10)
            assert answer.status_code == 504 and time.perf_counter() - started < 3
            assert "did not answer within 0.5 s" in answer.json()["error"]["message"]
            assert httpx.get(base + "/metrics").status_code == 200  # the proxy itself is not stuck
            wait_until(lambda: count_traffic(store) == 2)
    assert [(r.status, r.model) for r in read_traffic(store)] == [(502, "m"), (504, "m")]
    assert all(r.error for r in read_traffic(store))


def test_malformed_json_is_forwarded_and_recorded_without_a_request(upstream, store):
    with proxy(store, upstream.url) as base:
        answer = httpx.post(base + "/v1/chat/completions", content=b'{"model": broken',
                            headers={"content-type": "application/json"})
        assert answer.status_code == 400 and "could not parse" in answer.json()["error"]["message"]
        wait_until(lambda: count_traffic(store) == 1)
    assert upstream.seen[0]["body"] == b'{"model": broken'
    record = read_traffic(store)[0]
    assert record.request is None and record.status == 400 and "could not parse" in record.error


def test_store_deleted_or_locked_mid_traffic_fails_no_request(upstream, tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    path = tmp_path / "gone.db"
    store = Store.open(f"sqlite:///{path}")
    with proxy(store, upstream.url) as base, httpx.Client() as client:
        assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(5))
        wait_until(lambda: count_traffic(store) == 5)
        for leftover in tmp_path.glob("gone.db*"):
            leftover.unlink()
        assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(10))
        wait_until(lambda: metric(base, "undrift_proxy_records_dropped_total") == 10)
        assert metric(base, "undrift_proxy_records_written_total") == 5

    locked_path = tmp_path / "locked.db"
    locked = Store.open(f"sqlite:///{locked_path}")
    holder = sqlite3.connect(locked_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with proxy(locked, upstream.url, queue_size=3, batch_size=1) as base, httpx.Client() as client:
            started = time.perf_counter()
            assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(20))
            assert time.perf_counter() - started < 5  # nobody waited on the lock
            assert metric(base, "undrift_proxy_records_dropped_total") >= 15
            assert metric(base, "undrift_proxy_queue_depth") == 3
            holder.execute("ROLLBACK")
            wait_until(lambda: metric(base, "undrift_proxy_queue_depth") == 0, timeout=20)
            written = metric(base, "undrift_proxy_records_written_total")
            assert written + metric(base, "undrift_proxy_records_dropped_total") == 20
    finally:
        holder.close()
    assert count_traffic(locked) == written >= 3


def test_metrics_in_prometheus_format(upstream, store):
    with proxy(store, upstream.url) as base:
        httpx.post(base + "/v1/chat/completions", json={"model": "m", "messages": []})
        httpx.get(base + "/v1/models")
        wait_until(lambda: metric(base, "undrift_proxy_records_written_total") == 2)
        page = httpx.get(base + "/metrics")
    assert page.headers["content-type"].startswith("text/plain")
    text = page.text
    for expected in ('undrift_proxy_requests_total{status="200"} 2.0', "undrift_proxy_request_duration_seconds_bucket",
                     "undrift_proxy_request_duration_seconds_count 2.0", "undrift_proxy_time_to_first_token_seconds",
                     "undrift_proxy_records_dropped_total 0.0", "undrift_proxy_queue_depth 0.0",
                     "undrift_proxy_upstream_errors_total"):
        assert expected in text, expected


@pytest.mark.parametrize("args, fragment", [
    (["--host", "0.0.0.0"], "--token"),
    (["--redact", "(unclosed"], "redact (--redact) '(unclosed' is not a valid regular expression"),
    (["--redact", "x*"], "matches empty text"),
    (["--max-body", "lots"], "--max-body 'lots' is not a size"),
    (["--upstream", "ftp://host/v1"], "is not an http(s) URL"),
    (["--upstream", "http://user:hunter2@127.0.0.1:9/v1"], "must not hold credentials"),
])
def test_proxy_start_up_errors_are_one_line(tmp_path, args, fragment):
    options = {"--upstream": "http://127.0.0.1:9/v1"}
    rest = list(args)
    if rest[0] == "--upstream":
        options["--upstream"] = rest[1]
        rest = []
    flat = [part for pair in options.items() for part in pair]
    result = undrift("proxy", *flat, *rest, "--db", f"sqlite:///{tmp_path / 'u.db'}", cwd=tmp_path)
    assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "u.db").exists()


def test_proxy_command_end_to_end(upstream, tmp_path):
    port = free_port()
    db = tmp_path / "cli.db"
    command = [sys.executable, "-m", "undrift.cli", "proxy", "--upstream", upstream.url + "/v1", "--port", str(port),
               "--db", f"sqlite:///{db}", "--redact", "ORDER-[0-9]+", "--host", "0.0.0.0"]
    server = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "UNDRIFT_PROXY_TOKEN": "cli-token"})
    try:
        wait_for_port(port)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=SECRET_KEY,
                               default_headers={"Proxy-Authorization": "Bearer cli-token", "X-Undrift-Tag": "e2e"})
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "ORDER-1 status?"}])
        assert answer.system_fingerprint == "fp_up"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    assert f"http://0.0.0.0:{port}/v1" in server.stderr.read()
    records = read_traffic(Store.open(f"sqlite:///{db}"))
    assert [(r.tag, r.request["messages"][0]["content"]) for r in records] == [("e2e", "[REDACTED] status?")]


def test_port_0_prints_the_port_bound(upstream, tmp_path):
    command = [sys.executable, "-m", "undrift.cli", "proxy", "--upstream", upstream.url + "/v1", "--port", "0",
               "--db", f"sqlite:///{tmp_path / 'p0.db'}"]
    server = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        assert port != 0, line
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"][0]["id"] == "m-served-2024"
        assert f"metrics at http://127.0.0.1:{port}/metrics" in line
        with httpx.Client() as client:  # no answer waits for the client's delayed ACK (Nagle on: about 40 ms each)
            times = []
            for _ in range(15):
                started = time.perf_counter()
                assert client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "m"}).is_success
                times.append(time.perf_counter() - started)
        assert sorted(times)[7] < 0.025, times
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def test_a_taken_port_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = undrift("proxy", "--upstream", "http://127.0.0.1:9/v1", "--port", str(taken.getsockname()[1]),
                         "--db", f"sqlite:///{tmp_path / 't.db'}", cwd=tmp_path)
    assert result.returncode == 2 and "cannot listen on 127.0.0.1:" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def writers() -> list:
    """The recording writer processes this test process started (the proxies here run in its threads)."""
    return [p for p in multiprocessing.active_children() if p.name == "undrift-proxy-writer"]


def test_writer_killed_mid_traffic_fails_no_request_and_is_replaced(upstream, tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    path = tmp_path / "killed.db"
    store = Store.open(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the writer takes these records and is stuck on the lock with them
    try:
        with proxy(store, upstream.url) as base, httpx.Client() as client:
            assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(5))
            wait_until(lambda: metric(base, "undrift_proxy_queue_depth") == 5)
            (first,) = writers()
            os.kill(first.pid, signal.SIGKILL)
            assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(5))
            wait_until(lambda: [w.pid for w in writers()] not in ([], [first.pid]))  # another writer took over
            holder.execute("ROLLBACK")
            assert all(client.post(base + "/v1/chat/completions", json=body).status_code == 200 for _ in range(5))
            wait_until(lambda: metric(base, "undrift_proxy_records_written_total")
                       + metric(base, "undrift_proxy_records_dropped_total") == 15, timeout=20)
            dropped, written = (metric(base, f"undrift_proxy_records_{n}_total") for n in ("dropped", "written"))
            (second,) = writers()
    finally:
        holder.close()
    assert second.pid != first.pid and dropped >= 5 and written >= 5 and count_traffic(store) == written
    assert writers() == []  # the proxy stopped: its writer with it


def test_no_writer_outlives_a_killed_proxy(upstream, tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "undrift.cli", "proxy", "--upstream", upstream.url + "/v1",
                               "--port", str(port), "--db", f"sqlite:///{tmp_path / 'k.db'}"], cwd=tmp_path,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "m"}).status_code == 200
        wait_until(lambda: children(server.pid))
        left = children(server.pid)
        server.kill()
        server.wait()
        wait_until(lambda: not [pid for pid in left if _alive(pid)])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in os.listdir("/proc"):
        if stat.isdigit() and _stat(int(stat)) and _stat(int(stat))[1] == str(pid):
            found.append(int(stat))
    return found


def _stat(pid: int) -> list[str]:
    """(state, parent pid) of a process, [] when there is none."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[:2]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    return _stat(pid)[:1] not in ([], ["Z"])


def test_paths_and_tags_are_recorded_as_sent_and_redacted(upstream, store):
    with proxy(store, upstream.url) as base:
        httpx.post(base + "/v1/chat/completions/alice@example.com", json={"model": "m", "messages": []},
                   headers={"X-Undrift-Tag": "caf\u00e9 \u2713".encode()})
        wait_until(lambda: count_traffic(store) == 1)
    record = read_traffic(store)[0]
    assert "alice@example.com" not in record.path and "[REDACTED]" in record.path
    assert record.tag == "caf\u00e9 \u2713"  # UTF-8, as the caller sent it


def test_stream_assembly_is_linear_and_bounded():
    from undrift.proxy.sse import StreamAssembler

    split = StreamAssembler()
    events = b"".join(_sse({"choices": [{"index": 0, "delta": {"content": "ab"}}]}).replace(b"\n", b"\r\n")
                      for _ in range(3))
    for start in range(0, len(events), 5):  # separators and CRLFs cut across chunks
        split.feed(events[start:start + 5])
    assert split.completion()["choices"][0]["message"]["content"] == "ababab"
    flood = StreamAssembler()
    started = time.perf_counter()
    for _ in range(256):  # 16 MB without one event separator
        flood.feed(b"x" * 65536)
    flood.feed(b"\n\n" + _sse({"choices": [{"index": 0, "delta": {"content": "after"}}]}))
    assert time.perf_counter() - started < 2.0 and flood.truncated
    assert flood.completion()["choices"][0]["message"]["content"] == "after"
