"""Ratings per half hour for the heat map (``rollup_slots``, and for the whole hall
``rollup_slots_hall``), filled from the ratings;
an index of the named ratings by staff number (the latest name of a staff member).

Revision ID: hs01
Revises: ec01
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "hs01"
down_revision = "ec01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_slots",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("slot", sa.DateTime, primary_key=True),
        sa.Column("section", sa.Text, primary_key=True),
        sa.Column("window_no", sa.Text, primary_key=True),
        sa.Column("staff_no", sa.Text, primary_key=True),
        sa.Column("misuse", sa.Boolean, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "rollup_slots_hall",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("slot", sa.DateTime, primary_key=True),
        sa.Column("misuse", sa.Boolean, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
    )
    if op.get_bind().dialect.name == "sqlite":  # rated_at is stored as "YYYY-MM-DD HH:MM:SS.ffffff"
        slot = ("substr(rated_at, 1, 14) || CASE WHEN substr(rated_at, 15, 2) < '30' THEN '00' ELSE '30' END"
                " || ':00.000000'")
    else:
        slot = "date_trunc('hour', rated_at) + CASE WHEN extract(minute FROM rated_at) >= 30 " \
               "THEN interval '30 minutes' ELSE interval '0 minutes' END"
    # as is, through the driver: to op.execute ":00" would be a bind parameter
    op.get_bind().exec_driver_sql(f"""
        INSERT INTO rollup_slots (day, slot, section, window_no, staff_no, misuse, count)
        SELECT day, {slot}, section, window_no, staff_no, misuse, count(*)
        FROM ratings GROUP BY day, {slot}, section, window_no, staff_no, misuse
    """)
    op.execute("""
        INSERT INTO rollup_slots_hall (day, slot, misuse, count)
        SELECT day, slot, misuse, sum(count) FROM rollup_slots GROUP BY day, slot, misuse
    """)


    op.create_index("ix_ratings_staff_named", "ratings", ["staff_no", "day"],
                    sqlite_where=sa.text("staff_name <> ''"), postgresql_where=sa.text("staff_name <> ''"))


def downgrade() -> None:
    op.drop_index("ix_ratings_staff_named", "ratings")
    op.drop_table("rollup_slots_hall")
    op.drop_table("rollup_slots")
