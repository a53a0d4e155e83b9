"""Monthly rollup beside the daily one, filled from the daily counts.

Revision ID: 0002
Revises: w001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "w001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_monthly",
        sa.Column("month", sa.Date, primary_key=True),
        sa.Column("section", sa.Text, primary_key=True),
        sa.Column("window_no", sa.Text, primary_key=True),
        sa.Column("staff_no", sa.Text, primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("misuse", sa.Boolean, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unrectified", sa.BigInteger, nullable=False, server_default="0"),
    )
    month = ("date(day, 'start of month')" if op.get_bind().dialect.name == "sqlite"
             else "date_trunc('month', day)::date")
    op.execute(f"""
        INSERT INTO rollup_monthly (month, section, window_no, staff_no, level, misuse, count, unrectified)
        SELECT {month}, section, window_no, staff_no, level, misuse, sum(count), sum(unrectified)
        FROM rollup_daily GROUP BY {month}, section, window_no, staff_no, level, misuse
    """)


def downgrade() -> None:
    op.drop_table("rollup_monthly")
