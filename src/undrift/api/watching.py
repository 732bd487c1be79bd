"""Watches: a suite, a model and a schedule kept in the store; each tick checks cheaply, gates, and opens or
resolves an alert.  Thin over `undrift.monitor`, with `db` as everywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..store import Store, as_store
from .runs import task_names

if TYPE_CHECKING:
    from ..monitor import Alert, TickOutcome, Watch


def add_watch(name: str, model: str, suite: str, every: str, *, baseline: str = "first",
              policy: str | Path | None = None, max_calls: int | None = None, webhooks: Sequence[str] = (),
              alert_command: str | None = None, tasks: str | Sequence[str] | None = None, limit: int | None = None,
              tolerance: float = 0.02, direction: str = "drop", alert_attempts: int = 4,
              alert_backoff_s: float = 2.0, db: Store | str | None = None) -> Watch:
    """Watch `model` on `suite` `every` 30m, 6h, 1d or `cron: 0 6 * * *`; due at once.  `baseline`: a run to compare
    against, or `first` (the watch's first full run).  `policy`: a gate policy YAML (default: no significant
    accuracy drop, NFR <= 5%).  Alerts go to `webhooks` (POSTed JSON) and `alert_command` (JSON on stdin)."""
    from ..monitor import add_watch as add
    from ..monitor.define import define_watch

    store = as_store(db)
    chosen = task_names(tasks)
    options = {"tasks": list(chosen) if chosen else None, "limit": limit, "tolerance": tolerance,
               "direction": direction, "alert_attempts": alert_attempts, "alert_backoff_s": alert_backoff_s}
    watch = define_watch(store, name, model, suite, every, baseline, Path(policy) if policy else None, max_calls,
                         tuple(webhooks), alert_command, options)
    return add(store, watch)


def list_watches(*, db: Store | str | None = None) -> list[Watch]:
    """Every watch in the store."""
    from ..monitor import list_watches as listed

    return listed(as_store(db, must_exist=True))


def tick_watch(name: str, *, db: Store | str | None = None, progress: bool = False,
               allow_unsandboxed: bool = False) -> TickOutcome | None:
    """Tick one watch now, due or not; None when another process is ticking it."""
    from ..monitor import tick_watch as tick

    return tick(as_store(db, must_exist=True), name, progress=progress, allow_unsandboxed=allow_unsandboxed)


def run_due(*, db: Store | str | None = None, progress: bool = False,
            allow_unsandboxed: bool = False) -> list[TickOutcome]:
    """Tick every watch that is due, once each (what cron runs)."""
    from ..monitor import run_due as due

    return due(as_store(db, must_exist=True), progress=progress, allow_unsandboxed=allow_unsandboxed)


def list_alerts(*, open_only: bool = False, watch: str | None = None, limit: int = 100,
                db: Store | str | None = None) -> list[Alert]:
    """Alerts of watches, newest first: open while a gate keeps failing, resolved when it passes."""
    from ..monitor import list_alerts as alerts

    return alerts(as_store(db, must_exist=True), open_only=open_only, watch=watch, limit=limit)
