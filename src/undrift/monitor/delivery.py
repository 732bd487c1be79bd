"""Telling people: an alert's JSON payload posted to webhooks and piped to a command, retried, and recorded.

A delivery that fails (a webhook down, a command that exits non-zero) is tried again with exponential backoff and
recorded as soon as it ends, attempts and last error included; it never stops the watch.  Every attempt has a
deadline for the whole of it, not per read: a webhook that trickles its answer a byte at a time, or a command that
leaves a child holding its output, costs at most the deadline.  Only a webhook's status and a command's exit status
count; what they print is not kept (a command's stderr: its last line).  The payload holds model output, so it
travels only as JSON (the request body, the command's stdin), never inside a command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from ..store import Store
from .alerts import Alert, Delivery, record_delivery

ERROR_CHARS = 500


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_s: float = 2.0  # waits 2, 4, 8 s between attempts
    webhook_deadline_s: float = 10.0
    command_deadline_s: float = 60.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "RetryPolicy":
        return cls(int(options.get("alert_attempts", cls.attempts)), float(options.get("alert_backoff_s", cls.backoff_s)))


def deliver(store: Store, alert: Alert, event: str, payload: dict[str, Any], webhooks: tuple[str, ...],
            command: str | None, retry: RetryPolicy) -> list[Delivery]:
    body = json.dumps(payload, default=str).encode()
    targets = [(url, lambda url=url: _post(url, body, retry.webhook_deadline_s)) for url in webhooks]
    if command:
        targets.append((command, lambda: _pipe(command, body, retry.command_deadline_s)))
    done = []
    for target, send in targets:
        delivery = _attempt(alert.id, event, target, send, retry)
        record_delivery(store, delivery)
        done.append(delivery)
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


def _post(url: str, body: bytes, deadline_s: float) -> tuple[int | None, str | None]:
    async def post() -> int:
        async with httpx.AsyncClient(timeout=deadline_s) as client:
            request = client.build_request("POST", url, content=body, headers={
                "Content-Type": "application/json", "User-Agent": "undrift-watch"})
            response = await client.send(request, stream=True)  # the status is the answer; its body is not read
            await response.aclose()
            return response.status_code

    try:
        status = asyncio.run(asyncio.wait_for(post(), deadline_s))
    except (asyncio.TimeoutError, TimeoutError):
        return None, f"no answer within {deadline_s:g}s"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    return (status, None) if 200 <= status < 300 else (status, f"HTTP {status}")


def _pipe(command: str, body: bytes, deadline_s: float) -> tuple[int | None, str | None]:
    """Run the command in a session of its own (so that a timeout kills its children too), its stdout discarded and
    its stderr in a file, not a pipe: a child left running in the background cannot hold the delivery open."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return None, f"cannot split the command: {exc}"
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                                       start_new_session=True)
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        try:
            process.communicate(body, timeout=deadline_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return None, f"did not finish within {deadline_s:g}s"
        stderr.seek(max(0, os.fstat(stderr.fileno()).st_size - ERROR_CHARS))
        tail = stderr.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
    if process.returncode == 0:
        return 0, None
    return process.returncode, f"exit {process.returncode}: {tail[0]}"[:ERROR_CHARS]


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
