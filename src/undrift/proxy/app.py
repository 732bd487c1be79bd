"""The proxy as an ASGI app: every method and path forwarded to the upstream through one shared aiohttp
`ClientSession`, answers relayed as they come (a stream chunk by chunk), a sample recorded, and `/metrics` for
Prometheus.

The forwarded path is a raw ASGI callable, and the client aiohttp (its HTTP parsing in C): on a plain answer this
costs about half the CPU of Starlette's Request/Response with httpx (see docs/proxy.md, Overhead).

The guard in front of every forwarded path (shared with `undrift serve`) checks the proxy's own token and the body
size before anything is forwarded; `/metrics` (counts and timings, no content) stays open for Prometheus.  An upstream that refuses or breaks is a 502, one that hangs past `timeout_s` a 504, both in OpenAI's
error shape; the proxy itself never hangs on it.  Recording is a non-blocking hand-off to the recorder,
whose writer works in a process of its own.
"""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from types import SimpleNamespace

import aiohttp
from yarl import URL
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

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

# Connections to the upstream at once; beyond it, requests wait for one.
MAX_CONNECTIONS = 500
TAG_BYTES = TAG_HEADER.encode()
# What an upstream that fails raises: refused, timed out (asyncio.TimeoutError), broken mid-answer.
UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
TOKEN_HEADERS = ((b"proxy-authorization", True), (b"x-undrift-token", False))
TOKEN_HINT = ("send `Proxy-Authorization: Bearer TOKEN` (or `X-Undrift-Token: TOKEN`) with the proxy's --token; "
              "your Authorization header goes on to the upstream")


def create_app(options: ProxyOptions, store: Store, redactor: Redactor | None = None) -> Starlette:
    """The proxy for `options`, recording into `store`; `redactor` defaults to the built-ins and `options.redact`."""
    check_shared(store)
    target = Target(options.upstream)
    metrics = ProxyMetrics()
    redactor = redactor or Redactor(options.redact)

    state = SimpleNamespace(client=None, recorder=None)  # made when the app starts, in its event loop

    @asynccontextmanager
    async def lifespan(_: Starlette):
        # No cookie jar (one caller's cookies must never reach another), no redirects followed (the caller sees
        # them), a timeout on each silence rather than on the whole answer (a long stream is fine).
        state.client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=options.timeout_s, sock_read=options.timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True)
        state.recorder = Recorder(store, redactor, options.queue_size, options.batch_size)
        metrics.recording.totals = state.recorder.totals
        try:
            yield
        finally:
            await state.client.close()
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

    def failed(exchange: Exchange | None, started: float, problem: Exception) -> JSONResponse:
        status, kind, message, code = _failure(problem, options)
        metrics.upstream_errors.labels(kind).inc()
        done(exchange, status, started, error=message)
        return JSONResponse(error_body(status, message, code=code), status_code=status)

    async def proxy(scope, receive, send) -> None:
        """A raw ASGI app: the guard in front has read the whole body and hands it over as one message."""
        started = time.perf_counter()
        body = (await receive()).get("body", b"")
        method, path = scope["method"], scope["path"]
        exchange = None
        if options.sample >= 1.0 or random.random() < options.sample:
            exchange = Exchange(at=datetime.now(timezone.utc), method=method, path=path, upstream=options.upstream,
                                request_body=body, tag=_tag(scope["headers"]))
        raw_path = scope.get("raw_path") or path.encode()
        url = URL(target.url(raw_path.decode("latin-1"), scope["query_string"]), encoded=True)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in forwarded(scope["headers"])]
        client: aiohttp.ClientSession = state.client
        try:
            upstream = await client.request(method, url, headers=headers, data=body, allow_redirects=False)
        except UPSTREAM_ERRORS as problem:
            await failed(exchange, started, problem)(scope, receive, send)
            return
        headers = returned(list(upstream.raw_headers))
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            response = StreamingResponse(relay(upstream, exchange, started), status_code=upstream.status)
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return
        try:
            content = await upstream.read()
        except UPSTREAM_ERRORS as problem:
            await failed(exchange, started, problem)(scope, receive, send)
            return
        finally:
            upstream.release()
        if exchange is not None:
            exchange.response_body = content
        done(exchange, upstream.status, started)
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def relay(upstream: aiohttp.ClientResponse, exchange: Exchange | None, started: float):
        """The stream passed on chunk by chunk as it arrives; assembled on the side for the record and the ttft."""
        assembler, error = StreamAssembler(), None
        try:
            async for chunk in upstream.content.iter_any():
                assembler.feed(chunk)
                if exchange is not None:
                    exchange.stream_bytes += len(chunk)
                yield chunk
        except UPSTREAM_ERRORS as problem:
            status, kind, error, _ = _failure(problem, options)
            metrics.upstream_errors.labels(kind).inc()
            error = f"the stream was cut short: {error}"
        except BaseException:
            error = "the client went away before the stream ended"
            raise
        finally:
            upstream.close()  # an answer left unfinished must not go back to the pool
            if exchange is not None:
                exchange.stream, exchange.streamed = True, assembler.completion()
            ttft = assembler.first_token_at - started if assembler.first_token_at is not None else None
            done(exchange, upstream.status, started, ttft, error)

    async def metrics_route(_: Request) -> Response:
        return metrics_response(metrics.registry)

    guarded = Guard(proxy, token=options.token, max_body_bytes=options.max_body_bytes,
                    token_headers=TOKEN_HEADERS, credential="proxy token", token_hint=TOKEN_HINT, body_option="--max-body",
                    on_refuse=lambda status: metrics.requests.labels(str(status)).inc())
    app = Starlette(routes=[Route("/metrics", metrics_route, methods=["GET"]), Route("/{path:path}", guarded)],
                    lifespan=lifespan)
    app.state.metrics = metrics
    return app


def _failure(problem: Exception, options: ProxyOptions) -> tuple[int, str, str, str]:
    """(status, metric label, message, OpenAI error code) for an upstream that failed."""
    if isinstance(problem, asyncio.TimeoutError):
        return (504, "timeout", f"the upstream {options.upstream} did not answer within {options.timeout_s:g} s "
                                "(--timeout)", "upstream_timeout")
    if isinstance(problem, aiohttp.ClientConnectorError):
        return (502, "refused", f"cannot reach the upstream {options.upstream}: {problem or type(problem).__name__}",
                "upstream_unreachable")
    return (502, "broken", f"the upstream {options.upstream} failed: {problem or type(problem).__name__}",
            "upstream_error")


def _tag(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The caller's X-Undrift-Tag (the first one sent), read as UTF-8."""
    for name, value in headers:
        if name.lower() == TAG_BYTES:
            return value.decode("utf-8", errors="replace")
    return None
