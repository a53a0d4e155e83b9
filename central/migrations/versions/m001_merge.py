"""Join the two lines of the schema (rating claims and the closed loop) into
one head, so that every later revision has a single parent.

Revision ID: m001
Revises: s001, c001
Create Date: 2026-12-02
"""

revision = "m001"
down_revision = ("s001", "c001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
