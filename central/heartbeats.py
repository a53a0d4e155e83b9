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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import auth, qr
from .auth import DEVICE_TOKEN_PREFIX, DeviceIdentity, token_hash
from .db import devices, is_sqlite
from .remote import answer_for, device_settings, staff

log = logging.getLogger("central.heartbeat")


def lookup(engine: Engine, token: str | None, hall: dict[str, Any],
           public_url: str = "") -> tuple[DeviceIdentity, dict[str, Any]] | None:
    """The device of ``token`` and its heartbeat answer's settings, or None
    (unknown or revoked token). With ``public_url`` the answer carries ``qr_url``,
    the address of the window's QR code (made on first use, :mod:`central.qr`)."""
    if not token or not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        row = conn.execute(
            sa.select(devices.c.device_id, devices.c.window_no, devices.c.section, devices.c.staff_no,
                      devices.c.revoked_at, device_settings.c.version, device_settings.c.settings)
            .select_from(devices.outerjoin(device_settings, device_settings.c.device_id == devices.c.device_id))
            .where(devices.c.token_hash == token_hash(token))).first()
        if row is None or row.revoked_at is not None:
            return None
        dev = DeviceIdentity(row.device_id, row.window_no, row.section, row.staff_no)
        values = json.loads(row.settings) if row.settings else {}
        window = values.get("window") or row.window_no
        code = qr.current_code(conn, window) if public_url and window else None
        staff_no = {**hall, **values}.get("staff_no")
        person = None
        if staff_no:
            person = conn.execute(sa.select(staff.c.name, staff.c.photo_sha256)
                                  .where(staff.c.staff_no == staff_no)).first()
    if public_url and window:
        hall = {**hall, "qr_url": qr.url_for(public_url, code or qr.code_for(engine, window))}
    return dev, answer_for(row.version or 0, values, hall, person)


def device_for_token(engine: Engine, token: str | None) -> DeviceIdentity | None:
    """:func:`central.auth.device_for_token` in one statement outside a transaction
    (no BEGIN and ROLLBACK round trips around it)."""
    if not token:
        return None
    with engine.connect() as conn:
        return auth.device_for_token(conn.execution_options(isolation_level="AUTOCOMMIT"), token)


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


def flush_kept(state: Any) -> None:
    """Before reading devices' last-seen times: write what this process keeps."""
    writer = getattr(state, "heartbeats", None)
    if writer is not None:
        writer.flush()


def close_all() -> None:
    for writer in _WRITERS:
        writer.close()


ON_SHUTDOWN: list[Callable[[], None]] = [close_all]
