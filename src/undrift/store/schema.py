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

# -- monitoring: watches, their ticks and alerts (monitor/), recorded live traffic (proxy/, traffic/) ----------------

watches = Table(
    "watches",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("model_spec", Text, nullable=False),
    Column("suite", Text, nullable=False),  # a built-in suite's name or a suite file's path, as `run` takes it
    Column("schedule", String(255), nullable=False),  # "6h", "1d" or "cron: 0 6 * * *" (monitor/schedule.py)
    Column("baseline", String(255), nullable=False),  # a run id, or "first": the watch's first full run
    Column("policy", Text),  # the policy's YAML text, kept in the store so every machine gates alike
    Column("max_calls", Integer),
    Column("webhooks", JSON, nullable=False),
    Column("alert_command", Text),
    Column("options", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_due_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(255)),  # pid@host of the process ticking it now
    Column("lease_until", DateTime(timezone=True)),
)

watch_ticks = Table(
    "watch_ticks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("watch", String(255), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running, passed, failed, error
    Column("check_decision", String(16)),
    Column("baseline_run", String(32)),
    Column("check_run", String(32)),
    Column("full_run", String(32)),
    Column("gate", JSON),
    Column("fingerprint", JSON),  # the served fingerprint and the behavioural one (canary answers)
    Column("events", JSON, nullable=False),  # fingerprint changes and other things worth telling
    Column("calls", Integer, nullable=False),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("error", Text),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("watch", String(255), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # regression (stateful) or fingerprint (a notice)
    Column("status", String(16), nullable=False),  # open, resolved
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("opened_tick", Integer, nullable=False),
    Column("last_tick", Integer, nullable=False),
    Column("resolved_tick", Integer),
    Column("summary", Text, nullable=False),
    Column("payload", JSON, nullable=False),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("event", String(16), nullable=False),  # opened, resolved, notice
    Column("target", Text, nullable=False),  # the webhook URL or the command
    Column("attempts", Integer, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("response_status", Integer),
    Column("error", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)

traffic = Table(
    "traffic",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("tag", String(255), index=True),  # the caller's X-Undrift-Tag
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("upstream", Text, nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("status", Integer, nullable=False),  # the upstream's HTTP status; 502/504 when it failed or hung
    Column("request", JSON),  # the request body as JSON, redacted; null when it was not JSON
    Column("response", JSON),  # the response body as JSON (a stream assembled into one), redacted
    Column("response_text", Text),  # the assistant's text, for the drift of meaning
    Column("model", String(255)),  # requested
    Column("served_model", String(255)),
    Column("system_fingerprint", String(255)),
    Column("latency_s", Float, nullable=False),
    Column("ttft_s", Float),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("finish_reason", String(32)),
    Column("error", Text),
)

# -- review: labels a person gave to stored answers (labels.py) ----------------------------------------------------

labels = Table(
    "labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("task", String(255), nullable=False),
    Column("sample_id", String(255), nullable=False),
    Column("label", String(16), nullable=False),  # correct, incorrect or unsafe
    Column("correction", Text),  # the answer the reviewer would have wanted
    Column("reviewer", String(255)),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_labels_item", "run_id", "task", "sample_id"),
)
