"""The record of every tick of a watch: what it decided, what it cost, and what it saw of the model's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

from ..jsonable import jsonable
from ..store import Store
from ..store.db import as_utc
from ..store.schema import watch_ticks
from .watches import Watch, get_watch, lease_alive, watch_exists

# baseline: the first full run, now the reference; passed / failed: the gate's verdict (or the check's "unchanged");
# error: no verdict (the model unreachable, too many errors, a SIGTERM); running: in progress; interrupted (as read,
# never stored): running, but its process died.
STATUSES = ("running", "baseline", "passed", "failed", "error", "interrupted")


@dataclass
class Tick:
    id: int
    watch: str
    started_at: datetime
    status: str = "running"
    finished_at: datetime | None = None
    check_decision: str | None = None
    baseline_run: str | None = None
    check_run: str | None = None
    full_run: str | None = None
    gate: dict[str, Any] | None = None
    fingerprint: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def start_tick(store: Store, watch: str) -> Tick:
    now = datetime.now(timezone.utc)
    with store.engine.begin() as connection:
        tick_id = connection.execute(watch_ticks.insert().values(
            watch=watch, started_at=now, status="running", events=[], calls=0, tokens_in=0,
            tokens_out=0)).inserted_primary_key[0]
    return Tick(tick_id, watch, now)


def finish_tick(store: Store, tick: Tick) -> Tick:
    tick.finished_at = datetime.now(timezone.utc)
    # a JSON column given None stores JSON null, not SQL NULL: leave unset ones out, so `is_not(None)` finds them
    values = {k: v for k, v in vars(tick).items()  # the fields as they are: to_dict() writes times as text
              if k not in ("id", "watch", "started_at") and not (k in ("gate", "fingerprint") and v is None)}
    with store.engine.begin() as connection:
        connection.execute(update(watch_ticks).where(watch_ticks.c.id == tick.id).values(**values))
    return tick


def ticks(store: Store, watch: Watch, limit: int = 50) -> list[Tick]:
    """The watch's ticks since it was added, newest first.  A tick still `running` while nobody holds the watch's
    lease had its process killed: it reads as `interrupted`."""
    return _read(store, watch.name, watch.created_at, limit, lease_alive(watch))


def history(store: Store, name: str, limit: int = 50) -> list[Tick]:
    """What `watch history NAME` shows: the watch's ticks since it was added, or, for a watch that was removed, every
    tick recorded under its name (its history stays in the store); an unknown name is refused."""
    if watch_exists(store, name):
        return ticks(store, get_watch(store, name), limit)
    found = _read(store, name, None, limit, ticking=False)
    if not found:
        get_watch(store, name)  # raises: no such watch
    return found


def _read(store: Store, name: str, since: datetime | None, limit: int, ticking: bool) -> list[Tick]:
    query = select(watch_ticks).where(watch_ticks.c.watch == name).order_by(watch_ticks.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(watch_ticks.c.started_at >= since)
    with store.engine.connect() as connection:
        found = [_tick(row) for row in connection.execute(query).mappings()]
    if not ticking:
        for tick in found:
            if tick.status == "running":
                tick.status, tick.error = "interrupted", tick.error or "its process ended before the tick did"
    return found


def last_fingerprint(store: Store, watch: Watch) -> dict[str, Any] | None:
    query = (select(watch_ticks.c.fingerprint).where(watch_ticks.c.watch == watch.name,
                                                     watch_ticks.c.started_at >= watch.created_at,
                                                     watch_ticks.c.fingerprint.is_not(None))
             .order_by(watch_ticks.c.id.desc()).limit(1))
    with store.engine.connect() as connection:
        return connection.execute(query).scalar()


def _tick(row) -> Tick:
    fields = {k: row[k] for k in Tick.__dataclass_fields__}
    fields["started_at"], fields["finished_at"] = as_utc(row["started_at"]), as_utc(row["finished_at"])
    fields["events"] = list(row["events"] or [])
    return Tick(**fields)
