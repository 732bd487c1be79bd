"""Review labels: a person's verdict (correct, incorrect, unsafe) and correction for a stored answer.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("sample_id", sa.String(255), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("correction", sa.Text),
        sa.Column("reviewer", sa.String(255)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_labels_item", "labels", ["run_id", "task", "sample_id"])


def downgrade() -> None:
    op.drop_table("labels")
