"""Initial schema: devices, events, ratings, cases, users, daily rollup.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _devices_events_ratings()
    _cases_people_rollup()


def _devices_events_ratings() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("window_no", sa.Text, nullable=False, server_default=""),
        sa.Column("section", sa.Text, nullable=False, server_default=""),
        sa.Column("staff_no", sa.Text, nullable=False, server_default=""),
        sa.Column("token_hash", sa.String(64), unique=True),
        sa.Column("token_issued_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime),
        sa.Column("last_state", sa.Text),
    )
    op.create_table(
        "enroll_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("repaired_at", sa.DateTime),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("boot_id", sa.Text, nullable=False),
        sa.Column("mono_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ratings",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger, nullable=False),
        sa.Column("misuse", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("channel", sa.SmallInteger, nullable=False),
        sa.Column("window_no", sa.Text, nullable=False),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("staff_no", sa.Text, nullable=False),
        sa.Column("staff_name", sa.Text, nullable=False),
        sa.Column("project_no", sa.Text),
        sa.Column("ticket_no", sa.Text),
        sa.Column("prompt_id", sa.Text),
        sa.Column("rated_at", sa.DateTime, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_index("ix_ratings_day", "ratings", ["day"])
    op.create_table(
        "rating_details",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("rating_id", sa.String(64), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_rating_details_rating_id", "rating_details", ["rating_id"])
    op.create_table(
        "unrated",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("prompt_id", sa.Text),
        sa.Column("project_no", sa.Text),
        sa.Column("ticket_no", sa.Text),
        sa.Column("staff_no", sa.Text, nullable=False),
        sa.Column("staff_name", sa.Text, nullable=False),
        sa.Column("window_no", sa.Text, nullable=False),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("channel", sa.SmallInteger, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_index("ix_unrated_day", "unrated", ["day"])


def _cases_people_rollup() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rating_id", sa.String(64), nullable=False, unique=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger, nullable=False),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("window_no", sa.Text, nullable=False),
        sa.Column("staff_no", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("rated_at", sa.DateTime, nullable=False),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("deadline", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_cases_state_deadline", "cases", ["state", "deadline"])
    op.create_table(
        "case_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_case_transitions_case_id", "case_transitions", ["case_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "rollup_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("section", sa.Text, primary_key=True),
        sa.Column("window_no", sa.Text, primary_key=True),
        sa.Column("staff_no", sa.Text, primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("misuse", sa.Boolean, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unrectified", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for name in ("rollup_daily", "sessions", "users", "case_transitions", "cases", "unrated",
                 "rating_details", "ratings", "events", "enroll_codes", "devices"):
        op.drop_table(name)
