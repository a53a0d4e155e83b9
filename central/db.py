"""Database tables, engines and schema upgrades.

The tables are SQLAlchemy Core objects; the schema in a database is created
and upgraded only by the Alembic migrations in ``central/migrations``
(:func:`upgrade`). A SQLite file is the default store (WAL, ``synchronous=FULL``
and a busy timeout on every connection); PostgreSQL (psycopg 3) is for scale.

Every time column holds naive UTC. ``day`` columns hold the local date in the
server's timezone, fixed when the row is written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import DatabaseURLError

metadata = sa.MetaData()

#: Devices allowed to upload. ``token_hash`` is sha256 of the bearer token.
devices = sa.Table(
    "devices", metadata,
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

#: One-time enrolment codes (hashed), redeemed by ``POST /api/v1/enroll``.
enroll_codes = sa.Table(
    "enroll_codes", metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("used_at", sa.DateTime),
)

#: Every accepted event, once per id; ``payload_hash`` tells a duplicate from a conflict.
events = sa.Table(
    "events", metadata,
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

def _claim_columns() -> tuple[sa.Column, ...]:
    """On ratings and unrated: the window and section the event claimed when the
    device's registration says otherwise (the row holds the registered ones), and
    whether its staff number is neither in the roster nor the device's staff."""
    return (sa.Column("claimed_window_no", sa.Text), sa.Column("claimed_section", sa.Text),
            sa.Column("staff_flagged", sa.Boolean, nullable=False, server_default=sa.false()))


def _project_columns() -> tuple[sa.Column, ...]:
    """On ratings and unrated: the 办件 the event carried (``user_name`` is the
    申请人, personal data; ``user_prop`` 1 个人, 2 法人)."""
    return (sa.Column("task_code", sa.Text), sa.Column("task_name", sa.Text), sa.Column("dept_code", sa.Text),
            sa.Column("dept_name", sa.Text), sa.Column("user_name", sa.Text), sa.Column("user_prop", sa.SmallInteger),
            sa.Column("accept_date", sa.Text), sa.Column("promise_date", sa.Text))


ratings = sa.Table(
    "ratings", metadata,
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
    *_claim_columns(),
    *_project_columns(),
    #: 评价次数: the ratings of one project_no numbered 1, 2, … in arrival order (central.province)
    sa.Column("assess_number", sa.Integer),
    sa.Index("ix_ratings_day", "day"),
    #: the latest name a staff number was rated under (central.stats.staff_names)
    sa.Index("ix_ratings_staff_named", "staff_no", "day", sqlite_where=sa.text("staff_name <> ''"),
             postgresql_where=sa.text("staff_name <> ''")),
    sa.Index("ux_ratings_project_assess", "project_no", "assess_number", unique=True,
             sqlite_where=sa.text("project_no IS NOT NULL"), postgresql_where=sa.text("project_no IS NOT NULL")),
)

