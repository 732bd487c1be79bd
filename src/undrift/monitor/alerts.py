"""Alerts are state, not noise: one open regression alert per watch while its gate keeps failing.

A failing tick opens an alert, or, when one is open, adds itself to it (`last_tick`); a passing tick resolves it.  A
tick that errs (the model unreachable, too many errors) leaves the state as it was: an outage says nothing about
whether the regression is still there.  A fingerprint change is a notice: recorded and delivered once, never open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update

from ..errors import UndriftError

from ..jsonable import jsonable
from ..store import Store
from ..store.db import as_utc
from ..store.schema import alert_deliveries, alerts
from .watches import watch_exists

REGRESSION, FINGERPRINT = "regression", "fingerprint"
OPEN, RESOLVED, NOTICE = "open", "resolved", "notice"


@dataclass(frozen=True)
class Alert:
    id: int
    watch: str
    kind: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    opened_tick: int
    last_tick: int
    resolved_tick: int | None
    summary: str
    payload: dict[str, Any]

    def to_dict(self, payload: bool = True) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "payload"}
        if payload:
            data["payload"] = self.payload
        return jsonable(data)


@dataclass(frozen=True)
class Delivery:
    alert_id: int
    event: str
    target: str
    attempts: int
    delivered: bool
    response_status: int | None
    error: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def open_alert(store: Store, watch: str) -> Alert | None:
    query = select(alerts).where(alerts.c.watch == watch, alerts.c.kind == REGRESSION, alerts.c.status == OPEN)
    with store.engine.connect() as connection:
        row = connection.execute(query.order_by(alerts.c.id.desc())).mappings().first()
    return _alert(row) if row else None


def raise_alert(store: Store, watch: str, kind: str, tick: int, summary: str, payload: dict[str, Any]) -> Alert:
    status = OPEN if kind == REGRESSION else NOTICE
    with store.engine.begin() as connection:
        alert_id = connection.execute(alerts.insert().values(
            watch=watch, kind=kind, status=status, opened_at=datetime.now(timezone.utc), opened_tick=tick,
            last_tick=tick, summary=summary, payload=payload)).inserted_primary_key[0]
    return get_alert(store, alert_id)


def keep_open(store: Store, alert: Alert, tick: int) -> Alert:
    with store.engine.begin() as connection:
        connection.execute(update(alerts).where(alerts.c.id == alert.id).values(last_tick=tick))
    return get_alert(store, alert.id)


def resolve(store: Store, alert: Alert, tick: int) -> Alert:
    with store.engine.begin() as connection:
        connection.execute(update(alerts).where(alerts.c.id == alert.id).values(
            status=RESOLVED, resolved_at=datetime.now(timezone.utc), resolved_tick=tick, last_tick=tick))
    return get_alert(store, alert.id)


def close_for_removal(store: Store, watch: str) -> None:
    """A removed watch's open alert is resolved: nothing watches it any more, and a new watch of that name must not
    inherit it."""
    with store.engine.begin() as connection:
        connection.execute(update(alerts).where(alerts.c.watch == watch, alerts.c.status == OPEN).values(
            status=RESOLVED, resolved_at=datetime.now(timezone.utc),
            summary=alerts.c.summary + " (resolved: the watch was removed)"))


def get_alert(store: Store, alert_id: int) -> Alert:
    with store.engine.connect() as connection:
        return _alert(connection.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().one())


def list_alerts(store: Store, open_only: bool = False, watch: str | None = None, limit: int = 100) -> list[Alert]:
    """The newest alerts first; with `watch`, that watch's (a removed watch's alerts stay listed).  A `watch` that
    neither exists nor ever raised an alert is a typing error, refused rather than answered with an empty list."""
    query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
    if open_only:
        query = query.where(alerts.c.status == OPEN)
    if watch is not None:
        query = query.where(alerts.c.watch == watch)
    with store.engine.connect() as connection:
        found = [_alert(row) for row in connection.execute(query).mappings()]
        if watch is not None and not found and not watch_exists(store, watch):
            if connection.execute(select(alerts.c.id).where(alerts.c.watch == watch).limit(1)).first() is None:
                raise UndriftError(f"no watch named {watch!r} in {store.safe_url}, and no alerts of one: "
                                   "`undrift watch list` shows the watches")
    return found


def count_open_alerts(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(alerts).where(alerts.c.status == OPEN)).scalar_one()


def record_delivery(store: Store, delivery: Delivery) -> None:
    with store.engine.begin() as connection:
        connection.execute(alert_deliveries.insert().values(**vars(delivery)))  # times as datetimes


def deliveries(store: Store, alert_id: int) -> list[Delivery]:
    query = select(alert_deliveries).where(alert_deliveries.c.alert_id == alert_id).order_by(alert_deliveries.c.id)
    with store.engine.connect() as connection:
        return [Delivery(**{k: (as_utc(row[k]) if k == "at" else row[k]) for k in Delivery.__dataclass_fields__})
                for row in connection.execute(query).mappings()]


def _alert(row) -> Alert:
    return Alert(**{k: (as_utc(row[k]) if k in ("opened_at", "resolved_at") else row[k])
                    for k in Alert.__dataclass_fields__})
