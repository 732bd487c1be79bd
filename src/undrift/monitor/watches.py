"""Watches kept in the store: a model, a suite and a schedule, shared by every process that opens the store.

A tick takes the watch's lease first: a compare-and-set on (`lease_owner`, `lease_until`), so of two daemons or cron
jobs on one store only one runs a watch at a time.  The lease is renewed while the tick runs (`Heartbeat`), and one
whose owner died expires after `LEASE_S`, after which the watch can be ticked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import UndriftError
from ..jsonable import jsonable
from ..names import check_name
from ..store import Store
from ..store.db import as_utc
from ..store.lease import owner_alive, this_process
from ..store.schema import watches
from .schedule import Schedule

LEASE_S = 60.0  # twelve missed heartbeats


@dataclass(frozen=True)
class Watch:
    name: str
    model_spec: str
    suite: str
    schedule: str
    baseline: str = "first"  # a run id, or "first": the watch's first full run becomes its baseline
    policy: str | None = None  # the policy's YAML text
    max_calls: int | None = None
    webhooks: tuple[str, ...] = ()
    alert_command: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    next_due_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "name": self.name, "model": self.model_spec, "suite": self.suite, "schedule": self.schedule,
            "baseline": self.baseline, "policy": self.policy, "max_calls": self.max_calls,
            "webhooks": list(self.webhooks), "alert_command": self.alert_command, "options": dict(self.options),
            "created_at": self.created_at, "next_due_at": self.next_due_at, "lease_owner": self.lease_owner,
            "lease_until": self.lease_until,
        })


def add_watch(store: Store, watch: Watch, now: datetime | None = None) -> Watch:
    """Store a new watch, due at once (its first tick sets the baseline when it is "first")."""
    check_name(watch.name, "watch")
    Schedule.parse(watch.schedule)
    now = now or datetime.now(timezone.utc)
    row = {**_row(watch), "created_at": now, "next_due_at": now, "lease_owner": None, "lease_until": None}
    try:
        with store.engine.begin() as connection:
            connection.execute(watches.insert().values(**row))
    except IntegrityError:
        raise UndriftError(f"a watch named {watch.name!r} exists: `undrift watch remove {watch.name}` first, or pick "
                           "another name") from None
    return get_watch(store, watch.name)


def get_watch(store: Store, name: str) -> Watch:
    with store.engine.connect() as connection:
        row = connection.execute(select(watches).where(watches.c.name == name)).mappings().first()
    if row is None:
        raise UndriftError(f"no watch named {name!r} in {store.safe_url}: `undrift watch list` shows them")
    return _watch(row)


def watch_exists(store: Store, name: str) -> bool:
    with store.engine.connect() as connection:
        return connection.execute(select(watches.c.name).where(watches.c.name == name)).first() is not None


def list_watches(store: Store) -> list[Watch]:
    with store.engine.connect() as connection:
        return [_watch(row) for row in connection.execute(select(watches).order_by(watches.c.name)).mappings()]


def remove_watch(store: Store, name: str) -> None:
    """Remove a watch; its ticks, runs and alerts stay, as history, and its open alert is resolved.  A new watch of
    the same name starts afresh: its history is the ticks since it was added (see `ticks.ticks`)."""
    from .alerts import close_for_removal

    get_watch(store, name)
    with store.engine.begin() as connection:
        connection.execute(delete(watches).where(watches.c.name == name))
    close_for_removal(store, name)


def set_baseline(store: Store, name: str, run_id: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(watches).where(watches.c.name == name).values(baseline=run_id))


def due_watches(store: Store, now: datetime | None = None) -> list[Watch]:
    now = now or datetime.now(timezone.utc)
    query = select(watches).where(watches.c.next_due_at <= now).order_by(watches.c.next_due_at, watches.c.name)
    with store.engine.connect() as connection:
        return [_watch(row) for row in connection.execute(query).mappings()]


def claim(store: Store, name: str, due_only: bool, now: datetime | None = None) -> Watch | None:
    """Take the watch's lease for this process and return the watch as claimed; None when another live process holds
    it (or, with `due_only`, when the watch is no longer due because another process has just ticked it).  A lease whose holder died (a process
    on this host that is gone, or one that stopped renewing) is free; taking it is a compare-and-set on the holder
    as read, so of two processes only one wins."""
    now = now or datetime.now(timezone.utc)
    watch = get_watch(store, name)
    if lease_alive(watch):
        return None
    held = watches.c.lease_owner.is_(None) if watch.lease_owner is None else watches.c.lease_owner == watch.lease_owner
    conditions = [watches.c.name == name, held]
    if due_only:
        conditions.append(watches.c.next_due_at <= now)
    owner, until = this_process(), now + timedelta(seconds=LEASE_S)
    with store.engine.begin() as connection:
        taken = connection.execute(update(watches).where(*conditions).values(lease_owner=owner,
                                                                             lease_until=until)).rowcount
    return replace(watch, lease_owner=owner, lease_until=until) if taken == 1 else None


def lease_alive(watch: Watch) -> bool:
    """Whether a process holds the watch's lease and may still be ticking it (the test runs use, store/lease.py)."""
    if watch.lease_owner is None or watch.lease_until is None:
        return False
    if watch.lease_until < datetime.now(timezone.utc):
        return False
    return owner_alive(watch.lease_owner, watch.lease_until - timedelta(seconds=LEASE_S))


def renew(store: Store, name: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(watches).where(watches.c.name == name, watches.c.lease_owner == this_process())
                           .values(lease_until=datetime.now(timezone.utc) + timedelta(seconds=LEASE_S)))


def release(store: Store, name: str, next_due_at: datetime) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(watches).where(watches.c.name == name, watches.c.lease_owner == this_process())
                           .values(lease_owner=None, lease_until=None, next_due_at=next_due_at))


def _row(watch: Watch) -> dict[str, Any]:
    return {"name": watch.name, "model_spec": watch.model_spec, "suite": watch.suite, "schedule": watch.schedule,
            "baseline": watch.baseline, "policy": watch.policy, "max_calls": watch.max_calls,
            "webhooks": list(watch.webhooks), "alert_command": watch.alert_command, "options": dict(watch.options)}


def _watch(row) -> Watch:
    return Watch(name=row["name"], model_spec=row["model_spec"], suite=row["suite"], schedule=row["schedule"],
                 baseline=row["baseline"], policy=row["policy"], max_calls=row["max_calls"],
                 webhooks=tuple(row["webhooks"] or ()), alert_command=row["alert_command"],
                 options=dict(row["options"] or {}), created_at=as_utc(row["created_at"]),
                 next_due_at=as_utc(row["next_due_at"]), lease_owner=row["lease_owner"],
                 lease_until=as_utc(row["lease_until"]))
