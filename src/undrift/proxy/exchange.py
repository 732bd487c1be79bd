"""One request that passed through the proxy, as raw facts, and the redacted `TrafficRecord` made from them.

The request path only gathers bytes and times into an `Exchange`; parsing, summarising and masking happen in the
recorder's writer process (`to_record`), so a large body costs the proxy's clients nothing.  The raw bytes go no
further than that process, through a pipe: only the record made here, redacted, is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store.traffic import TrafficRecord
from .redact import Redactor

# Column widths of the `traffic` table (PostgreSQL enforces them): longer caller-supplied values are cut.
WIDTHS = {"tag": 255, "model": 255, "served_model": 255, "system_fingerprint": 255, "finish_reason": 32}


@dataclass
class Exchange:
    at: datetime
    method: str
    path: str
    upstream: str
    request_body: bytes
    tag: str | None = None
    status: int = 0
    stream: bool = False
    latency_s: float = 0.0
    ttft_s: float | None = None
    response_body: bytes = b""  # a plain response's bytes (decoded)
    streamed: dict[str, Any] | None = None  # a stream, already assembled into one completion
    error: str | None = None  # what went wrong in the proxy or on the way (upstream refused, hung, cut the stream)
    stream_bytes: int = 0

    @property
    def size(self) -> int:
        """Roughly the memory this exchange holds while it waits for the writer."""
        return len(self.request_body) + len(self.response_body) + self.stream_bytes


def to_record(exchange: Exchange, redactor: Redactor) -> TrafficRecord:
    request = _json(exchange.request_body)
    response = exchange.streamed if exchange.stream else _json(exchange.response_body)
    said = _summary(response)
    error = exchange.error or (said.pop("error_message", None) if exchange.status >= 400 else None)
    if exchange.status >= 400 and error is None:
        error = f"HTTP {exchange.status}"
    said.pop("error_message", None)
    fields = {
        "tag": exchange.tag,
        "model": request.get("model") if isinstance(request, dict) and isinstance(request.get("model"), str) else None,
        **said,
    }
    fields = {key: _cut(key, redactor.text(value)) if isinstance(value, str) else value for key, value in fields.items()}
    return TrafficRecord(
        at=exchange.at, method=exchange.method, path=redactor.text(exchange.path), upstream=exchange.upstream,
        stream=exchange.stream,
        status=exchange.status, latency_s=exchange.latency_s, ttft_s=exchange.ttft_s,
        request=redactor.json(request), response=redactor.json(response),
        error=redactor.text(error) if error else None, **fields)


def _json(body: bytes) -> Any:
    """The body as JSON; None when it is empty or not JSON (it was forwarded all the same)."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _summary(response: Any) -> dict[str, Any]:
    """What a completion says about itself: text, served model, fingerprint, tokens, finish reason; or an error."""
    if not isinstance(response, dict):
        return {}
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    choices = response.get("choices") if isinstance(response.get("choices"), list) else []
    first = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = first.get("message") if isinstance(first.get("message"), dict) else {}
    text = message.get("content") if "message" in first else first.get("text")
    error = response.get("error")
    return {
        "response_text": text if isinstance(text, str) else None,
        "served_model": _str(response.get("model")),
        "system_fingerprint": _str(response.get("system_fingerprint")),
        "tokens_in": _int(usage.get("prompt_tokens")),
        "tokens_out": _int(usage.get("completion_tokens")),
        "finish_reason": _str(first.get("finish_reason")),
        "error_message": _str(error.get("message")) if isinstance(error, dict) else _str(error),
    }


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """A token count; a value no server would send (negative, beyond a 32-bit column) is left out."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def _cut(key: str, value: str) -> str:
    return value[:WIDTHS[key]] if key in WIDTHS else value
