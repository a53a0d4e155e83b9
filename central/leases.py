"""Leases: one holder at a time for a named job, across server processes.

Several ``kiosk server`` processes share one PostgreSQL database. A periodic
job that must run once (the alert sender, deadline reminders, a push to the
province) runs only in the process that holds the job's lease::

    lease = Lease(engine, "alerts")
    while not stop.is_set():
        if lease.hold():          # cheap when already held
            do_the_work()
        stop.wait(poll_seconds)
    lease.release()

or, the same as a thread, ``LeasedJob(engine, "alerts", work, every=5).start()``.

On PostgreSQL a lease is a session advisory lock (``pg_try_advisory_lock``)
on a connection kept for it alone: the database drops it the moment that
connection ends, so when its process dies (even by SIGKILL) or loses the
database, another process takes the lease at its next ``hold()``. The
connection's ``application_name`` is ``kiosk lease NAME pid PID``, so
``SELECT application_name FROM pg_stat_activity WHERE application_name LIKE
'kiosk lease %'`` shows who holds what. On SQLite (one machine) it is an
exclusive ``flock`` on ``DBFILE.lease-NAME``, which the kernel drops when the
process dies.

A lease says who *should* run a job; it is not a fence: a holder that stalls
past its database connection's death could still be mid-round while the next
holder starts. Jobs therefore also claim their rows (``alert_outbox``'s
``claimed_until``; ``SELECT … FOR UPDATE SKIP LOCKED`` for a queue, see
:func:`skip_locked`), and the lease keeps the others from even trying.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("central.leases")


def lock_key(name: str) -> int:
    """The signed 64-bit advisory lock key of lease ``name`` (stable across processes and versions)."""
    return int.from_bytes(hashlib.blake2b(f"kiosk.lease.{name}".encode(), digest_size=8).digest(), "big",
                          signed=True)


def skip_locked(select: sa.Select, engine_or_conn: Any) -> sa.Select:
    """``select`` with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (rows another transaction
    claimed are passed over, not waited for); unchanged on SQLite, whose writers are
    serialised anyway. Use it inside the transaction that marks the rows claimed."""
    if engine_or_conn.dialect.name == "postgresql":
        return select.with_for_update(skip_locked=True)
    return select


class Lease:
    """The lease ``name`` on ``engine``'s database; :meth:`hold` takes or keeps it."""

    def __init__(self, engine: Engine, name: str):
        self.engine = engine
        self.name = name
        self.key = lock_key(name)
        self._conn: Any = None  # the DBAPI connection (PostgreSQL) or open lock file (SQLite)
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def hold(self) -> bool:
        """True when this process holds the lease now (taking it if it is free)."""
        with self._lock:
            if self._conn is not None and self._alive():
                return True
            self._drop()
            try:
                self._conn = self._take()
            except Exception as exc:  # the database is away: not held
                log.warning("lease %s: %s", self.name, type(exc).__name__)
                self._conn = None
            if self._conn is not None:
                log.info("this process (pid %d) now holds the lease %s", os.getpid(), self.name)
            return self._conn is not None

    def release(self) -> None:
        """Give the lease up (at shutdown), so another process takes it at once."""
        with self._lock:
            self._drop()

    # --- per backend -------------------------------------------------------------

    def _take(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                   application_name="kiosk lease candidate", connect_timeout=5)
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            if got and got[0]:
                # named only once held, so pg_stat_activity lists holders, not candidates
                conn.execute("SELECT set_config('application_name', %s, false)",
                             (f"kiosk lease {self.name} pid {os.getpid()}"[:63],))
                return conn
            conn.close()
            return None
        import fcntl

        path = Path(self.engine.url.database or "central.db").with_name(
            Path(self.engine.url.database or "central.db").name + f".lease-{self.name}")
        f = open(path, "a+b")  # noqa: SIM115 (kept open while the lease is held)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return None
        return f

    def _alive(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        try:
            self._conn.execute("SELECT 1")
            return True
        except Exception:  # the session (and with it the lock) is gone
            log.warning("lease %s lost with its database connection", self.name)
            return False

    def _drop(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.close()  # ends the session: PostgreSQL releases the lock; closing the file drops the flock
        except Exception:
            pass
        self._conn = None


class LeasedJob:
    """Runs ``work()`` every ``every`` seconds on a thread, only while holding lease ``name``."""

    def __init__(self, engine: Engine, name: str, work: Callable[[], Any], every: float):
        self.lease = Lease(engine, name)
        self.work = work
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lease.hold():
                    self.work()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("job %s: database unavailable: %s", self.lease.name, type(exc).__name__)
            except Exception:
                log.exception("job %s round failed", self.lease.name)
            self._stop.wait(self.every)
        self.lease.release()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"job-{self.lease.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
