"""Corrections of staff entries: the original of each corrected or withdrawn entry.

Revision ID: ec01
Revises: ch01
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "ec01"
down_revision = "ch01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entry_corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rating_id", sa.String(64), nullable=False, unique=True),
        sa.Column("replaced_by", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("by_id", sa.Integer),
        sa.Column("by", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("original", sa.Text, nullable=False),
        sa.Column("case_id", sa.Integer),
        sa.Column("pushed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_entry_corrections_replaced_by", "entry_corrections", ["replaced_by"])


def downgrade() -> None:
    op.drop_index("ix_entry_corrections_replaced_by", "entry_corrections")
    op.drop_table("entry_corrections")
