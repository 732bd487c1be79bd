"""Watches: a suite, a model and a schedule kept in the store; each tick checks cheaply, gates, and opens or
resolves an alert.  Thin over `undrift.monitor`, with `db` as everywhere else."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..jsonable import jsonable
from ..store import Store, as_store
from .arguments import checked
from .runs import task_names

if TYPE_CHECKING:
    from ..monitor import Alert, Delivery, Tick, TickOutcome, Watch
    from ..monitor.metrics import DaemonMetrics

OnFault = Callable[[str, Exception], None]  # (watch name, or "*" for the store, what went wrong)


@dataclass(frozen=True)
class WatchSummary:
    """A watch with how its last tick went (None: never ticked) and how many of its alerts are open."""

    watch: Watch
    last_tick: Tick | None
    open_alerts: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.watch.to_dict(), "last_tick": self.last_tick.to_dict() if self.last_tick else None,
                         "open_alerts": self.open_alerts})


@dataclass(frozen=True)
class WatchStatus:
    """A watch's settings and its most recent ticks, newest first."""

    watch: Watch
    ticks: list[Tick] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.watch.to_dict(), "ticks": [t.to_dict() for t in self.ticks]})


@dataclass(frozen=True)
class AlertRecord:
    """An alert with every attempt to deliver it (webhooks, the alert command)."""

    alert: Alert
    deliveries: list[Delivery] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.alert.to_dict(), "deliveries": [d.to_dict() for d in self.deliveries]})


@checked
def add_watch(name: str, model: str, suite: str, every: str, *, baseline: str = "first",
              policy: str | Path | None = None, max_calls: int | None = None, webhooks: Sequence[str] = (),
              alert_command: str | None = None, tasks: str | Sequence[str] | None = None, limit: int | None = None,
              tolerance: float = 0.02, direction: str = "drop", alert_attempts: int = 4,
              alert_backoff_s: float = 2.0, db: Store | str | Path | None = None) -> Watch:
    """Watch `model` on `suite` `every` 30m, 6h, 1d or `cron: 0 6 * * *`; due at once.  `baseline`: a run to compare
    against, or `first` (the watch's first full run).  `policy`: a gate policy YAML (default: no significant
    accuracy drop, NFR <= 5%).  Alerts go to `webhooks` (POSTed JSON) and `alert_command` (JSON on stdin)."""
    from ..monitor import add_watch as add
    from ..monitor.define import define_watch

    chosen = task_names(tasks)
    options = {"tasks": list(chosen) if chosen else None, "limit": limit, "tolerance": tolerance,
               "direction": direction, "alert_attempts": alert_attempts, "alert_backoff_s": alert_backoff_s}
    # a baseline run must be in a store already; a `first` baseline reads nothing, so a refused watch makes no store
    reading = as_store(db, must_exist=True) if baseline != "first" else None
    watch = define_watch(reading, name, model, suite, every, baseline, Path(policy) if policy else None, max_calls,
                         tuple(webhooks), alert_command, options)
    return add(reading or as_store(db), watch)


@checked
def list_watches(*, db: Store | str | Path | None = None) -> list[Watch]:
    """Every watch in the store."""
    from ..monitor import list_watches as listed

    return listed(as_store(db, must_exist=True))


@checked
def tick_watch(name: str, *, db: Store | str | Path | None = None, progress: bool = False,
               allow_unsandboxed: bool = False) -> TickOutcome | None:
    """Tick one watch now, due or not; None when another process is ticking it."""
    from ..monitor import tick_watch as tick

    return tick(as_store(db, must_exist=True), name, progress=progress, allow_unsandboxed=allow_unsandboxed)


@checked
def run_due(*, db: Store | str | Path | None = None, progress: bool = False, allow_unsandboxed: bool = False,
            on_fault: OnFault | None = None) -> list[TickOutcome]:
    """Tick every watch that is due, once each (what cron runs).  One watch's fault is reported through `on_fault`
    and the others still tick; without `on_fault` it is raised."""
    from ..monitor import run_due as due

    return due(as_store(db, must_exist=True), progress=progress, allow_unsandboxed=allow_unsandboxed,
               on_fault=on_fault)


