"""Recorded live traffic: what the proxy writes and what `traffic` and `replay` read.

One `TrafficRecord` is one request that passed through `undrift proxy`, already redacted: credentials and the
`--redact` patterns never reach this module.  Records are written in batches by the proxy's background writer, one
transaction each, so a store that fails mid-batch loses that batch (counted as dropped by the proxy), never half of it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ..jsonable import jsonable
from .db import Store, as_utc
from .schema import traffic


@dataclass(frozen=True)
class TrafficRecord:
    at: datetime
    method: str
    path: str
    upstream: str
    stream: bool
    status: int
    latency_s: float
    request: Any = None  # the JSON body, redacted; None when the body was not JSON
    response: Any = None  # the JSON response (a stream assembled into one chat completion), redacted
    response_text: str | None = None
    tag: str | None = None
    model: str | None = None
    served_model: str | None = None
    system_fingerprint: str | None = None
    ttft_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    id: int | None = None  # set once stored

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


_COLUMNS = [f.name for f in fields(TrafficRecord) if f.name != "id"]


def add_traffic(store: Store, records: list[TrafficRecord]) -> None:
    """Write a batch of records in one transaction: all of them land, or none."""
    if not records:
        return
    with store.engine.begin() as connection:
        connection.execute(traffic.insert(), [{name: getattr(r, name) for name in _COLUMNS} for r in records])


def read_traffic(store: Store, since: datetime | None = None, until: datetime | None = None, tag: str | None = None,
                 path: str | None = None, limit: int | None = None) -> list[TrafficRecord]:
    """Recorded requests with `since <= at < until`, oldest first."""
    query = select(traffic).order_by(traffic.c.at, traffic.c.id)
    if since is not None:
        query = query.where(traffic.c.at >= as_utc(since))
    if until is not None:
        query = query.where(traffic.c.at < as_utc(until))
    if tag is not None:
        query = query.where(traffic.c.tag == tag)
    if path is not None:
        query = query.where(traffic.c.path == path)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [TrafficRecord(**{**{name: row[name] for name in _COLUMNS}, "at": as_utc(row["at"]), "id": row["id"]})
            for row in rows]


def count_traffic(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(traffic)).scalar_one()


__all__ = ["TrafficRecord", "add_traffic", "read_traffic", "count_traffic"]
