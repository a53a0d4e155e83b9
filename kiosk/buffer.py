"""The device's durable event buffer: an append-only SQLite file.

Every rating is appended here BEFORE it is acknowledged to the citizen. The
uploader (another process) reads pending events in append order and marks the
server's verdict per event. Nothing in an event's payload is ever updated; only
its sync state moves (pending → synced, or pending → rejected with the
server's error).

Durability: WAL journal, ``synchronous=FULL`` on every connection (a commit is
on disk when ``append`` returns), ``busy_timeout`` so the device and the
uploader can share the file.

Faults: a file that cannot be opened or fails its integrity check is moved
aside (never deleted), a fresh buffer is created and the incident recorded; a
write that fails (disk full, I/O error, lock held too long) raises
:class:`BufferWriteError` and nothing is acknowledged.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from .clock import rfc3339
from .exceptions import BufferCorruptError, BufferWriteError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder, not one per event
SYNC_STATES = ("pending", "synced", "rejected")


class Pending(NamedTuple):
    """A pending event as stored: its sequence number, its id and its JSON
    text exactly as appended (the uploader sends this text as it is)."""

    seq: int
    id: str
    payload: str

    def damage(self) -> str | None:
        """Why the stored text cannot be this event (not JSON, not an object,
        another id), or None when it is sound."""
        if not isinstance(self.payload, str):
            return f"stored as {type(self.payload).__name__}, not text"
        try:
            event = json.loads(self.payload)
        except (TypeError, ValueError) as exc:
            return f"not valid JSON ({exc})"
        if not isinstance(event, dict):
            return "not a JSON object"
        if event.get("id") != self.id:
            return "its id does not match the buffer's"
        return None


def _v1(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            created_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            error TEXT,
            synced_at TEXT
        )""")
    db.execute("CREATE INDEX events_state_seq ON events(state, seq)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def _v2(db: sqlite_utils.Database) -> None:
    # Level and misuse as columns, so status counts need no JSON parsing;
    # incidents (a corrupted file moved aside …) for status and the technician.
    db.execute("ALTER TABLE events ADD COLUMN satisfaction INTEGER")
    db.execute("ALTER TABLE events ADD COLUMN misuse INTEGER NOT NULL DEFAULT 0")
    db.execute("""
        UPDATE events SET satisfaction = json_extract(payload, '$.satisfaction'),
                          misuse = coalesce(json_extract(payload, '$.misuse'), 0)
        WHERE type = 'rating'""")
    db.execute("""
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL
        )""")


#: MIGRATIONS[v] brings a buffer from version v-1 to v.
MIGRATIONS = {1: _v1, 2: _v2}


def connect(path: str | os.PathLike, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """A connection with the pragmas every buffer connection must have."""
    conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise sqlite3.DatabaseError(f"cannot switch to WAL journal (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class Buffer:
    """The append-only event buffer (see the module docstring).

    One instance may be used from several threads (calls are serialised);
    two processes (the device and the uploader) may open the same file.
    """

    def __init__(self, path: str | os.PathLike, *, busy_timeout_ms: int = 5000, check: bool = True,
                 repair: bool = False):
        """Open (or create and migrate) the buffer at ``path``.

        ``repair=True`` is for the device process only: an unusable file is then
        moved aside and a fresh buffer created. Other processes (uploader,
        status) get :class:`BufferCorruptError` instead, so they never move a
        file the device has open.
        """
        self.path = Path(path)
        self._lock = threading.RLock()
        self._busy = busy_timeout_ms
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BufferWriteError(f"cannot create the buffer directory {self.path.parent}: {exc.strerror}") from exc
        problem = None
        try:
            self._open()
            if check:
                self._check()
            self._migrate()
        except (sqlite3.DatabaseError, BufferCorruptError) as exc:
            problem = str(exc)
        if problem is not None:
            self._close_quietly()
            if not repair:
                raise BufferCorruptError(
                    f"buffer {self.path} is unusable ({problem}); the device moves it aside when it starts")
            moved = self._move_aside()
            log.error("buffer %s unusable (%s); moved aside to %s, starting a fresh buffer",
                      self.path, problem, moved)
            try:
                self._open()
                self._migrate()
            except sqlite3.DatabaseError as exc:
                raise BufferCorruptError(f"cannot create a fresh buffer at {self.path}: {exc}") from exc
            self.record_incident("corrupt_moved_aside", {"error": problem, "moved_to": str(moved)})

    # --- opening ----------------------------------------------------------

    def _open(self) -> None:
        try:
            self.conn = connect(self.path, self._busy)
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) and not os.access(self.path.parent, os.W_OK):
                raise BufferWriteError(
                    f"cannot open the buffer {self.path}: directory not writable "
                    f"(check [device] data_dir and permissions)") from exc
            raise
        self.db = sqlite_utils.Database(self.conn)

    def _check(self) -> None:
        rows = self.conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            raise BufferCorruptError("integrity check failed: " + "; ".join(r[0] for r in rows[:3]))

    def _close_quietly(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                try:
                    os.replace(src, Path(str(target) + suffix))
                except OSError as exc:
                    raise BufferCorruptError(
                        f"buffer {self.path} is unusable and cannot be moved aside: {exc.strerror}") from exc
        return target

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise BufferCorruptError(
                f"buffer {self.path} has schema version {current}, newer than this software "
                f"({SCHEMA_VERSION}); upgrade the kiosk software")
        if current == SCHEMA_VERSION:
            return
        with self._lock, self.db.atomic():
            # Re-read inside the write transaction: the other process may have migrated.
            current = self.version
            for v in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](self.db)
                self.conn.execute(f"PRAGMA user_version = {v}")

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ------------------------------------------------------------

    def append(self, event: dict[str, Any]) -> int:
        """Store ``event`` durably and return its sequence number.

        Raises BufferWriteError when it is not durable; the caller must then
        NOT acknowledge the rating.
        """
        payload = _ENCODE(event)
        is_rating = event["type"] == "rating"
        try:
            with self._lock:
                cur = self.conn.execute(
                    "INSERT INTO events (id, type, created_at, payload, satisfaction, misuse) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (event["id"], event["type"], event["created_at"], payload,
                     event.get("satisfaction") if is_rating else None,
                     1 if is_rating and event.get("misuse") else 0))
                if cur.lastrowid is None:  # sqlite3 sets it after every INSERT
                    raise BufferWriteError(f"event {event['id']} was not given a sequence number")
                return cur.lastrowid
        except sqlite3.IntegrityError as exc:
            raise BufferWriteError(f"event {event['id']} is already in the buffer") from exc
        except sqlite3.Error as exc:
            raise BufferWriteError(_explain(exc, self.path)) from exc

    def probe(self) -> None:
        """Check that a write would succeed now (raises BufferWriteError), without
        leaving anything behind. Used to leave the out-of-order state."""
        try:
            with self._lock:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.conn.execute("INSERT INTO meta (key, value) VALUES ('__probe__', zeroblob(65536))")
                finally:
                    self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise BufferWriteError(_explain(exc, self.path)) from exc

    def mark_results(self, results: Iterable[tuple[str, str, str | None]]) -> dict[str, int]:
        """Apply the server's verdicts in one transaction; returns counts by status.

        accepted/duplicate → synced; rejected → kept as rejected with the error.
        Only pending events move; an unknown id is ignored.
        """
        now = rfc3339(time.time())
        counts = {"synced": 0, "rejected": 0}
        synced, rejected = [], []
        for event_id, status, error in results:
            if status in ("accepted", "duplicate"):
                synced.append((now, event_id))
            elif status == "rejected":
                rejected.append((error or "rejected", now, event_id))
            else:
                raise ValueError(f"unknown result status {status!r} for event {event_id}")
        try:
            with self._lock, self.db.atomic():
                if synced:
                    # one statement for the whole batch: a 500-event batch costs one b-tree walk per id,
                    # not 500 statement round trips. "+state" keeps the planner on the id index: through
                    # the state index it would test every pending event (a long backlog, per batch).
                    cur = self.conn.execute(
                        "UPDATE events SET state = 'synced', synced_at = ? WHERE +state = 'pending' "
                        "AND id IN (SELECT value FROM json_each(?))",
                        (now, json.dumps([event_id for _, event_id in synced])))
                    counts["synced"] = cur.rowcount
                if rejected:
                    cur = self.conn.executemany(
                        "UPDATE events SET state = 'rejected', error = ?, synced_at = ? "
                        "WHERE id = ? AND state = 'pending'", rejected)
                    counts["rejected"] = cur.rowcount
        except sqlite3.Error as exc:
            raise BufferWriteError(_explain(exc, self.path)) from exc
        return counts

    def requeue_rejected(self) -> int:
        """Put rejected events back to pending (a technician's decision, never automatic)."""
        with self._lock, self.db.atomic():
            return self.conn.execute(
                "UPDATE events SET state = 'pending', error = NULL WHERE state = 'rejected'").rowcount

    def prune(self, retain_days: float, now: float | None = None) -> int:
        """Delete synced events created more than ``retain_days`` ago.

        Pending and rejected events are never pruned, however old."""
        cutoff = rfc3339((now if now is not None else time.time()) - retain_days * 86400)
        with self._lock, self.db.atomic():
            return self.conn.execute(
                "DELETE FROM events WHERE state = 'synced' AND created_at < ?", (cutoff,)).rowcount

    def set_meta(self, key: str, value: Any) -> None:
        try:
            with self._lock:
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value, ensure_ascii=False)))
        except sqlite3.Error as exc:
            raise BufferWriteError(_explain(exc, self.path)) from exc

    def record_incident(self, kind: str, detail: dict[str, Any]) -> None:
        with self._lock:
            self.conn.execute("INSERT INTO incidents (at, kind, detail) VALUES (?, ?, ?)",
                              (rfc3339(time.time()), kind, json.dumps(detail, ensure_ascii=False)))

    # --- reading ------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def pending_batch(self, limit: int) -> list[dict[str, Any]]:
        """The oldest ``limit`` pending events, in append order, decoded."""
        return [json.loads(p.payload) for p in self.pending(limit)]

    def pending(self, limit: int, after_seq: int = 0) -> list[Pending]:
        """The oldest ``limit`` pending events after sequence number
        ``after_seq``, in append order, as stored (not decoded)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT seq, id, payload FROM events WHERE state = 'pending' AND seq > ? "
                "ORDER BY seq LIMIT ?", (int(after_seq), int(limit))).fetchall()
        return [Pending._make(r) for r in rows]

    def last_seq(self) -> int:
        with self._lock:
            return self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def find_by_prompt(self, prompt_id: str) -> dict[str, Any] | None:
        """The rating or unrated event that closed a prompt, if any."""
        with self._lock:
            row = self.conn.execute(
                "SELECT payload FROM events WHERE type IN ('rating', 'unrated') "
                "AND json_extract(payload, '$.prompt_id') = ? ORDER BY seq LIMIT 1", (prompt_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def counts(self) -> dict[str, Any]:
        with self._lock:
            by_state = dict(self.conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
            levels = dict(self.conn.execute(
                "SELECT satisfaction, count(*) FROM events WHERE type = 'rating' GROUP BY satisfaction").fetchall())
            misuse = self.conn.execute(
                "SELECT count(*) FROM events WHERE type = 'rating' AND misuse = 1").fetchone()[0]
            unrated = self.conn.execute("SELECT count(*) FROM events WHERE type = 'unrated'").fetchone()[0]
            oldest = self.conn.execute(
                "SELECT created_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1").fetchone()
        return {
            "events_total": sum(by_state.values()),
            "pending": by_state.get("pending", 0),
            "synced": by_state.get("synced", 0),
            "rejected": by_state.get("rejected", 0),
            "ratings_by_level": {str(w): levels.get(w, 0) for w in (5, 4, 3, 2, 1)},
            "misuse": misuse,
            "unrated": unrated,
            "oldest_pending_created_at": oldest[0] if oldest else None,
        }

    def rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT payload, error, synced_at FROM events WHERE state = 'rejected' ORDER BY seq LIMIT ?",
                (int(limit),)).fetchall()
        out = []
        for payload, error, at in rows:
            ev = json.loads(payload)
            ev.pop("phone", None)
            out.append({"event": ev, "error": error, "rejected_at": at})
        return out

    def incidents(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute("SELECT at, kind, detail FROM incidents ORDER BY id").fetchall()
        return [{"at": at, "kind": kind, "detail": json.loads(detail)} for at, kind, detail in rows]

    def integrity_ok(self) -> bool:
        with self._lock:
            return self.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _explain(exc: sqlite3.Error, path: Path) -> str:
    text = str(exc)
    if "full" in text:
        return f"buffer {path} is full (disk or size limit): {text}; free space on the device"
    if "locked" in text or "busy" in text:
        return f"buffer {path} is locked by another process for too long: {text}"
    if "readonly" in text or "read-only" in text:
        return f"buffer {path} is read-only: {text}; check permissions and the file system"
    return f"buffer {path} write failed: {text}"
