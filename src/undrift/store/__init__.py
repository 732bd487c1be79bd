"""Persistence: schema, migrations and queries."""

from .db import FINISHED_STATUSES, RunRecord, Store, as_store, resolve_url

__all__ = ["FINISHED_STATUSES", "RunRecord", "Store", "as_store", "resolve_url"]
