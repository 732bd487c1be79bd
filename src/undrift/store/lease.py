"""Run leases: which process is running a run, and whether it still lives.

A kill (SIGKILL, a lost machine) cannot be caught, so a run's status alone would say `running` for ever.  Instead a
running run names its owner (`pid@host`) and carries a heartbeat that a background thread renews every
`HEARTBEAT_S` seconds.  A reader takes a `running` run for `interrupted` when its owner is a process on this host
that no longer exists (seen at once), or when its heartbeat is older than `EXPIRES_S` (an owner elsewhere that
stopped renewing).  The same test tells `resume` whether another process is still at work on the run.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

HEARTBEAT_S = 5.0
EXPIRES_S = 30.0  # six missed heartbeats: a busy database or a paused VM does not end a live run


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str

    def __str__(self) -> str:
        return f"{self.pid}@{self.host}"

    @classmethod
    def parse(cls, text: str) -> "Owner | None":
        pid, _, host = text.partition("@")
        return cls(int(pid), host) if pid.isdigit() and host else None


def this_process() -> str:
    return str(Owner(os.getpid(), socket.gethostname()))


def lease_age_s(heartbeat_at: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds since the last heartbeat (SQLite hands back naive UTC times)."""
    if heartbeat_at is None:
        return None
    if heartbeat_at.tzinfo is None:
        heartbeat_at = heartbeat_at.replace(tzinfo=timezone.utc)
    return ((now or datetime.now(timezone.utc)) - heartbeat_at).total_seconds()


def owner_alive(owner: str | None, heartbeat_at: datetime | None) -> bool:
    """Whether the process that holds a running run's lease may still be running it."""
    parsed = Owner.parse(owner) if owner else None
    age = lease_age_s(heartbeat_at)
    if parsed is None or age is None or age > EXPIRES_S:
        return False  # runs from before leases, and owners that stopped renewing
    if parsed.host == socket.gethostname():
        return _pid_exists(parsed.pid)
    return True


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class Heartbeat:
    """Calls `renew` every `every` seconds from a daemon thread until the block ends.

    A renewal that fails (a locked or briefly unreachable database) is tried again at the next beat; only
    `EXPIRES_S` without one makes the run read as interrupted.
    """

    def __init__(self, renew: Callable[[], None], every: float = HEARTBEAT_S):
        self.renew, self.every = renew, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="undrift-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - see the class docstring
                pass

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
