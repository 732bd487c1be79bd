"""Persistence: schema, migrations and queries."""

from .db import RunRecord, Store, as_store, resolve_url, store_exists

__all__ = ["RunRecord", "Store", "as_store", "resolve_url", "store_exists"]
