"""Registry: model versions, aliases (stages) and the history of every alias move.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "versions",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent", sa.String(255)),
        sa.Column("recipe", sa.JSON, nullable=False),
        sa.Column("data_hashes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(255), sa.ForeignKey("versions.name"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("previous", sa.String(255)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alias_events_alias", "alias_events", ["alias"])


def downgrade() -> None:
    op.drop_index("ix_alias_events_alias", "alias_events")
    op.drop_table("alias_events")
    op.drop_table("aliases")
    op.drop_table("versions")
