"""The proxy as an ASGI app: every method and path forwarded to the upstream through one shared `httpx.AsyncClient`,
answers relayed as they come (a stream chunk by chunk), a sample recorded, and `/metrics` for Prometheus.

The guard in front of every forwarded path (shared with `undrift serve`) checks the proxy's own token and the body
size before anything is forwarded; `/metrics` (counts and timings, no content) stays open for Prometheus.  An upstream that refuses or breaks is a 502, one that hangs past `timeout_s` a 504, both in OpenAI's
error shape; the proxy itself never hangs on it.  Recording is a non-blocking hand-off to the recorder,
whose writer works in a process of its own.
"""

from __future__ import annotations

import random
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from types import SimpleNamespace

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, request_response

from ..serving.errors import error_body
from ..serving.guard import Guard
from ..store.db import Store
from .exchange import Exchange
from .forward import TAG_HEADER, Target, forwarded, returned
from .metrics import ProxyMetrics, metrics_response
from .options import ProxyOptions
from .recorder import Recorder, check_shared
from .redact import Redactor
from .sse import StreamAssembler

# Connections to the upstream.  httpx's pool looks at every connection it holds on each request, so an idle pool much
# larger than the load needs costs CPU on every request; beyond MAX_CONNECTIONS at once, requests wait for one.
MAX_CONNECTIONS, MAX_IDLE = 500, 20
TOKEN_HEADERS = ((b"proxy-authorization", True), (b"x-undrift-token", False))
TOKEN_HINT = ("send `Proxy-Authorization: Bearer TOKEN` (or `X-Undrift-Token: TOKEN`) with the proxy's --token; "
              "your Authorization header goes on to the upstream")


def create_app(options: ProxyOptions, store: Store, redactor: Redactor | None = None) -> Starlette:
    """The proxy for `options`, recording into `store`; `redactor` defaults to the built-ins and `options.redact`."""
    check_shared(store)
    target = Target(options.upstream)
    metrics = ProxyMetrics()
    redactor = redactor or Redactor(options.redact)
    timeout = httpx.Timeout(options.timeout_s)

    state = SimpleNamespace(client=None, recorder=None)  # made when the app starts, in its event loop

    @asynccontextmanager
    async def lifespan(_: Starlette):
        state.client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                                                             max_keepalive_connections=MAX_IDLE))
        state.recorder = Recorder(store, redactor, options.queue_size, options.batch_size)
        metrics.recording.totals = state.recorder.totals
        try:
            yield
        finally:
            await state.client.aclose()
            await state.recorder.aclose()

    def done(exchange: Exchange | None, status: int, started: float, ttft_s: float | None = None,
             error: str | None = None) -> None:
        latency = time.perf_counter() - started
        metrics.requests.labels(str(status)).inc()
        metrics.latency.observe(latency)
        if ttft_s is not None:
            metrics.ttft.observe(ttft_s)
        if exchange is not None:
            exchange.status, exchange.latency_s, exchange.ttft_s = status, latency, ttft_s
            exchange.error = exchange.error or error
            state.recorder.offer(exchange)

    def failed(exchange: Exchange | None, started: float, problem: httpx.HTTPError) -> JSONResponse:
        status, kind, message, code = _failure(problem, options)
        metrics.upstream_errors.labels(kind).inc()
        done(exchange, status, started, error=message)
        return JSONResponse(error_body(status, message, code=code), status_code=status)

    async def proxy(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        exchange = None
        if options.sample >= 1.0 or random.random() < options.sample:
            exchange = Exchange(at=datetime.now(timezone.utc), method=request.method, path=request.url.path,
                                upstream=options.upstream, request_body=body, tag=_tag(request))
        client: httpx.AsyncClient = state.client
        outgoing = client.build_request(request.method, target.url(request.url.path, request.scope["query_string"]),
                                        headers=forwarded(request.headers.raw), content=body)
        try:
            upstream = await client.send(outgoing, stream=True)
        except httpx.HTTPError as problem:
            return failed(exchange, started, problem)
        headers = returned(upstream.headers.raw)
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            response = StreamingResponse(relay(upstream, exchange, started), status_code=upstream.status_code)
        else:
            try:
                content = await upstream.aread()
            except httpx.HTTPError as problem:
                return failed(exchange, started, problem)
            finally:
                await upstream.aclose()
            if exchange is not None:
                exchange.response_body = content
            done(exchange, upstream.status_code, started)
            response = Response(content, status_code=upstream.status_code)
        response.raw_headers.extend(headers)
        return response

    async def relay(upstream: httpx.Response, exchange: Exchange | None, started: float):
        """The stream passed on chunk by chunk as it arrives; assembled on the side for the record and the ttft."""
        assembler, error = StreamAssembler(), None
        try:
            async for chunk in upstream.aiter_bytes():
                assembler.feed(chunk)
                if exchange is not None:
                    exchange.stream_bytes += len(chunk)
                yield chunk
        except httpx.HTTPError as problem:
            status, kind, error, _ = _failure(problem, options)
            metrics.upstream_errors.labels(kind).inc()
            error = f"the stream was cut short: {error}"
        except BaseException:
            error = "the client went away before the stream ended"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await upstream.aclose()
            if exchange is not None:
                exchange.stream, exchange.streamed = True, assembler.completion()
            ttft = assembler.first_token_at - started if assembler.first_token_at is not None else None
            done(exchange, upstream.status_code, started, ttft, error)

    async def metrics_route(_: Request) -> Response:
        return metrics_response(metrics.registry)

    guarded = Guard(request_response(proxy), token=options.token, max_body_bytes=options.max_body_bytes,
                    token_headers=TOKEN_HEADERS, token_hint=TOKEN_HINT, body_option="--max-body",
                    on_refuse=lambda status: metrics.requests.labels(str(status)).inc())
    app = Starlette(routes=[Route("/metrics", metrics_route, methods=["GET"]), Route("/{path:path}", guarded)],
                    lifespan=lifespan)
    app.state.metrics = metrics
    return app


def _failure(problem: httpx.HTTPError, options: ProxyOptions) -> tuple[int, str, str, str]:
    """(status, metric label, message, OpenAI error code) for an upstream that failed."""
    if isinstance(problem, httpx.TimeoutException):
        return (504, "timeout", f"the upstream {options.upstream} did not answer within {options.timeout_s:g} s "
                                "(--timeout)", "upstream_timeout")
    if isinstance(problem, httpx.ConnectError):
        return (502, "refused", f"cannot reach the upstream {options.upstream}: {problem or type(problem).__name__}",
                "upstream_unreachable")
    return (502, "broken", f"the upstream {options.upstream} failed: {problem or type(problem).__name__}",
            "upstream_error")


def _tag(request: Request) -> str | None:
    """The caller's X-Undrift-Tag, read as UTF-8 (HTTP hands header bytes over as Latin-1)."""
    raw = request.headers.get(TAG_HEADER)
    return None if raw is None else raw.encode("latin-1").decode("utf-8", errors="replace")
