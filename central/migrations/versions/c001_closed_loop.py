"""The 差评 closed loop v2: longer state names, plan due dates, follow-ups,
attachments and the rectified / phone / reached rollup counts.

Every existing case and transition is kept; the old states keep their names
(open, verified, rectified, fed_back, invalid all exist in v2). The new rollup
counts are filled from the cases: ``rectified`` = valid 差评 in rectified or
fed_back, ``phoned`` = valid 差评 whose rating left a phone number.

Revision ID: c001
Revises: r001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "c001"
down_revision = "r001"
branch_labels = None
depends_on = None

_COUNTS = ("rectified", "phoned", "reached")


_STEP_COLUMNS = "id, case_id, from_state, to_state, actor, at, note"


def _park_steps() -> None:
    """On SQLite, rebuilding ``cases`` drops it, which its child rows in
    ``case_transitions`` would block: they wait in a plain table meanwhile."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE TABLE _c001_steps AS SELECT {_STEP_COLUMNS} FROM case_transitions")
    op.execute("DELETE FROM case_transitions")


def _restore_steps() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"INSERT INTO case_transitions ({_STEP_COLUMNS}) SELECT {_STEP_COLUMNS} FROM _c001_steps ORDER BY id")
    op.execute("DROP TABLE _c001_steps")


def _month(column: str) -> str:
    if op.get_bind().dialect.name == "sqlite":
        return f"date({column}, 'start of month')"
    return f"date_trunc('month', {column})::date"


def upgrade() -> None:
    bind = op.get_bind()
    _park_steps()
    with op.batch_alter_table("cases") as b:
        b.alter_column("state", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)
        b.add_column(sa.Column("due_date", sa.Date))
        b.add_column(sa.Column("due_soon_at", sa.DateTime))
        b.add_column(sa.Column("has_phone", sa.Boolean, nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("reached", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("case_transitions") as b:
        b.alter_column("from_state", type_=sa.String(32), existing_type=sa.String(16))
        b.alter_column("to_state", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)
        b.add_column(sa.Column("data", sa.Text))
    _restore_steps()
    for table in ("rollup_daily", "rollup_monthly"):
        with op.batch_alter_table(table) as b:
            for name in _COUNTS:
                b.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "case_followups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("reached", sa.Boolean, nullable=False),
        sa.Column("satisfied", sa.String(8), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("uploaded_at", sa.DateTime, nullable=False),
    )

    # Fill the new columns from what the cases already say.
    op.execute("""
        UPDATE cases SET has_phone = EXISTS (
            SELECT 1 FROM rating_details d WHERE d.rating_id = cases.rating_id
            AND d.phone IS NOT NULL AND d.phone <> '')
    """)
    if bind.dialect.name == "sqlite":
        op.execute("UPDATE cases SET due_soon_at = datetime(deadline, '-1 day')")
    else:
        op.execute("UPDATE cases SET due_soon_at = deadline - interval '1 day'")
    counts = {"rectified": "c.state IN ('rectified', 'fed_back')",
              "phoned": "c.state <> 'invalid' AND c.has_phone"}
    for table, first, day in (("rollup_daily", "day", "c.day"), ("rollup_monthly", "month", _month("c.day"))):
        sets = ", ".join(
            f"{name} = (SELECT count(*) FROM cases c WHERE {day} = {table}.{first} "
            f"AND c.section = {table}.section AND c.window_no = {table}.window_no "
            f"AND c.staff_no = {table}.staff_no AND c.satisfaction = {table}.level AND {cond})"
            for name, cond in counts.items())
        op.execute(f"UPDATE {table} SET {sets} WHERE level IN (1, 2) AND misuse = {_false()}")


def _false() -> str:
    return "0" if op.get_bind().dialect.name == "sqlite" else "false"


def downgrade() -> None:
    bind = op.get_bind()
    # v2 states that v1 lacks fall back to the nearest v1 state.
    for new, old in (("invalid_requested", "open"), ("planned", "verified"), ("unfixable_requested", "verified"),
                     ("unfixable", "verified"), ("closed", "fed_back")):
        op.execute(f"UPDATE cases SET state = '{old}' WHERE state = '{new}'")
        op.execute(f"UPDATE case_transitions SET to_state = '{old}' WHERE to_state = '{new}'")
        op.execute(f"UPDATE case_transitions SET from_state = '{old}' WHERE from_state = '{new}'")
    op.drop_table("case_attachments")
    op.drop_table("case_followups")
    for table in ("rollup_daily", "rollup_monthly"):
        with op.batch_alter_table(table) as b:
            for name in _COUNTS:
                b.drop_column(name)
    _park_steps()
    with op.batch_alter_table("case_transitions") as b:
        b.drop_column("data")
        b.alter_column("from_state", type_=sa.String(16), existing_type=sa.String(32))
        b.alter_column("to_state", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
    with op.batch_alter_table("cases") as b:
        for name in ("reached", "has_phone", "due_soon_at", "due_date"):
            b.drop_column(name)
        b.alter_column("state", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
    _restore_steps()
