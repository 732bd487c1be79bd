"""Persistence: schema, migrations and queries."""

from .db import RunRecord, Store, resolve_url

__all__ = ["RunRecord", "Store", "resolve_url"]
