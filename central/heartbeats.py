"""The heartbeat's hot path: one read for the answer, coalesced writes of the state.

A heartbeat answer needs the device (from its token), its settings and the
roster's name for the staff member on duty: :func:`lookup` reads them in one
statement (a second only when the settings name a staff member), outside any
transaction. The device's last-seen time and state are not written per
heartbeat: :class:`HeartbeatWriter` keeps the newest per device in memory and
writes all of them in one statement every ``[server] heartbeat_flush_seconds``
(and before anything in this process reads them, and at shutdown). A crash
loses at most that interval's last-seen times, never a rating: ratings go
through their own transaction in :mod:`central.ingest`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import qr
from .auth import DEVICE_TOKEN_PREFIX, DeviceIdentity, token_hash
from .db import devices, is_sqlite
from .remote import answer_for

log = logging.getLogger("central.heartbeat")


#: The device of a token hash and its settings: one row. ``{p}`` is the driver's placeholder.
_DEVICE_SQL = ("SELECT d.device_id, d.window_no, d.section, d.staff_no, d.revoked_at, s.version, s.settings "
               "FROM devices d LEFT OUTER JOIN device_settings s ON s.device_id = d.device_id "
               "WHERE d.token_hash = {p}")
_TOKEN_SQL = "SELECT device_id, window_no, section, staff_no, revoked_at FROM devices WHERE token_hash = {p}"
_STAFF_SQL = "SELECT name, photo_sha256 FROM staff WHERE staff_no = {p}"


def read_row(engine: Engine, sql: str, params: tuple) -> tuple | None:
    """The first row of ``sql`` (``{p}`` for each parameter) outside any transaction,
    straight through the driver: on the heartbeat's path the SQL expression layer
    cost several times the query itself."""
    if is_sqlite(engine):
        with engine.connect() as conn:
            row = conn.exec_driver_sql(sql.format(p="?"), params).first()
            return tuple(row) if row is not None else None
    import psycopg

    statement = sql.format(p="%s")
    try:
        raw = engine.raw_connection()
    except psycopg.Error as exc:  # the pool hands the driver's own error on
        raise sa.exc.DBAPIError.instance(statement, params, exc, psycopg.Error) from exc
    try:
        driver: Any = raw.driver_connection
        driver.autocommit = True  # a pooled connection is idle: this sends nothing
        try:
            return driver.execute(statement, params).fetchone()
        finally:
            if not driver.closed:
                driver.autocommit = False
    except psycopg.Error as exc:  # as SQLAlchemy would raise it: a lost database is a 503, not a 500
        gone = engine.dialect.is_disconnect(cast(Any, exc), raw, None)
        if gone:
            raw.invalidate(exc)
        raise sa.exc.DBAPIError.instance(statement, params, exc, psycopg.Error,
                                         connection_invalidated=gone) from exc
    finally:
        raw.close()


def lookup(engine: Engine, token: str | None, hall: dict[str, Any],
           public_url: str = "") -> tuple[DeviceIdentity, dict[str, Any]] | None:
    """The device of ``token`` and its heartbeat answer's settings, or None
    (unknown or revoked token). With ``public_url`` the answer carries ``qr_url``,
    the address of the window's QR code (made on first use, :mod:`central.qr`)."""
    if not token or not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    row = read_row(engine, _DEVICE_SQL, (token_hash(token),))
    if row is None or row[4] is not None:
        return None
    device_id, window_no, section, staff_no_of_device, _revoked, version, stored = row
    dev = DeviceIdentity(device_id, window_no, section, staff_no_of_device)
    values = json.loads(stored) if stored else {}
    window = values.get("window") or window_no
    staff_no = {**hall, **values}.get("staff_no")
    person = None
    if staff_no:
        found = read_row(engine, _STAFF_SQL, (staff_no,))
        person = SimpleNamespace(name=found[0], photo_sha256=found[1]) if found else None
    if public_url and window:
        with engine.connect() as conn:
            code = qr.current_code(conn.execution_options(isolation_level="AUTOCOMMIT"), window)
        hall = {**hall, "qr_url": qr.url_for(public_url, code or qr.code_for(engine, window))}
    return dev, answer_for(version or 0, values, hall, person)


