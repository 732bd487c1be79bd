"""The tables.  Runs are append-only; a result row is one (task, sample, repeat) of a run.

Changing this file means writing an Alembic migration in `migrations/versions/` (the test suite checks that the
migrations produce exactly these tables).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy import UniqueConstraint

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, index=True),
    Column("suite", String(255), nullable=False),
    Column("suite_source", Text, nullable=False),
    Column("suite_digest", String(64), nullable=False),
    Column("model_spec", Text, nullable=False),
    Column("fingerprint", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expected", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("undrift_version", String(32), nullable=False),
    Column("owner", String(255)),  # "pid@host" of the process running it (store/lease.py)
    Column("heartbeat_at", DateTime(timezone=True)),  # renewed while it runs; a stale one means the owner died
)

results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("task", String(255), nullable=False),
    Column("sample_id", String(255), nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("slices", JSON, nullable=False),
    Column("messages", JSON, nullable=False),
    Column("target", JSON),
    Column("response", Text, nullable=False),
    Column("variants", JSON, nullable=False),
    Column("extracted", Text),
    Column("value", Float, nullable=False),
    Column("correct", Boolean),
    Column("details", JSON, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("finish_reason", String(32), nullable=False),
    Column("system_fingerprint", String(255)),
    Column("cache_key", String(64)),
    Column("cached", Boolean, nullable=False),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "task", "sample_id", "repeat", name="uq_results_item"),
    Index("ix_results_cache_key", "cache_key"),
)

versions = Table(
    "versions",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("parent", String(255)),
    Column("recipe", JSON, nullable=False),
    Column("data_hashes", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    Column("alias", String(255), primary_key=True),
    Column("version", String(255), ForeignKey("versions.name"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alias", String(255), nullable=False, index=True),
    Column("version", String(255), nullable=False),
    Column("previous", String(255)),
    Column("action", String(16), nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)
