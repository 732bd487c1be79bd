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
                 path: str | None = None, limit: int | None = None, model: str | None = None,
                 responses: bool = True) -> list[TrafficRecord]:
    """Recorded requests with `since <= at < until`, oldest first; `model`: only those asking for that model.
    `responses=False` leaves the response bodies out (`response` is None; `response_text` is kept): the analysis
    needs only the text, and decoding every body is most of the time a read of many records takes."""
    columns = [c for c in traffic.c if responses or c.name != "response"]
    query = select(*columns).order_by(traffic.c.at, traffic.c.id)
    if since is not None:
        query = query.where(traffic.c.at >= as_utc(since))
    if until is not None:
        query = query.where(traffic.c.at < as_utc(until))
    if tag is not None:
        query = query.where(traffic.c.tag == tag)
    if path is not None:
        query = query.where(traffic.c.path == path)
    if model is not None:
        query = query.where(traffic.c.model == model)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [TrafficRecord(**{**{name: row.get(name) for name in _COLUMNS}, "at": as_utc(row["at"]), "id": row["id"]})
            for row in rows]


@dataclass(frozen=True)
class RecordedModel:
    """A model the callers asked the proxy for (the request's `model`), with how much of its traffic is recorded."""

    model: str
    records: int
    first_at: datetime
    last_at: datetime


def recorded_models(store: Store) -> list[RecordedModel]:
    """The models recorded completions asked for, most recently seen first, with the number of their records (any
    path) and their first and last times; a model asked only for embeddings, say, is left out (no answers to watch)."""
    query = (select(traffic.c.model, traffic.c.path, func.count(), func.min(traffic.c.at), func.max(traffic.c.at))
             .where(traffic.c.model.is_not(None)).group_by(traffic.c.model, traffic.c.path))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    answered = {row[0] for row in rows if is_completion(row[1])}
    found: dict[str, RecordedModel] = {}
    for model, _, count, first, last in (row for row in rows if row[0] in answered):
        before = found.get(model)
        first, last = as_utc(first), as_utc(last)
        found[model] = RecordedModel(model, count, first, last) if before is None else RecordedModel(
            model, before.records + count, min(before.first_at, first), max(before.last_at, last))
    return sorted(found.values(), key=lambda m: (m.last_at, m.model), reverse=True)


def is_completion(path: str) -> bool:
    """Chat and text completions carry answers; other proxied paths (/v1/models, embeddings, ...) do not."""
    return path.split("?")[0].rstrip("/").endswith("completions")


def count_traffic(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(traffic)).scalar_one()


__all__ = ["RecordedModel", "TrafficRecord", "add_traffic", "count_traffic", "is_completion", "read_traffic",
           "recorded_models"]