def device_for_token(engine: Engine, token: str | None) -> DeviceIdentity | None:
    """:func:`central.auth.device_for_token` in one statement outside a transaction
    (no BEGIN and ROLLBACK round trips around it), through :func:`read_row`."""
    if not token or not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    row = read_row(engine, _TOKEN_SQL, (token_hash(token),))
    if row is None or row[4] is not None:
        return None
    return DeviceIdentity(*row[:4])


class HeartbeatWriter:
    """The newest (last-seen time, state) per device, written in batches."""

    def __init__(self, engine: Engine, interval: float):
        self.engine = engine
        self.interval = interval
        self._pending: dict[str, tuple[datetime, str]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        _WRITERS.append(self)

    def note(self, device_id: str, at: datetime, state: dict[str, Any]) -> None:
        """Keep a heartbeat's state; written within ``interval`` seconds (at once when 0)."""
        with self._lock:
            self._pending[device_id] = (at, json.dumps(state, ensure_ascii=True))
            if self.interval > 0 and self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="heartbeat-writer", daemon=True)
                self._thread.start()
        if self.interval <= 0:
            self.flush()

    def flush(self) -> int:
        """Write every kept state now; how many devices were written."""
        with self._write_lock:
            with self._lock:
                rows, self._pending = self._pending, {}
            if not rows:
                return 0
            try:
                self._write(rows)
            except Exception:
                with self._lock:  # keep them for the next try, unless a newer one came meanwhile
                    for device_id, value in rows.items():
                        self._pending.setdefault(device_id, value)
                raise
            return len(rows)

    def _write(self, rows: dict[str, tuple[datetime, str]]) -> None:
        ids = sorted(rows)  # one order for every writer: no deadlock between two processes
        with self.engine.connect() as conn:
            with conn.begin():
                if is_sqlite(self.engine):
                    conn.execute(devices.update().where(devices.c.device_id == sa.bindparam("did")).values(
                        last_seen_at=sa.bindparam("at"), last_state=sa.bindparam("st")),
                        [{"did": d, "at": rows[d][0], "st": rows[d][1]} for d in ids])
                    return
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")  # a lost last-seen is harmless
                conn.exec_driver_sql(
                    "UPDATE devices SET last_seen_at = v.at, last_state = v.st "
                    "FROM unnest(%s::text[], %s::timestamp[], %s::text[]) AS v(did, at, st) "
                    "WHERE devices.device_id = v.did",
                    (ids, [rows[d][0] for d in ids], [rows[d][1] for d in ids]))

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval)
            try:
                self.flush()
            except Exception:  # the database is away: the states stay kept for the next round
                log.warning("heartbeat: writing the devices' last-seen times failed; retrying", exc_info=True)

    def close(self) -> None:
        """Write what is kept and stop the background writer."""
        self._stopped = True
        self._wake.set()
        try:
            self.flush()
        except Exception:
            log.warning("heartbeat: the last-seen times of %d devices were not written at shutdown",
                        len(self._pending), exc_info=True)


_WRITERS: list[HeartbeatWriter] = []


def writer_for(state: Any, engine: Engine, interval: float) -> HeartbeatWriter:
    """The app's writer (made on first use)."""
    if not hasattr(state, "heartbeats"):
        state.heartbeats = HeartbeatWriter(engine, interval)
    return state.heartbeats


async def keep(state: Any, engine: Engine, interval: float, device_id: str, at: datetime,
               device_state: dict[str, Any]) -> None:
    """Note a heartbeat with the app's writer (written at once, off the event loop,
    when ``interval`` is 0)."""
    writer = writer_for(state, engine, interval)
    if writer.interval > 0:
        writer.note(device_id, at, device_state)
    else:
        import anyio.to_thread
        await anyio.to_thread.run_sync(writer.note, device_id, at, device_state)


def flush_kept(state: Any) -> None:
    """Before reading devices' last-seen times: write what this process keeps."""
    writer = getattr(state, "heartbeats", None)
    if writer is not None:
        writer.flush()


def close_all() -> None:
    for writer in _WRITERS:
        writer.close()


ON_SHUTDOWN: list[Callable[[], None]] = [close_all]
