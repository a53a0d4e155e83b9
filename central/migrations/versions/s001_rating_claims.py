"""What a device claimed when it differs from its registration, and staff
numbers that are neither in the roster nor the device's registered staff.

Revision ID: s001
Revises: r001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "s001"
down_revision = "r001"
branch_labels = None
depends_on = None

TABLES = ("ratings", "unrated")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("claimed_window_no", sa.Text))
            batch.add_column(sa.Column("claimed_section", sa.Text))
            batch.add_column(sa.Column("staff_flagged", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("staff_flagged")
            batch.drop_column("claimed_section")
            batch.drop_column("claimed_window_no")
