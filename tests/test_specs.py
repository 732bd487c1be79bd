import pytest

from undrift.errors import UndriftError
from undrift.models import ModelSpec
from helpers import ServerThread


@pytest.mark.parametrize(
    "text, backend, target, lora, base_url",
    [
        ("bundled:smollm2", "bundled", "smollm2", None, None),
        ("hf:/models/base+lora:/adapters/a1", "hf", "/models/base", "/adapters/a1", None),
        ("gguf:model.Q4.gguf", "gguf", "model.Q4.gguf", None, None),
        ("openai:gpt-4o@http://localhost:8000/v1", "openai", "gpt-4o", None, "http://localhost:8000/v1"),
        ("openai:gpt-4o", "openai", "gpt-4o", None, None),
    ],
)
def test_parse(text, backend, target, lora, base_url):
    spec = ModelSpec.parse(text)
    assert (spec.backend, spec.target, spec.lora, spec.base_url) == (backend, target, lora, base_url)
    assert ModelSpec.parse(str(spec)) == spec


def test_options_roundtrip_with_spaces():
    spec = ModelSpec.parse("bundled:smollm2?system=Answer briefly, please.&quant=int8")
    assert spec.option("system") == "Answer briefly, please."
    assert spec.option("quant") == "int8"
    assert ModelSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("llama:foo", "unknown model spec"),
        ("smollm2", "unknown model spec"),
        ("bundled:gpt2", "unknown bundled model"),
        ("hf:", "names no model"),
        ("bundled:smollm2?colour=red", "unknown option 'colour'"),
        ("openai:gpt@localhost:8000", "bad server address"),
        ("bundled:smollm2?system=Hi&system_mode=append", "unknown system_mode 'append'"),
    ],
)
def test_bad_specs(text, fragment):
    with pytest.raises(UndriftError, match=fragment):
        ModelSpec.parse(text)


def test_hidden_system_prompt_reaches_an_openai_server_in_front_of_the_suites_own():
    from fastapi import FastAPI, Request as HttpRequest

    from undrift.models import Decoding, Request, load_model

    app, seen = FastAPI(), []

    @app.get("/v1/models")
    def models():
        return {"data": []}

    @app.post("/v1/chat/completions")
    async def chat(request: HttpRequest):
        seen.append((await request.json())["messages"])
        return {"model": "m", "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}

    asked = Request.chat([{"role": "system", "content": "Suite rules."}, {"role": "user", "content": "q"}], Decoding())
    with ServerThread(app) as base_url:
        prepend = load_model(f"openai:m@{base_url}?system=Hidden.")
        replace = load_model(f"openai:m@{base_url}?system=Hidden.&system_mode=replace")
        prepend.generate([asked]), replace.generate([asked])
    assert seen[0] == [{"role": "system", "content": "Hidden.\n\nSuite rules."}, {"role": "user", "content": "q"}]
    assert seen[1] == [{"role": "system", "content": "Hidden."}, {"role": "user", "content": "q"}]
    assert prepend.fingerprint().options["system_mode"] == "prepend"
    assert prepend.fingerprint().identity() != replace.fingerprint().identity()


def test_served_latency_is_the_answering_attempt_not_undrifts_waiting():
    """A request retried after a 503 (Retry-After: 1) is timed from the attempt that answered; one that waited in
    undrift's queue (concurrency 1) is timed from when it was sent."""
    import time

    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from undrift.models import Decoding, Request, load_model

    app, attempts = FastAPI(), {}

    @app.get("/v1/models")
    def models():
        return {"data": []}

    @app.post("/v1/chat/completions")
    def chat(body: dict):
        prompt = body["messages"][-1]["content"]
        attempts[prompt] = attempts.get(prompt, 0) + 1
        if prompt == "retry me" and attempts[prompt] == 1:
            return JSONResponse({"error": "busy"}, status_code=503, headers={"Retry-After": "1"})
        time.sleep(0.2)
        return {"model": "m", "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}

    with ServerThread(app) as base_url:
        model = load_model(f"openai:m@{base_url}?concurrency=1")
        asked = [Request.chat([{"role": "user", "content": text}], Decoding())
                 for text in ("retry me", "a", "b", "c")]
        started = time.perf_counter()
        answers = model.generate(asked)
        total = time.perf_counter() - started
    assert attempts["retry me"] == 2 and total > 1.8  # 1 s of Retry-After and four answers of 0.2 s, one at a time
    assert all(0.2 <= a.latency_s < 0.6 for a in answers), [a.latency_s for a in answers]
