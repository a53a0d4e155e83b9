"""The daily counts per section (``rollup_sections``), filled from ``rollup_daily``;
a partial index of the valid 差评 cells of ``rollup_daily`` by day, window and staff.

Revision ID: rs01
Revises: hs01
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "rs01"
down_revision = "hs01"
branch_labels = None
depends_on = None

COUNTS = ("count", "unrectified", "rectified", "phoned", "reached")


def upgrade() -> None:
    op.create_table(
        "rollup_sections",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("section", sa.Text, primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("misuse", sa.Boolean, primary_key=True),
        *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in COUNTS),
    )
    sums = ", ".join(f"sum({name})" for name in COUNTS)
    op.execute(f"""
        INSERT INTO rollup_sections (day, section, level, misuse, {", ".join(COUNTS)})
        SELECT day, section, level, misuse, {sums}
        FROM rollup_daily GROUP BY day, section, level, misuse
    """)
    op.create_index("ix_rollup_daily_bad", "rollup_daily", ["day", "window_no", "staff_no", "count"],
                    sqlite_where=sa.text("level IN (1, 2) AND misuse = 0"),
                    postgresql_where=sa.text("level IN (1, 2) AND NOT misuse"))


def downgrade() -> None:
    op.drop_index("ix_rollup_daily_bad", "rollup_daily")
    op.drop_table("rollup_sections")
