"""Running watches when they are due: once (`watch run --due`, for cron, systemd timers, a Kubernetes CronJob), or
for ever (`watch daemon`, which reads the schedule from the store at every turn and so survives a restart).

Each tick holds the watch's lease (watches.py) from claim to release, renewed by a heartbeat, so two daemons or cron
jobs on one store never tick a watch twice at once; the next due time is set when the lease is released.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..errors import UndriftError
from ..store import Store
from ..store.lease import Heartbeat
from .schedule import Schedule
from .tick import TickOutcome, run_tick
from ..runner import RunInterrupted
from .watches import Watch, claim, due_watches, lease_alive, list_watches, release, renew

POLL_S = 30.0  # the daemon looks for new or changed watches at least this often
INTERRUPTED = "interrupted: the tick is recorded as interrupted and the watch stays due"  # what SIGTERM/Ctrl-C leaves


def ticked_elsewhere(name: str) -> UndriftError:
    """Why `tick_watch` gave None for `name`: another process holds the watch's lease."""
    return UndriftError(f"watch {name!r} is being ticked by another process now: `undrift watch show {name}`")


def tick_watch(store: Store, name: str, due_only: bool = False, progress: bool = False,
               allow_unsandboxed: bool = False) -> TickOutcome | None:
    """Tick one watch under its lease; None when another process holds it (or has just ticked it, with `due_only`).
    An interrupted tick (SIGTERM, Ctrl-C) leaves the watch due, so a restarted daemon ticks it again at once."""
    watch = claim(store, name, due_only)
    if watch is None:
        return None
    next_due = watch.next_due_at
    try:
        with Heartbeat(lambda: renew(store, name)):
            outcome = run_tick(store, watch, progress, allow_unsandboxed)
        next_due = _next_due(watch)
        return outcome
    finally:
        release(store, name, next_due)


def _next_due(watch: Watch) -> datetime:
    now = datetime.now(timezone.utc)
    try:
        return Schedule.parse(watch.schedule).next_after(now)
    except Exception:  # noqa: BLE001 - a schedule stored by an older undrift that this one cannot read
        return now + timedelta(days=1)


def run_due(store: Store, progress: bool = False, allow_unsandboxed: bool = False,
            on_tick: Callable[[TickOutcome], None] | None = None,
            on_fault: Callable[[str, Exception], None] | None = None) -> list[TickOutcome]:
    """Tick every watch that is due, once each.  One watch's fault (its store row gone, a bug) is reported through
    `on_fault` and the others still tick; without `on_fault` it is raised."""
    outcomes = []
    for watch in due_watches(store):
        try:
            outcome = tick_watch(store, watch.name, due_only=True, progress=progress,
                                 allow_unsandboxed=allow_unsandboxed)
        except (KeyboardInterrupt, RunInterrupted):
            raise
        except Exception as fault:  # noqa: BLE001 - see the docstring
            if on_fault is None:
                raise
            on_fault(watch.name, fault)
            continue
        if outcome is not None:
            outcomes.append(outcome)
            if on_tick:
                on_tick(outcome)
    return outcomes


def seconds_until_due(store: Store, poll_s: float = POLL_S) -> float:
    now = datetime.now(timezone.utc)
    dues = [w.next_due_at for w in list_watches(store) if w.next_due_at is not None and not lease_alive(w)]
    if not dues:
        return poll_s
    return max(0.0, min(poll_s, min((due - now).total_seconds() for due in dues)))


def daemon(store: Store, stop: threading.Event, poll_s: float = POLL_S, allow_unsandboxed: bool = False,
           on_tick: Callable[[TickOutcome], None] | None = None,
           on_fault: Callable[[str, Exception], None] | None = None) -> None:
    """Tick due watches until `stop` is set; a tick in progress finishes first (or is interrupted by SIGTERM).
    A fault of one watch, or of the store for a while, is reported through `on_fault` and the daemon goes on."""
    while not stop.is_set():
        wait = poll_s
        try:
            run_due(store, allow_unsandboxed=allow_unsandboxed, on_tick=on_tick, on_fault=on_fault)
            wait = seconds_until_due(store, poll_s)
        except (KeyboardInterrupt, RunInterrupted):
            raise
        except Exception as fault:  # noqa: BLE001 - the store away (a restart of PostgreSQL): try again next turn
            if on_fault is None:
                raise
            on_fault("*", fault)
        stop.wait(max(wait, 0.5))
