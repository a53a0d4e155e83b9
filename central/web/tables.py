"""Tables the web pages add (created by migration ``w001``, never by create_all)."""

import sqlalchemy as sa

metadata = sa.MetaData()

#: Failed logins, one row each; counted per username and per client address.
login_attempts = sa.Table(
    "web_login_attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

#: Alerts waiting to be delivered (or delivered: ``sent_at`` set). One row per
#: (kind, case): a case is announced once per kind however many processes run.
alert_outbox = sa.Table(
    "alert_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("case_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", sa.DateTime, nullable=False),
    sa.Column("claimed_until", sa.DateTime),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("kind", "case_id", name="uq_alert_outbox_kind_case"),
)

#: Small persistent values (the alert scanner's case-id watermark).
web_meta = sa.Table(
    "web_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
