"""Any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp, TGI, `undrift serve`).

Hosted models change under their users, so this backend records what the server says it served (`model` and
`system_fingerprint` of every response) and is never deterministic: the runner does not reuse its answers from the
cache unless asked.  Requests run concurrently (a bounded pool), retry with exponential backoff and jitter on
connection errors, 429 and 5xx (honouring Retry-After), and time out.  A 200 whose body is not a chat completion
(not JSON, no `choices`, no message) is an error for that request, never an empty answer.  Before anything is
written, `/models` must answer: refused keys, a failing server (5xx) and something that is not an OpenAI-compatible
API (a 200 that is not JSON) stop the run with one line.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from ..errors import UndriftError
from .base import Fingerprint, Generation, HiddenSystemPrompt, ModelSpec, ProgressCallback, Request

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class OpenAIModel:
    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.base_url = (spec.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.concurrency = int(spec.option("concurrency", "8"))
        self.timeout = float(spec.option("timeout", "120"))
        self.retries = int(spec.option("retries", "4"))
        self.hidden_system = HiddenSystemPrompt.from_spec(spec)
        key = os.environ.get("OPENAI_API_KEY")
        if not key and self.base_url == DEFAULT_BASE_URL:
            raise UndriftError("OPENAI_API_KEY is not set: export it, or point the spec at a server with @BASE_URL")
        headers = {"Authorization": f"Bearer {key or 'none'}"}
        # as many connections as concurrent requests: a request never waits inside httpx for a free connection
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout, limits=limits)
        self._served: dict[str, str | None] = {"model": None, "system_fingerprint": None}
        self._served_lock = threading.Lock()
        self._check_reachable()

    def _check_reachable(self) -> None:
        """Fail early, with a useful message, when the server is not there (before anything is written)."""
        try:
            response = self._client.get("/models", timeout=min(self.timeout, 10.0))
        except httpx.HTTPError as exc:
            raise UndriftError(
                f"cannot reach {self.base_url} ({type(exc).__name__}): is the server running and is @BASE_URL right?"
            ) from None
        if response.status_code in (401, 403):
            raise UndriftError(f"{self.base_url} refused the API key (HTTP {response.status_code}): check OPENAI_API_KEY")
        if response.status_code >= 500:
            raise UndriftError(f"{self.base_url}/models answered HTTP {response.status_code}: the server is failing; "
                               "try again once it is healthy")
        if response.status_code == 200:
            try:
                response.json()
            except ValueError:
                raise UndriftError(f"{self.base_url}/models answered 200 with a body that is not JSON: this is not an "
                                   "OpenAI-compatible API; is @BASE_URL right (it usually ends in /v1)?") from None

    def fingerprint(self) -> Fingerprint:
        with self._served_lock:
            served = dict(self._served)
        return Fingerprint(
            backend="openai",
            model=self.spec.target,
            deterministic=False,
            options={"base_url": self.base_url, **self.hidden_system.fingerprint_options()},
            served_model=served["model"],
            system_fingerprint=served["system_fingerprint"],
        )

    def prepare(self) -> None:
        """Nothing to load: reachability was checked when the model was created."""

    def close(self) -> None:
        self._client.close()

    def generate(self, requests: list[Request], on_done: ProgressCallback | None = None) -> list[Generation]:
        def one(request: Request) -> Generation:
            generation = self._complete(request)
            if on_done:
                on_done(1)
            return generation

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(one, requests))

    def first_token_logprobs(self, request: Request, top: int = 5) -> tuple[dict[str, float] | None, int, int]:
        """The server's top log-probabilities for the first token of the answer (None where it offers none: no
        `logprobs` support, an error), and the tokens in and out it billed.  One attempt, no retries, as this only
        sharpens a fingerprint."""
        payload = {**self._payload(request), "max_tokens": 1, "logprobs": True, "top_logprobs": top}
        try:
            response = self._client.post("/chat/completions", json=payload)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None, 0, 0
        usage = body.get("usage") if isinstance(body, dict) else None
        try:
            tokens = int((usage or {}).get("prompt_tokens") or 0), int((usage or {}).get("completion_tokens") or 0)
        except (TypeError, ValueError, AttributeError):
            tokens = (0, 0)
        try:
            first = body["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            found = {str(entry["token"]): float(entry["logprob"]) for entry in first}
        except (KeyError, IndexError, TypeError, ValueError):
            return None, *tokens
        return (found if response.status_code == 200 and found else None), *tokens

    def _payload(self, request: Request) -> dict:
        decoding = request.decoding
        payload = {
            "model": self.spec.target,
            "messages": self.hidden_system.apply(request.message_dicts()),
            "max_tokens": decoding.max_tokens,
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
        }
        if decoding.stop:
            payload["stop"] = list(decoding.stop)
        if decoding.seed is not None:
            payload["seed"] = decoding.seed
        return payload

    def _complete(self, request: Request) -> Generation:
        """One request, retried; its latency is that of the attempt that answered, not of undrift's own waiting
        (the queue before a worker takes it, and the backoff between attempts)."""
        payload = self._payload(request)
        last_error = "no attempt made"
        started = time.perf_counter()
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                response = self._client.post("/chat/completions", json=payload)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                retry_after = None
            else:
                if response.status_code == 200:
                    return self._parse(response, time.perf_counter() - started)
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRY_STATUSES:
                    break
                retry_after = _retry_after(response)
            if attempt < self.retries:
                time.sleep(retry_after if retry_after is not None else _backoff(attempt))
        return Generation(text="", latency_s=time.perf_counter() - started, finish_reason="error", error=last_error)

    def _parse(self, response: httpx.Response, latency: float) -> Generation:
        try:
            body = response.json()
        except ValueError:
            return _malformed(response, latency, "not JSON")
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
            if not isinstance(text, str):
                raise TypeError(f"content is a {type(text).__name__}, not text")
            usage = body.get("usage") or {}
            tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            return _malformed(response, latency, f"not a chat completion: {type(exc).__name__} {exc}")
        with self._served_lock:
            self._served["model"] = body.get("model") or self._served["model"]
            self._served["system_fingerprint"] = body.get("system_fingerprint") or self._served["system_fingerprint"]
        return Generation(
            text=text,
            tokens_in=tokens[0],
            tokens_out=tokens[1],
            latency_s=latency,
            finish_reason=choice.get("finish_reason") or "stop",
            system_fingerprint=body.get("system_fingerprint"),
        )


def _malformed(response: httpx.Response, latency: float, problem: str) -> Generation:
    """A 200 that is no chat completion: an error for this request (not retried: the same server will say the same)."""
    return Generation(text="", latency_s=latency, finish_reason="error",
                      error=f"malformed response (HTTP 200, {problem}): {response.text[:120]}")


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: up to 0.5, 1, 2, 4 ... seconds, capped at 30."""
    return random.uniform(0, min(30.0, 0.5 * 2**attempt))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(60.0, float(value)) if value is not None else None
    except ValueError:
        return None
