"""`undrift serve` speaks the OpenAI protocol: the official client works against it, and so does our openai: backend."""

import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from conftest import free_port, wait_for_port
from undrift.errors import UndriftError
from undrift.models import Decoding, Request, load_model
from undrift.runner import RunOptions, Runner
from undrift.server import create_app
from undrift.store import Store
from undrift.suites import load_suite


class ServerThread:
    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_for_port(self.port)
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    model = load_model(f"hf:{tiny_model_dir}")
    with ServerThread(create_app(model, model_id="tiny")) as base_url:
        yield base_url, model


def test_official_openai_client_chat_and_stream(served):
    from openai import OpenAI

    base_url, model = served
    client = OpenAI(base_url=base_url, api_key="unused")
    assert [m.id for m in client.models.list()] == ["tiny"]
    completion = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Is 17 prime?"}],
                                                max_tokens=10, temperature=0)
    direct = model.generate([Request.chat([{"role": "user", "content": "Is 17 prime?"}], Decoding(max_tokens=10))])[0]
    assert completion.choices[0].message.content == direct.text
    assert completion.system_fingerprint.startswith("fp_") and completion.usage.completion_tokens == direct.tokens_out
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Is 17 prime?"}], max_tokens=10, stream=True)]
    assert "".join(pieces) == direct.text and len([p for p in pieces if p]) > 1


def test_unknown_model_and_bad_request(served):
    import httpx

    base_url, _ = served
    assert httpx.post(f"{base_url}/chat/completions", json={"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}).status_code == 404
    assert httpx.post(f"{base_url}/chat/completions", json={"messages": []}).status_code == 422


def test_openai_backend_runs_a_suite_against_the_server(served, sqlite_url):
    base_url, model = served
    remote = load_model(f"openai:tiny@{base_url}?concurrency=4")
    store = Store.open(sqlite_url)
    report = Runner(store, progress=False).run(load_suite("drift"), remote, RunOptions(tasks=("primes",), limit=4))
    assert report.run.fingerprint["served_model"] == "tiny"
    assert report.run.fingerprint["system_fingerprint"].startswith("fp_")
    assert report.run.fingerprint["deterministic"] is False
    local = Runner(store, progress=False).run(load_suite("drift"), model, RunOptions(tasks=("primes",), limit=4))
    answers = lambda r: [row["response"] for row in store.results(r.run.id)]  # noqa: E731
    assert answers(report) == answers(local)
    again = Runner(store, progress=False).run(load_suite("drift"), remote, RunOptions(tasks=("primes",), limit=4))
    assert again.from_cache == 0 and again.generated == 4  # a hosted model is never served from cache by default
    opted = Runner(store, progress=False).run(load_suite("drift"), remote,
                                              RunOptions(tasks=("primes",), limit=4, use_cache=True))
    assert opted.from_cache == 4


def flaky_app(failures: int, status: int = 429):
    app = FastAPI()
    calls = {"n": 0}

    @app.get("/v1/models")
    def models():
        return {"data": []}

    @app.post("/v1/chat/completions")
    def chat():
        calls["n"] += 1
        if calls["n"] <= failures:
            return JSONResponse({"error": "slow down"}, status_code=status, headers={"Retry-After": "0"})
        return {"model": "m-2024", "system_fingerprint": "fp_x", "usage": {"prompt_tokens": 3, "completion_tokens": 1},
                "choices": [{"message": {"role": "assistant", "content": "[Yes]"}, "finish_reason": "stop"}]}

    return app, calls


def test_retries_on_429_and_5xx_then_succeeds():
    app, calls = flaky_app(failures=2, status=503)
    with ServerThread(app) as base_url:
        model = load_model(f"openai:m@{base_url}?retries=3")
        generation = model.generate([Request.chat([{"role": "user", "content": "q"}], Decoding())])[0]
    assert generation.text == "[Yes]" and generation.error is None and calls["n"] == 3
    assert model.fingerprint().served_model == "m-2024"


def test_gives_up_after_retries_and_records_the_error():
    app, calls = flaky_app(failures=100)
    with ServerThread(app) as base_url:
        model = load_model(f"openai:m@{base_url}?retries=2")
        generation = model.generate([Request.chat([{"role": "user", "content": "q"}], Decoding())])[0]
    assert generation.error.startswith("HTTP 429") and calls["n"] == 3


def test_unreachable_server_is_a_clear_error():
    started = time.perf_counter()
    with pytest.raises(UndriftError, match="cannot reach http://127.0.0.1:1/v1"):
        load_model("openai:m@http://127.0.0.1:1/v1")
    assert time.perf_counter() - started < 15


def test_api_key_required_for_the_default_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UndriftError, match="OPENAI_API_KEY is not set"):
        load_model("openai:gpt-4o")
