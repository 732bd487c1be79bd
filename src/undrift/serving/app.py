"""The OpenAI-compatible HTTP server around a local model: routes, request flights, and a server that stops promptly.

`/v1/models`, `/v1/chat/completions` and `/v1/completions` (plain and streamed) as the official `openai` client
expects them.  Every response carries a `system_fingerprint` derived from the model's fingerprint, so a watcher can see
when the weights, adapter or hidden options behind the endpoint change.  Generation happens in the batching engine;
a request whose client goes away is cancelled, and one that runs past `timeout_s` ends with finish_reason "length"
and the text so far (every OpenAI client reads that as a cut answer; an error would make them retry the same work).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.requests import Request as HttpRequest

from ..models.base import Decoding, Request, ServableModel
from .batching import SHUTTING_DOWN, Engine, Sampling, Update
from .errors import ApiError, install
from .guard import Guard
from .responses import Choice, Envelope, chat_choice, chat_logprobs, completion_choice, completion_logprobs, sse, usage
from .schema import ChatRequest, CompletionRequest

DEFAULT_CHAT_MAX_TOKENS = 256
DEFAULT_COMPLETION_MAX_TOKENS = 16  # OpenAI's default for the legacy endpoint


@dataclass(frozen=True)
class ServeOptions:
    """Limits of one server.  `max_prompt_tokens` None means the model's context length less one."""

    token: str | None = None
    timeout_s: float = 300.0
    max_prompt_tokens: int | None = None
    max_body_bytes: int = 1_000_000
    max_batch: int | None = None


def create_app(model: ServableModel, model_id: str, options: ServeOptions = ServeOptions(),
               aliases: tuple[str, ...] = ()) -> FastAPI:
    """An app serving `model` as `model_id`; requests may also name it by one of `aliases`."""
    fingerprint = "fp_" + model.fingerprint().digest()[:12]
    context_length = _context_length(model)
    max_prompt_tokens = min(options.max_prompt_tokens or context_length - 1, context_length - 1)
    engine = Engine(model, max_batch=options.max_batch or model.batch_size, context_length=context_length)
    names = {model_id, *aliases}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        engine.stop()

    app = FastAPI(title="undrift model server", lifespan=lifespan)
    app.state.engine = engine
    install(app)
    app.add_middleware(Guard, token=options.token, max_body_bytes=options.max_body_bytes)
    card = {"id": model_id, "object": "model", "created": 0, "owned_by": "undrift"}

    def check_model(name: str | None) -> None:
        if name and name not in names:
            raise ApiError(404, f"the model {name!r} is not served here; use {model_id!r}", param="model",
                           code="model_not_found")

    def tokenize(text: str, special: bool, param: str) -> list[int]:
        ids = model.tokenizer(text, add_special_tokens=special)["input_ids"]
        if len(ids) > max_prompt_tokens:
            raise ApiError(400, f"the prompt has {len(ids)} tokens, over this server's limit of {max_prompt_tokens} "
                                "(--max-prompt-tokens)", param=param, code="context_length_exceeded")
        return ids

    def envelope(kind: str, prefix: str) -> Envelope:
        return Envelope(f"{prefix}-{uuid.uuid4().hex[:24]}", kind, int(time.time()), model_id, fingerprint)

    @app.get("/health")
    def health() -> dict:
        """For load balancers and for seeing that a cancelled request no longer generates."""
        return {"status": "ok", **engine.load()}

    @app.get("/v1/models")
    def list_models() -> dict:
        return {"object": "list", "data": [card]}

    @app.get("/v1/models/{name:path}")
    def get_model(name: str) -> dict:
        check_model(name)
        return card

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: HttpRequest):
        body.refuse_unsupported()
        check_model(body.model)
        chat_request = Request.chat(body.message_dicts(), Decoding())
        prompt_ids = await run_in_threadpool(lambda: tokenize(model.render(chat_request), special=False, param="messages"))
        flight = Flight(engine, options.timeout_s)
        flight.start(prompt_ids, body.samplings(body.max_new_tokens(DEFAULT_CHAT_MAX_TOKENS),
                                                body.top_logprobs_wanted()))
        with_logprobs = bool(body.logprobs)
        if body.stream:
            return _streaming(_chat_events(flight, envelope("chat.completion.chunk", "chatcmpl"), len(prompt_ids),
                                           with_logprobs, body.include_usage()))
        choices = await flight.collect(request)
        if choices is None:
            return Response(status_code=499)  # the client left; nobody reads this
        return envelope("chat.completion", "chatcmpl").wrap([chat_choice(c, with_logprobs) for c in choices],
                                                            usage(len(prompt_ids), choices))

    @app.post("/v1/completions")
    async def complete(body: CompletionRequest, request: HttpRequest):
        body.refuse_unsupported()
        check_model(body.model)
        prompts = body.prompts()
        prompt_ids = await run_in_threadpool(lambda: [tokenize(p, special=True, param="prompt") for p in prompts])
        n = body.n or 1
        flight = Flight(engine, options.timeout_s)
        for i, ids in enumerate(prompt_ids):
            flight.start(ids, body.samplings(body.max_tokens or DEFAULT_COMPLETION_MAX_TOKENS,
                                             body.logprobs), first_index=i * n)
        prompt_tokens = sum(len(ids) for ids in prompt_ids)
        with_logprobs = body.logprobs is not None
        if body.stream:
            return _streaming(_completion_events(flight, envelope("text_completion", "cmpl"), prompt_tokens,
                                                 with_logprobs, body.include_usage()))
        choices = await flight.collect(request)
        if choices is None:
            return Response(status_code=499)
        return envelope("text_completion", "cmpl").wrap([completion_choice(c, with_logprobs) for c in choices],
                                                       usage(prompt_tokens, choices))

    @app.api_route("/v1/responses", methods=["GET", "POST"])
    def responses():
        raise ApiError(400, "the Responses API (/v1/responses) is not supported by undrift serve: use "
                            "/v1/chat/completions or /v1/completions", param="/v1/responses",
                       code="unsupported_endpoint")

    return app


