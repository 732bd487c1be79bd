"""Initial schema: runs and results.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("suite", sa.String(255), nullable=False),
        sa.Column("suite_source", sa.Text, nullable=False),
        sa.Column("suite_digest", sa.String(64), nullable=False),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expected", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("undrift_version", sa.String(32), nullable=False),
    )
    op.create_index("ix_runs_name", "runs", ["name"])
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("sample_id", sa.String(255), nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("slices", sa.JSON, nullable=False),
        sa.Column("messages", sa.JSON, nullable=False),
        sa.Column("target", sa.JSON),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("extracted", sa.Text),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("correct", sa.Boolean),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("finish_reason", sa.String(32), nullable=False),
        sa.Column("system_fingerprint", sa.String(255)),
        sa.Column("cache_key", sa.String(64)),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "task", "sample_id", "repeat", name="uq_results_item"),
    )
    op.create_index("ix_results_cache_key", "results", ["cache_key"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("runs")
