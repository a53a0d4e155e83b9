"""Every channel into one system: staff entries, integrations and window QR codes.

Revision ID: ch01
Revises: m001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "ch01"
down_revision = "m001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_entries",
        sa.Column("rating_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.Text, unique=True),
        sa.Column("form_no", sa.Text),
        sa.Column("external_id", sa.Text),
        sa.Column("integration_id", sa.Integer),
        sa.Column("entered_by_id", sa.Integer),
        sa.Column("entered_by", sa.Text, nullable=False),
        sa.Column("client_hash", sa.String(64)),
        sa.Column("client_ip", sa.Text),
        sa.Column("entered_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_channel_entries_user", "channel_entries", ["entered_by_id", "entered_at"])
    op.create_index("ix_channel_entries_client", "channel_entries", ["client_hash", "entered_at"])
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "window_qr_codes",
        sa.Column("window_no", sa.Text, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("window_qr_codes")
    op.drop_table("integrations")
    op.drop_index("ix_channel_entries_client", "channel_entries")
    op.drop_index("ix_channel_entries_user", "channel_entries")
    op.drop_table("channel_entries")
