"""Persistence: schema, migrations and queries."""

from .db import RunRecord, Store, as_store, resolve_url
from .rows import ResultRow

__all__ = ["ResultRow", "RunRecord", "Store", "as_store", "resolve_url"]
