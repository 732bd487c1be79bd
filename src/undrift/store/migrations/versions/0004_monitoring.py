"""Monitoring: watches, their ticks, alerts and their deliveries; recorded live traffic.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("suite", sa.Text, nullable=False),
        sa.Column("schedule", sa.String(255), nullable=False),
        sa.Column("baseline", sa.String(255), nullable=False),
        sa.Column("policy", sa.Text),
        sa.Column("max_calls", sa.Integer),
        sa.Column("webhooks", sa.JSON, nullable=False),
        sa.Column("alert_command", sa.Text),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "watch_ticks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("watch", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("check_decision", sa.String(16)),
        sa.Column("baseline_run", sa.String(32)),
        sa.Column("check_run", sa.String(32)),
        sa.Column("full_run", sa.String(32)),
        sa.Column("gate", sa.JSON),
        sa.Column("fingerprint", sa.JSON),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_watch_ticks_watch", "watch_ticks", ["watch"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("watch", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("opened_tick", sa.Integer, nullable=False),
        sa.Column("last_tick", sa.Integer, nullable=False),
        sa.Column("resolved_tick", sa.Integer),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_alerts_watch", "alerts", ["watch"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("response_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])
    op.create_table(
        "traffic",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag", sa.String(255)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("upstream", sa.Text, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("request", sa.JSON),
        sa.Column("response", sa.JSON),
        sa.Column("response_text", sa.Text),
        sa.Column("model", sa.String(255)),
        sa.Column("served_model", sa.String(255)),
        sa.Column("system_fingerprint", sa.String(255)),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("ttft_s", sa.Float),
        sa.Column("tokens_in", sa.Integer),
        sa.Column("tokens_out", sa.Integer),
        sa.Column("finish_reason", sa.String(32)),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_traffic_at", "traffic", ["at"])
    op.create_index("ix_traffic_tag", "traffic", ["tag"])


def downgrade() -> None:
    op.drop_table("traffic")
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
    op.drop_table("watch_ticks")
    op.drop_table("watches")