class Flight:
    """The sequences one HTTP request has in the engine, and the queue their updates arrive on."""

    def __init__(self, engine: Engine, timeout_s: float) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.queue: asyncio.Queue[Update | None] = asyncio.Queue()
        self.sequences = []

    def start(self, prompt_ids: list[int], samplings: list[Sampling], first_index: int = 0) -> None:
        self.sequences += self.engine.submit(prompt_ids, samplings, self.timeout_s, self.queue, first_index)

    def cancel(self) -> None:
        for sequence in self.sequences:
            sequence.cancel()

    async def updates(self):
        """Every update until each sequence has finished; stops early (yielding nothing more) on a None."""
        open_ = len(self.sequences)
        try:
            while open_:
                update = await self.queue.get()
                if update is None:
                    return
                if update.error is not None:
                    raise ApiError(503 if update.error == SHUTTING_DOWN else 500, update.error)
                open_ -= update.finish_reason is not None
                yield update
        finally:
            self.cancel()

    async def collect(self, request: HttpRequest) -> list[Choice] | None:
        """All choices, whole; None if the client disconnected first (its generation is then cancelled)."""

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            self.queue.put_nowait(None)

        watcher = asyncio.create_task(watch())
        choices: dict[int, Choice] = {}
        try:
            async for update in self.updates():
                choice = choices.setdefault(update.index, Choice(update.index))
                choice.text += update.text
                choice.tokens += update.tokens
                choice.tokens_out = update.tokens_out
                choice.finish_reason = update.finish_reason or choice.finish_reason
        finally:
            watcher.cancel()
        if len(choices) < len(self.sequences) or any(c.finish_reason is None for c in choices.values()):
            return None
        return [choices[i] for i in sorted(choices)]


async def _chat_events(flight: Flight, envelope: Envelope, prompt_tokens: int, with_logprobs: bool,
                       include_usage: bool):
    choices = {s.index: Choice(s.index) for s in flight.sequences}
    for index in choices:
        yield envelope.wrap([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None,
                              "logprobs": None}], with_usage=include_usage)
    async for update in flight.updates():
        choices[update.index].tokens_out = update.tokens_out
        delta = {"content": update.text} if update.text or update.finish_reason is None else {}
        yield envelope.wrap([{"index": update.index, "delta": delta, "finish_reason": update.finish_reason,
                              "logprobs": chat_logprobs(update.tokens) if with_logprobs else None}],
                            with_usage=include_usage)
    if include_usage:
        yield envelope.wrap([], usage(prompt_tokens, list(choices.values())))


async def _completion_events(flight: Flight, envelope: Envelope, prompt_tokens: int, with_logprobs: bool,
                             include_usage: bool):
    choices = {s.index: Choice(s.index) for s in flight.sequences}
    async for update in flight.updates():
        choice = choices[update.index]
        choice.tokens_out = update.tokens_out
        logprobs = completion_logprobs(update.tokens, len(choice.text)) if with_logprobs else None
        choice.text += update.text
        yield envelope.wrap([{"index": update.index, "text": update.text, "finish_reason": update.finish_reason,
                              "logprobs": logprobs}], with_usage=include_usage)
    if include_usage:
        yield envelope.wrap([], usage(prompt_tokens, list(choices.values())))


def _streaming(events) -> StreamingResponse:
    """Server-sent events; an error after the stream began becomes an `error` event, which OpenAI clients raise."""

    async def body():
        try:
            async for event in events:
                yield sse(event)
        except ApiError as problem:
            yield sse(problem.body())
            return
        yield sse("[DONE]")

    return StreamingResponse(body(), media_type="text/event-stream")


def _context_length(model: ServableModel) -> int:
    config = model.model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 1:
            return value
    limit = getattr(model.tokenizer, "model_max_length", 0)
    return limit if 1 < limit < 10_000_000 else 2048
