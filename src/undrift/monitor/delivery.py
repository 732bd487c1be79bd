"""Telling people: an alert's JSON payload posted to webhooks and piped to a command, retried, and recorded.

A delivery that fails (a webhook down, a command that exits non-zero) is tried again with exponential backoff and
recorded either way, attempts and last error included; it never stops the watch.  The payload holds model output,
so it travels only as JSON (the request body, the command's stdin), never inside a command line.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from ..store import Store
from .alerts import Alert, Delivery, record_delivery


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_s: float = 2.0  # waits 2, 4, 8 s between attempts
    timeout_s: float = 10.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "RetryPolicy":
        return cls(int(options.get("alert_attempts", cls.attempts)), float(options.get("alert_backoff_s", cls.backoff_s)))


def deliver(store: Store, alert: Alert, event: str, payload: dict[str, Any], webhooks: tuple[str, ...],
            command: str | None, retry: RetryPolicy) -> list[Delivery]:
    body = json.dumps(payload, default=str).encode()
    done = []
    for url in webhooks:
        done.append(_attempt(alert.id, event, url, lambda url=url: _post(url, body, retry.timeout_s), retry))
    if command:
        done.append(_attempt(alert.id, event, command, lambda: _pipe(command, body, retry.timeout_s * 6), retry))
    for delivery in done:
        record_delivery(store, delivery)
    return done


def _attempt(alert_id: int, event: str, target: str, send, retry: RetryPolicy) -> Delivery:
    status, error = None, None
    for attempt in range(1, retry.attempts + 1):
        status, error = send()
        if error is None:
            return Delivery(alert_id, event, target, attempt, True, status, None, datetime.now(timezone.utc))
        if attempt < retry.attempts:
            time.sleep(retry.backoff_s * 2 ** (attempt - 1))
    return Delivery(alert_id, event, target, retry.attempts, False, status, error, datetime.now(timezone.utc))


def _post(url: str, body: bytes, timeout_s: float) -> tuple[int | None, str | None]:
    try:
        response = httpx.post(url, content=body, timeout=timeout_s,
                              headers={"Content-Type": "application/json", "User-Agent": "undrift-watch"})
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def _pipe(command: str, body: bytes, timeout_s: float) -> tuple[int | None, str | None]:
    try:
        finished = subprocess.run(shlex.split(command), input=body, capture_output=True, timeout=timeout_s)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if finished.returncode == 0:
        return 0, None
    tail = finished.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return finished.returncode, f"exit {finished.returncode}: {tail[0]}"[:500]