@checked
def list_alerts(*, open_only: bool = False, watch: str | None = None, limit: int = 100,
                db: Store | str | Path | None = None) -> list[Alert]:
    """Alerts of watches, newest first: open while a gate keeps failing, resolved when it passes."""
    from ..monitor import list_alerts as alerts

    return alerts(as_store(db, must_exist=True), open_only=open_only, watch=watch, limit=limit)


@checked
def watch_summaries(*, db: Store | str | Path | None = None) -> list[WatchSummary]:
    """Every watch with its last tick and its number of open alerts (`undrift watch list`)."""
    from ..monitor import list_alerts as alerts
    from ..monitor import list_watches as listed
    from ..monitor import ticks

    store = as_store(db, must_exist=True)
    open_alerts: dict[str, int] = {}
    for alert in alerts(store, open_only=True):
        open_alerts[alert.watch] = open_alerts.get(alert.watch, 0) + 1
    return [WatchSummary(w, next(iter(ticks(store, w, limit=1)), None), open_alerts.get(w.name, 0))
            for w in listed(store)]


@checked
def watch_status(name: str, *, ticks: int = 5, db: Store | str | Path | None = None) -> WatchStatus:
    """One watch's settings and its last `ticks` ticks."""
    from ..monitor import get_watch
    from ..monitor import ticks as recent

    store = as_store(db, must_exist=True)
    watch = get_watch(store, name)
    return WatchStatus(watch, recent(store, watch, limit=ticks))


@checked
def remove_watch(name: str, *, db: Store | str | Path | None = None) -> None:
    """Stop watching; the watch's ticks, runs and alerts stay in the store."""
    from ..monitor import remove_watch as remove

    remove(as_store(db, must_exist=True), name)


@checked
def watch_history(name: str, *, limit: int = 50, db: Store | str | Path | None = None) -> list[Tick]:
    """Every tick of a watch, newest first, a removed watch's included."""
    from ..monitor import history

    return history(as_store(db, must_exist=True), name, limit=limit)


@checked
def alert_records(*, open_only: bool = False, watch: str | None = None, limit: int = 100,
                  db: Store | str | Path | None = None) -> list[AlertRecord]:
    """Alerts of watches, newest first, each with its delivery attempts (`undrift alerts`)."""
    from ..monitor import deliveries
    from ..monitor import list_alerts as alerts

    store = as_store(db, must_exist=True)
    return [AlertRecord(a, deliveries(store, a.id)) for a in alerts(store, open_only=open_only, watch=watch,
                                                                      limit=limit)]


@dataclass
class WatchDaemon:
    """Ticks watches as they fall due until stopped, counting for Prometheus; from `watch_daemon`."""

    store: Store
    metrics: DaemonMetrics

    def run(self, stop: threading.Event, *, poll_s: float = 30.0, allow_unsandboxed: bool = False,
            on_tick: Callable[[TickOutcome], None] | None = None, on_fault: OnFault | None = None) -> None:
        """Tick due watches until `stop` is set (or KeyboardInterrupt / RunInterrupted, which propagate)."""
        from ..monitor import daemon

        def observed(outcome: TickOutcome) -> None:
            self.metrics.observe(outcome)
            if on_tick is not None:
                on_tick(outcome)

        daemon(self.store, stop, poll_s=poll_s, allow_unsandboxed=allow_unsandboxed, on_tick=observed,
               on_fault=on_fault)


@checked
def watch_daemon(*, metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                 db: Store | str | Path | None = None) -> WatchDaemon:
    """The daemon over `db` (made if missing: watches can be added while it runs), serving Prometheus /metrics on
    `metrics_host`:`metrics_port` when a port is given; `.run(stop)` ticks."""
    from ..monitor.metrics import DaemonMetrics

    store = as_store(db)
    metrics = DaemonMetrics(store)
    if metrics_port is not None:
        metrics.serve(metrics_host, metrics_port)
    return WatchDaemon(store, metrics)
