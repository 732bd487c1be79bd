"""Persistence: schema, migrations and queries."""

from .db import FINISHED_STATUSES, RunRecord, Store, as_store, resolve_url, store_exists
from .rows import ResultRow

__all__ = ["FINISHED_STATUSES", "ResultRow", "RunRecord", "Store", "as_store", "resolve_url", "store_exists"]
