"""Running watches when they are due: once (`watch run --due`, for cron, systemd timers, a Kubernetes CronJob), or
for ever (`watch daemon`, which reads the schedule from the store at every turn and so survives a restart).

Each tick holds the watch's lease (watches.py) from claim to release, renewed by a heartbeat, so two daemons or cron
jobs on one store never tick a watch twice at once; the next due time is set when the lease is released.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Callable

from ..store import Store
from ..store.lease import Heartbeat
from .schedule import Schedule
from .tick import TickOutcome, run_tick
from .watches import claim, due_watches, get_watch, list_watches, release, renew

POLL_S = 30.0  # the daemon looks for new or changed watches at least this often


def tick_watch(store: Store, name: str, due_only: bool = False, progress: bool = False,
               allow_unsandboxed: bool = False) -> TickOutcome | None:
    """Tick one watch under its lease; None when another process holds it (or has just ticked it, with `due_only`)."""
    watch = get_watch(store, name)
    if not claim(store, name, due_only):
        return None
    try:
        with Heartbeat(lambda: renew(store, name)):
            return run_tick(store, get_watch(store, name), progress, allow_unsandboxed)
    finally:
        release(store, name, Schedule.parse(watch.schedule).next_after(datetime.now(timezone.utc)))


def run_due(store: Store, progress: bool = False, allow_unsandboxed: bool = False,
            on_tick: Callable[[TickOutcome], None] | None = None) -> list[TickOutcome]:
    """Tick every watch that is due, once each."""
    outcomes = []
    for watch in due_watches(store):
        outcome = tick_watch(store, watch.name, due_only=True, progress=progress, allow_unsandboxed=allow_unsandboxed)
        if outcome is not None:
            outcomes.append(outcome)
            if on_tick:
                on_tick(outcome)
    return outcomes


def seconds_until_due(store: Store, poll_s: float = POLL_S) -> float:
    now = datetime.now(timezone.utc)
    dues = [w.next_due_at for w in list_watches(store) if w.next_due_at is not None]
    if not dues:
        return poll_s
    return max(0.0, min(poll_s, min((due - now).total_seconds() for due in dues)))


def daemon(store: Store, stop: threading.Event, poll_s: float = POLL_S, allow_unsandboxed: bool = False,
           on_tick: Callable[[TickOutcome], None] | None = None) -> None:
    """Tick due watches until `stop` is set; a tick in progress finishes first (or is interrupted by SIGTERM)."""
    while not stop.is_set():
        run_due(store, allow_unsandboxed=allow_unsandboxed, on_tick=on_tick)
        stop.wait(max(seconds_until_due(store, poll_s), 0.5))
