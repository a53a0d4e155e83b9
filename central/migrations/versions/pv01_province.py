"""办件 on ratings and unrated events, the per-project assess_number and the
push records for the provincial platform.

Revision ID: pv01
Revises: m001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "pv01"
down_revision = "m001"
branch_labels = None
depends_on = None

_PROJECT = (("task_code", sa.Text), ("task_name", sa.Text), ("dept_code", sa.Text), ("dept_name", sa.Text),
            ("user_name", sa.Text), ("user_prop", sa.SmallInteger), ("accept_date", sa.Text),
            ("promise_date", sa.Text))


def upgrade() -> None:
    for table in ("ratings", "unrated"):
        with op.batch_alter_table(table) as t:
            for name, kind in _PROJECT:
                t.add_column(sa.Column(name, kind))
            if table == "ratings":
                t.add_column(sa.Column("assess_number", sa.Integer))
    op.create_index("ux_ratings_project_assess", "ratings", ["project_no", "assess_number"], unique=True,
                    sqlite_where=sa.text("project_no IS NOT NULL"),
                    postgresql_where=sa.text("project_no IS NOT NULL"))
    op.create_table(
        "province_counters",
        sa.Column("project_no", sa.Text, primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
    )
    op.create_table(
        "province_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rating_id", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("last_error", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
    )
    op.create_index("ix_province_outbox_due", "province_outbox", ["status", "next_attempt_at"])
    # Ratings stored before this revision keep a NULL assess_number and get no push record.


def downgrade() -> None:
    op.drop_table("province_outbox")
    op.drop_table("province_counters")
    op.drop_index("ux_ratings_project_assess", "ratings")
    for table in ("ratings", "unrated"):
        with op.batch_alter_table(table) as t:
            if table == "ratings":
                t.drop_column("assess_number")
            for name, _ in reversed(_PROJECT):
                t.drop_column(name)