rating_details = sa.Table(
    "rating_details", metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("rating_id", sa.String(64), nullable=False, index=True),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

unrated = sa.Table(
    "unrated", metadata,
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
    sa.Column("day", sa.Date, nullable=False, index=True),
    *_claim_columns(),
    *_project_columns(),
)

#: The last assess_number given to each project_no (its row is locked while a
#: transaction numbers that project's ratings: concurrent batches never share a number).
province_counters = sa.Table(
    "province_counters", metadata,
    sa.Column("project_no", sa.Text, primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

#: One push record per rating for the provincial platform (central.province),
#: written in the rating's transaction. ``claimed_until`` is the lease of the
#: worker sending it; ``reason`` the platform's answer when it refused.
province_outbox = sa.Table(
    "province_outbox", metadata,
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
    sa.Index("ix_province_outbox_due", "status", "next_attempt_at"),
)

#: 差评工单: one per bad, non-misuse rating.
cases = sa.Table(
    "cases", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rating_id", sa.String(64), nullable=False, unique=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("satisfaction", sa.SmallInteger, nullable=False),
    sa.Column("section", sa.Text, nullable=False),
    sa.Column("window_no", sa.Text, nullable=False),
    sa.Column("staff_no", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("rated_at", sa.DateTime, nullable=False),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("deadline", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # The closed loop v2 (central.workflow): a plan's due date, the reminder time,
    # whether the rating left a phone and whether a follow-up reached the citizen.
    sa.Column("due_date", sa.Date),
    sa.Column("due_soon_at", sa.DateTime),
    sa.Column("has_phone", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_cases_state_deadline", "state", "deadline"),
)

case_transitions = sa.Table(
    "case_transitions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("from_state", sa.String(32)),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("data", sa.Text),  # JSON: reasons, due_date, attachment_ids of that step
)

#: 回访: follow-up contacts with the citizen of a case.
case_followups = sa.Table(
    "case_followups", metadata,
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

#: Files of a case (written report, formal document, photo), kept in the database
#: under a generated id: no file name chosen by a user ever becomes a path.
case_attachments = sa.Table(
    "case_attachments", metadata,
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

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

#: Login sessions (bearer token or cookie), sha256-hashed.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

def _rollup_counts() -> list[sa.Column]:
    """The counts of a rollup cell (central.rollups.ROLLUP_COUNTS)."""
    return [sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
            for name in ("count", "unrectified", "rectified", "phoned", "reached")]


#: The cells of the valid 差评 (levels 2 and 1, not misuse), as each dialect must see
#: them in a query to use the partial index ``ix_rollup_daily_bad``: literally.
BAD_CELLS = {"sqlite": "level IN (1, 2) AND misuse = 0", "postgresql": "level IN (1, 2) AND NOT misuse"}

#: Daily counts maintained in the ingest transaction; ``level`` 0 = unrated.
#: ``count`` leaves out invalidated cases; ``unrectified`` / ``rectified`` count the valid
#: 差评 not rectified / rectified (central.workflow), ``phoned`` those with a phone and
#: ``reached`` those of them whose follow-up reached the citizen.
rollup_daily = sa.Table(
    "rollup_daily", metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("section", sa.Text, primary_key=True),
    sa.Column("window_no", sa.Text, primary_key=True),
    sa.Column("staff_no", sa.Text, primary_key=True),
    sa.Column("level", sa.SmallInteger, primary_key=True),
    sa.Column("misuse", sa.Boolean, primary_key=True),
    *_rollup_counts(),
    # the valid 差评 by day, window and staff, read without the table (the overview's
    # rising 差评: :func:`central.stats.bad_by_window_and_staff`)
    sa.Index("ix_rollup_daily_bad", "day", "window_no", "staff_no", "count",
             sqlite_where=sa.text(BAD_CELLS["sqlite"]), postgresql_where=sa.text(BAD_CELLS["postgresql"])),
)


#: The same counts per calendar month (``month`` = its first day), so long ranges
#: read a few cells per month instead of one per day.
rollup_monthly = sa.Table(
    "rollup_monthly", metadata,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("section", sa.Text, primary_key=True),
    sa.Column("window_no", sa.Text, primary_key=True),
    sa.Column("staff_no", sa.Text, primary_key=True),
    sa.Column("level", sa.SmallInteger, primary_key=True),
    sa.Column("misuse", sa.Boolean, primary_key=True),
    *_rollup_counts(),
)


#: The daily counts per section only (no window, no staff): what the hall totals,
#: the sections and the days of the overview and the board read, about a tenth of
#: the cells of ``rollup_daily``. Kept by :func:`central.rollups.rollup_add` with it.
rollup_sections = sa.Table(
    "rollup_sections", metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("section", sa.Text, primary_key=True),
    sa.Column("level", sa.SmallInteger, primary_key=True),
    sa.Column("misuse", sa.Boolean, primary_key=True),
    *_rollup_counts(),
)


#: Ratings per half hour, for the heat map by weekday and hour: ``slot`` is the
#: rating's time (naive UTC) cut to the half hour, ``day`` its local date. Every
#: whole- and half-hour UTC offset puts a slot in one local hour of one day, so
#: the heat map of any such server timezone is read from these cells. Counts every
#: stored rating, as the ratings table holds them (an invalid case does not remove
#: its rating from the heat map).
rollup_slots = sa.Table(
    "rollup_slots", metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("slot", sa.DateTime, primary_key=True),
    sa.Column("section", sa.Text, primary_key=True),
    sa.Column("window_no", sa.Text, primary_key=True),
    sa.Column("staff_no", sa.Text, primary_key=True),
    sa.Column("misuse", sa.Boolean, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
)

#: The same half hours for the whole hall (the overview's unfiltered heat map):
#: a few thousand cells a month, whatever the number of windows and staff.
rollup_slots_hall = sa.Table(
    "rollup_slots_hall", metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("slot", sa.DateTime, primary_key=True),
    sa.Column("misuse", sa.Boolean, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
)


# --- URLs and engines -------------------------------------------------------

def normalize_url(value: str) -> str:
    """A ``--db`` value as a SQLAlchemy URL.

    ``sqlite:///rel.db``, ``sqlite:////abs.db`` and ``postgresql://user@host:port/db``
    are taken as given (PostgreSQL through psycopg 3); anything without a scheme is a
    SQLite file path. A file name that starts with ``-`` (``-``, ``--wal``) is refused:
    it is a mistyped option, not a database to create.
    """
    value = (value or "").strip()
    if not value:
        raise DatabaseURLError("the database URL is empty: give --db or [server] db")
    if "://" not in value:
        _refuse_option_like(value, value)
        return "sqlite:///" + str(Path(value).expanduser().resolve())
    scheme, rest = value.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        url = "postgresql+psycopg://" + rest
        try:
            parsed = sa.engine.make_url(url)
            port = parsed.port
        except (ValueError, sa.exc.ArgumentError) as exc:
            raise DatabaseURLError(f"{value!r} is not a valid PostgreSQL URL ({exc}): expected "
                                   "postgresql://user@host:port/db") from None
        if port is not None and not 0 < port < 65536:
            raise DatabaseURLError(f"{value!r}: port {port} is out of range (1-65535)")
        return url
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise DatabaseURLError(f"{value!r} names no file: expected sqlite:///file.db or sqlite:////abs/path.db")
        if path != ":memory:":
            _refuse_option_like(path, value)
        return value
    raise DatabaseURLError(
        f"{value!r} is not a supported database URL: expected sqlite:///file.db, "
        "sqlite:////abs/path.db, postgresql://user@host:port/db or a file path")


def _refuse_option_like(path: str, value: str) -> None:
    if Path(path).name.startswith("-"):
        raise DatabaseURLError(
            f"{value!r} looks like a command-line option, not a database file: give a path such as "
            "./central.db or a URL (sqlite:///central.db, postgresql://user@host:port/db)")


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """A new engine for ``url`` with the SQLite pragmas (or PostgreSQL pool) set up."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                  pool_size=pool_size, max_overflow=pool_size)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn):
            immediate = conn.get_execution_options().get("sqlite_immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        return engine
    # No ping before each checkout (a round trip per request on the devices' hot path): a
    # connection found dead invalidates the whole pool, and ingest retries its batch then.
    # Every connection stays open (no overflow): a PostgreSQL connection is a backend
    # process, and opening one per busy moment cost more than the requests it served.
    return sa.create_engine(url, pool_size=2 * pool_size, max_overflow=0)


def engine_for(url: str) -> Engine:
    """A shared engine per URL (for the CLI and the test helpers)."""
    url = normalize_url(url)
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite it takes the write lock up front
    (``BEGIN IMMEDIATE``) so it waits on the busy timeout instead of failing
    half-way when another connection writes first."""
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


# --- migrations -------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def head_revision() -> str:
    """The newest migration revision shipped with this code (the heads joined
    by ``+`` when independent migrations branch from one revision)."""
    from alembic.script import ScriptDirectory

    return "+".join(sorted(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()))


def alembic_config(url: str):
    """An Alembic config for ``url`` pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config(str(Path(__file__).with_name("alembic.ini")))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Create or upgrade the schema of ``url`` to ``revision`` (safe to run from
    several processes at once on PostgreSQL: an advisory lock serialises them)."""
    from alembic import command

    engine = engine_for(url)
    cfg = alembic_config(url)
    with engine.connect() as conn:
        if not is_sqlite(engine):
            conn.exec_driver_sql("SELECT pg_advisory_lock(73710401)")
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        finally:
            if not is_sqlite(engine):
                conn.exec_driver_sql("SELECT pg_advisory_unlock(73710401)")
                conn.commit()


def current_revision(url: str) -> str | None:
    """The migration revision a database is at (None when it has no schema)."""
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return "+".join(sorted(heads)) if heads else None


def default_sqlite_path() -> str:
    """Where the server keeps its SQLite file when no database is configured."""
    state = os.environ.get("STATE_DIRECTORY")
    base = Path(state.split(":")[0]) if state else Path.cwd()
    return str(base / "central.db")
