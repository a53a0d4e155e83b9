"""Batch ingest: what happens to a device's upload (DESIGN §4).

A batch is read under a decompressed-size limit, checked as a whole (400 /
413), then every event is validated on its own: a bad event is ``rejected``
with an error naming the field and the rest are still applied. Event ids are
unique in the database; an insert that finds the id taken compares canonical
payload hashes: the same payload is a ``duplicate``, another is a
``conflict``. Ratings, details, unrated prompts, bad-rating cases and the daily
rollup are written in the same transaction as the events, so two server
processes on one PostgreSQL store each event once and count it once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kiosk.levels import BAD_WIRE, REASON_BY_CODE, check_reasons

from . import CentralError
from .auth import DeviceIdentity
from .db import (
    case_transitions,
    cases,
    events,
    is_sqlite,
    rating_details,
    ratings,
    rollup_daily,
    rollup_monthly,
    unrated,
    write_tx,
)
from .workdays import Deadlines

SOURCES = ("touch", "gpio", "serial", "keyboard", "api", "console", "simulated")
TYPES = ("rating", "rating_detail", "unrated")
_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_PHONE_RE = re.compile(r"[0-9+() -]{3,24}")
_MAX_MONO = 2**62


class BatchError(CentralError, ValueError):
    """The whole batch is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- body -------------------------------------------------------------------

class BodyReader:
    """Collects a request body chunk by chunk, inflating gzip as it goes and
    refusing (413) as soon as the decompressed size passes ``limit``: a gzip
    bomb is never inflated past the limit."""

    def __init__(self, limit: int, encoding: str | None):
        self.limit = limit
        self.total = 0
        self.parts: list[bytes] = []
        enc = (encoding or "identity").strip().lower()
        if enc in ("identity", ""):
            self._inflater = None
        elif enc in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._inflater = zlib.decompressobj()
        else:
            raise BatchError(415, f"Content-Encoding {encoding!r} is not supported: use gzip or none")
        self.raw = 0

    def _add(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise BatchError(413, f"body larger than {self.limit} bytes decompressed: split the batch")
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.limit:
            raise BatchError(413, f"body larger than {self.limit} bytes: split the batch")
        if self._inflater is None:
            self._add(chunk)
            return
        data = chunk
        try:
            while data and not self._inflater.eof:
                out = self._inflater.decompress(data, self.limit - self.total + 1)
                self._add(out)
                data = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise BatchError(400, f"the body is not valid gzip: {exc}") from None
        if self._inflater.eof and (data or self._inflater.unused_data):
            raise BatchError(400, "the body has data after the end of the gzip stream")

    def finish(self) -> bytes:
        if self._inflater is not None and not self._inflater.eof:
            raise BatchError(400, "the gzip body is truncated")
        return b"".join(self.parts)


def parse_batch(body: bytes, max_events: int) -> dict[str, Any]:
    """Decode and check the batch envelope; events are checked later, one by one."""
    try:
        batch = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BatchError(400, f"the body is not UTF-8 JSON: {exc}") from None
    if not isinstance(batch, dict):
        raise BatchError(400, "the body must be a JSON object")
    if batch.get("schema") != 1 or isinstance(batch.get("schema"), bool):
        raise BatchError(400, f"schema: expected 1, got {_show(batch.get('schema'))}")
    for name in ("device_id", "boot_id", "sent_at"):
        if not isinstance(batch.get(name), str) or not batch[name] or "\x00" in batch[name]:
            raise BatchError(400, f"{name}: expected a non-empty string")
    mono = batch.get("sent_mono_ms")
    if not _is_int(mono) or not 0 <= mono < _MAX_MONO:
        raise BatchError(400, f"sent_mono_ms: expected an integer >= 0, got {_show(mono)}")
    evs = batch.get("events")
    if not isinstance(evs, list):
        raise BatchError(400, "events: expected a list")
    if len(evs) > max_events:
        raise BatchError(413, f"events: {len(evs)} events, at most {max_events} per batch: split the batch")
    return batch


# --- events -------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _show(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


class EventError(ValueError):
    """One event is invalid; the message names the field."""


_MISSING = object()
#: a rating's text fields: (name, longest, may be null)
_RATING_TEXT = (("window_no", 32, False), ("section", 64, False), ("staff_no", 32, False),
                ("staff_name", 64, False), ("project_no", 64, True), ("ticket_no", 64, True),
                ("prompt_id", 64, True))


def _str(ev: dict, name: str, *, max_len: int, nullable: bool = False, optional: bool = False,
         default: str | None = None) -> str | None:
    v = ev.get(name, _MISSING)
    if v.__class__ is str and len(v) <= max_len and v.isascii() and "\x00" not in v:
        return v  # the common case, checked first
    if v is _MISSING:
        if optional or nullable:
            return default
        raise EventError(f"{name}: missing")
    if v is None and nullable:
        return None
    if not isinstance(v, str):
        raise EventError(f"{name}: expected a string{' or null' if nullable else ''}, got {_show(v)}")
    if len(v) > max_len:
        raise EventError(f"{name}: longer than {max_len} characters")
    if "\x00" in v:
        raise EventError(f"{name}: contains a NUL character")
    if not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(f"{name}: not valid Unicode text (a lone surrogate)") from None
    return v


_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def parse_time(value: Any, name: str = "created_at") -> datetime:
    """An RFC 3339 time with an offset (``2026-12-01T08:15:02.123Z``) as naive UTC."""
    m = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise EventError(f"{name}: expected an RFC 3339 UTC time like \"2026-12-01T08:15:02.123Z\", "
                         f"got {_show(value)}")
    text = value
    fraction = m.group(1)
    if fraction and len(fraction) > 7:  # datetime keeps microseconds: cut the rest
        text = value.replace(fraction, fraction[:7])
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise EventError(f"{name}: not a valid date/time: {_show(value)}") from None
    t = t.replace(tzinfo=None) if m.group(2) == "Z" else t.astimezone(UTC).replace(tzinfo=None)
    if not 2000 <= t.year <= 2200:
        raise EventError(f"{name}: year {t.year} is out of range 2000..2200")
    return t


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, check_circular=False)
_sha256 = hashlib.sha256


def canonical_hash(ev: dict) -> str:
    """sha256 of the event's canonical JSON (sorted keys, no spaces, ASCII)."""
    return _sha256(_CANONICAL.encode(ev).encode("ascii")).hexdigest()


@dataclass(slots=True)
class Event:
    """A validated event, ready to store."""

    id: str
    type: str
    hash: str
    created_at: datetime
    clock_synced: bool
    boot_id: str
    mono_ms: int
    fields: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    repaired_at: datetime | None = None


def validate_event(ev: Any) -> Event:
    """Check one wire event (DESIGN §4); raises :class:`EventError` naming the field."""
    if not isinstance(ev, dict):
        raise EventError(f"event: expected a JSON object, got {_show(ev)}")
    ev_id = ev.get("id")
    if not isinstance(ev_id, str) or not _ID_RE.fullmatch(ev_id):
        raise EventError(f"id: expected a UUID string, got {_show(ev_id)}")
    kind = ev.get("type")
    if kind not in TYPES:
        raise EventError(f"type: expected one of {', '.join(TYPES)}, got {_show(kind)}")
    created = parse_time(ev.get("created_at"))
    synced = ev.get("clock_synced")
    if not isinstance(synced, bool):
        raise EventError(f"clock_synced: expected true or false, got {_show(synced)}")
    boot_id = _str(ev, "boot_id", max_len=64)
    mono = ev.get("mono_ms")
    if mono.__class__ is not int or not 0 <= mono < _MAX_MONO:  # exactly int: not a bool
        raise EventError(f"mono_ms: expected an integer >= 0, got {_show(mono)}")
    f: dict[str, Any] = {}
    if kind == "rating":
        sat = ev.get("satisfaction")
        if sat.__class__ is not int or not 1 <= sat <= 5:
            raise EventError(f"satisfaction: expected an integer 1..5 (wire order, 5 = 非常满意), got {_show(sat)}")
        f["satisfaction"] = sat
        src = ev.get("source")
        if src not in SOURCES:
            raise EventError(f"source: expected one of {', '.join(SOURCES)}, got {_show(src)}")
        f["source"] = src
        ch = ev.get("channel")
        f["channel"] = ch if ch.__class__ is int and 1 <= ch <= 7 else _channel(ev, optional=False)
        for name, max_len, nullable in _RATING_TEXT:
            f[name] = _str(ev, name, max_len=max_len, nullable=nullable)
        misuse = ev.get("misuse")
        if not isinstance(misuse, bool):
            raise EventError(f"misuse: expected true or false, got {_show(misuse)}")
        f["misuse"] = misuse
    elif kind == "rating_detail":
        rid = ev.get("rating_id")
        if not isinstance(rid, str) or not _ID_RE.fullmatch(rid):
            raise EventError(f"rating_id: expected the id of a rating, got {_show(rid)}")
        f["rating_id"] = rid
        reasons = ev.get("reasons")
        if not isinstance(reasons, list) or len(reasons) > 20 or not all(
                isinstance(c, str) or _is_int(c) for c in reasons):
            raise EventError(f"reasons: expected a list of reason codes like [\"207\"], got {_show(reasons)}")
        for code in reasons:
            if str(code) not in REASON_BY_CODE:
                raise EventError(f"reasons: {str(code)!r} is not in the national dictionary")
        f["reasons"] = [str(c) for c in dict.fromkeys(str(c) for c in reasons)]
        f["comment"] = _str(ev, "comment", max_len=2000, nullable=True)
        phone = ev.get("phone")
        if phone is not None and (not isinstance(phone, str) or not _PHONE_RE.fullmatch(phone)):
            raise EventError("phone: expected a phone number (digits, +, -, spaces) or null")
        f["phone"] = phone
    else:
        f["prompt_id"] = _str(ev, "prompt_id", max_len=64, nullable=True)
        f["project_no"] = _str(ev, "project_no", max_len=64, nullable=True)
        f["ticket_no"] = _str(ev, "ticket_no", max_len=64, nullable=True)
        f["staff_no"] = _str(ev, "staff_no", max_len=32)
        f["staff_name"] = _str(ev, "staff_name", max_len=64, optional=True, default="")
        f["window_no"] = _str(ev, "window_no", max_len=32, optional=True, default="")
        f["section"] = _str(ev, "section", max_len=64, optional=True, default="")
        f["channel"] = _channel(ev, optional=True)
    return Event(ev_id, kind, canonical_hash(ev), created, synced, boot_id, mono, f)


def _channel(ev: dict, optional: bool) -> int:
    if "channel" not in ev and optional:
        return 4
    ch = ev.get("channel")
    if not _is_int(ch) or not 1 <= ch <= 7:
        raise EventError(f"channel: expected an integer 1..7 (评价渠道), got {_show(ch)}")
    return ch


# --- storing ----------------------------------------------------------------------

@dataclass
class Result:
    id: Any
    status: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "status": self.status}
        if self.error is not None:
            out["error"] = self.error
        return out


@functools.lru_cache(maxsize=4096)
def _quarter_day(quarter: datetime, tz: ZoneInfo) -> date:
    return quarter.replace(tzinfo=UTC).astimezone(tz).date()


def local_day(t: datetime, tz: ZoneInfo) -> date:
    """The date, in the server timezone, of a naive-UTC time. UTC offsets and
    their changes fall on quarter hours, so the date is the same for a whole
    UTC quarter hour and is looked up once per quarter."""
    return _quarter_day(t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0), tz)


def _sqlite_converter(column: sa.Column):
    """How a Python value of ``column`` is stored on SQLite, in SQLAlchemy's own
    formats (so Core queries read these rows back exactly); None = as is."""
    t = column.type
    if isinstance(t, sa.DateTime):
        return _repeating(lambda v: v.isoformat(" ", "microseconds"))
    if isinstance(t, sa.Date):
        return _repeating(lambda v: v.isoformat())
    if isinstance(t, sa.Boolean):
        return lambda v: None if v is None else int(v)
    return None


def _repeating(fn):
    """``fn`` for a column whose rows often repeat the value just seen (one
    received_at, one day for a whole batch): that value is converted once."""
    last: list[Any] = [None, None]

    def convert(v):
        if v is last[0]:
            return last[1]
        out = None if v is None else fn(v)
        last[0], last[1] = v, out
        return out
    return convert


def _pg_array(column: sa.Column) -> str:
    t = column.type
    if isinstance(t, sa.Boolean):
        return "boolean[]"
    if isinstance(t, sa.SmallInteger):
        return "smallint[]"
    if isinstance(t, sa.BigInteger):
        return "bigint[]"
    if isinstance(t, sa.Integer):
        return "integer[]"
    if isinstance(t, sa.DateTime):
        return "timestamp[]"
    if isinstance(t, sa.Date):
        return "date[]"
    return "text[]"


def bulk_insert(conn, table: sa.Table, rows: list[dict], *, suffix: str = "",
                chunk: int = 1000) -> list[tuple]:
    """Insert many rows in one statement through the driver: the hot ingest path,
    where per-row statement processing would cost more than the database.

    PostgreSQL gets ``INSERT … SELECT … FROM unnest(%b::type[], …)`` (one array per
    column, sent in binary; a column with one value throughout is one scalar);
    SQLite a multi-row ``VALUES (…), (…)``. ``suffix`` is appended (ON CONFLICT …,
    RETURNING …); the rows of a RETURNING clause are returned.
    """
    if not rows:
        return []
    sqlite = is_sqlite(conn)
    cols = list(rows[0])
    returning = "RETURNING" in suffix
    out: list[tuple] = []
    tail = " " + suffix if suffix else ""
    if not sqlite:
        sql, params = _pg_insert(table, rows, tail)
        res = conn.exec_driver_sql(sql, params)
        return [tuple(x) for x in res] if returning else []
    one = "(" + ", ".join(["?"] * len(cols)) + ")"
    convert = [(c, _sqlite_converter(table.c[c])) for c in cols]
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES " + ", ".join([one] * len(part)) + tail
        params = [f(r[c]) if f else r[c] for r in part for c, f in convert]
        res = conn.exec_driver_sql(sql, tuple(params))
        if returning:
            out.extend(tuple(x) for x in res)
    return out


def _pg_insert(table: sa.Table, rows: list[dict], tail: str = "") -> tuple[str, tuple]:
    """PostgreSQL ``INSERT … SELECT … FROM unnest(…)`` of ``rows`` and its parameters.

    ``%b``: values go in psycopg's binary format (its text format escapes every
    array element). A column with one value in every row (the device, the
    receive time, often the window and staff) is sent once, as a scalar."""
    cols = list(rows[0])
    scalars, arrays, names, picks = [], [], [], []
    for c in cols:
        values = [r[c] for r in rows]
        kind = _pg_array(table.c[c])
        if len(values) > 1 and values.count(values[0]) == len(values) and (arrays or c != cols[-1]):
            picks.append(f"%b::{kind[:-2]}")
            scalars.append(values[0])
        else:
            picks.append(f"u.{c}")
            names.append(c)
            arrays.append((kind, values))
    sql = (f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(picks)} FROM unnest("
           + ", ".join(f"%b::{kind}" for kind, _ in arrays) + f") AS u({', '.join(names)}){tail}")
    return sql, tuple(scalars) + tuple(values for _, values in arrays)


def open_cases(conn, case_rows: list[dict], at: datetime) -> None:
    """Insert new cases, each with its first transition (→ open, by the system)."""
    if not case_rows:
        return
    note = "差评 received"
    if not is_sqlite(conn):  # one statement: the transitions take the ids the insert returns
        sql, params = _pg_insert(cases, case_rows, " RETURNING id")
        conn.exec_driver_sql(
            f"WITH opened AS ({sql}) INSERT INTO case_transitions (case_id, from_state, to_state, actor, at, note) "
            "SELECT id, NULL, 'open', 'system', %b::timestamp, %b::text FROM opened ORDER BY id",
            params + (at, note))
        return
    opened = bulk_insert(conn, cases, case_rows, suffix="RETURNING id")
    bulk_insert(conn, case_transitions, [
        {"case_id": case_id, "from_state": None, "to_state": "open", "actor": "system", "at": at, "note": note}
        for case_id, in sorted(opened)])


_ROLLUP_KEY = ("day", "section", "window_no", "staff_no", "level", "misuse")
#: The counts of a rollup cell, in the order of a delta list (a shorter list leaves the rest alone).
ROLLUP_COUNTS = ("count", "unrectified", "rectified", "phoned", "reached")


def rollup_add(conn, deltas: dict[tuple, list[int]]) -> None:
    """Add ``{(day, section, window_no, staff_no, level, misuse): [count, unrectified,
    rectified, phoned, reached]}`` to the daily and monthly rollups (keys sorted so
    concurrent writers lock rows in one order)."""
    n = len(ROLLUP_COUNTS)
    monthly: dict[tuple, list[int]] = {}
    for k, v in deltas.items():
        m = monthly.setdefault((k[0].replace(day=1),) + k[1:], [0] * n)
        for i, x in enumerate(v):
            m[i] += x
    for table, first, cells in ((rollup_daily, "day", deltas), (rollup_monthly, "month", monthly)):
        key = (first,) + _ROLLUP_KEY[1:]
        rows = [dict(zip(key, k, strict=True)) | dict(zip(ROLLUP_COUNTS, list(v) + [0] * (n - len(v)), strict=True))
                for k, v in sorted(cells.items(), key=lambda kv: (kv[0][0].isoformat(),) + kv[0][1:])
                if any(v)]
        bulk_insert(conn, table, rows,
                    suffix=f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
                           + ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in ROLLUP_COUNTS))


_sqlite_write_lock = threading.Lock()


def ingest(engine: Engine, device: DeviceIdentity, batch: dict[str, Any], *, received_at: datetime,
           tz: ZoneInfo, rectify_days: int | Deadlines) -> list[Result]:
    """Validate and store a batch's events; one :class:`Result` per event, in order.
    ``rectify_days`` is a number of natural days or the server's deadline rule."""
    results: list[Result | None] = [None] * len(batch["events"])
    valid: list[tuple[int, Event]] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(batch["events"]):
        ev_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            ev = validate_event(raw)
        except EventError as exc:
            results[i] = Result(ev_id, "rejected", str(exc))
            continue
        if ev.id in seen:  # the same id twice in one batch
            results[i] = (Result(ev.id, "duplicate") if seen[ev.id] == ev.hash
                          else Result(ev.id, "rejected", "conflict: this id was sent with another payload"))
            continue
        seen[ev.id] = ev.hash
        if ev.boot_id == batch["boot_id"] and batch["sent_mono_ms"] >= ev.mono_ms:
            ev.repaired_at = received_at - timedelta(milliseconds=batch["sent_mono_ms"] - ev.mono_ms)
        ev.at = ev.created_at if ev.clock_synced or ev.repaired_at is None else ev.repaired_at
        valid.append((i, ev))

    if valid:
        lock = _sqlite_write_lock if is_sqlite(engine) else None
        if lock:
            lock.acquire()
        try:
            stored = _store(engine, device, valid, results, received_at, tz, rectify_days)
        finally:
            if lock:
                lock.release()
        for i, ev in valid:
            if results[i] is None:
                results[i] = Result(ev.id, "accepted" if ev.id in stored else "rejected",
                                    None if ev.id in stored else "not stored")
    return [r for r in results if r is not None]


def _store(engine: Engine, device: DeviceIdentity, valid: list[tuple[int, Event]],
           results: list[Result | None], received_at: datetime, tz: ZoneInfo,
           rectify_days: int | Deadlines) -> set[str]:
    deadlines = rectify_days if isinstance(rectify_days, Deadlines) else Deadlines(rectify_days, "natural", tz)
    with write_tx(engine) as conn:
        # Rating levels for details whose rating is not in this batch.
        levels = {ev.id: ev.fields["satisfaction"] for _, ev in valid if ev.type == "rating"}
        want = {ev.fields["rating_id"] for _, ev in valid
                if ev.type == "rating_detail" and ev.fields["rating_id"] not in levels}
        if want:
            for row in conn.execute(sa.select(ratings.c.event_id, ratings.c.satisfaction)
                                    .where(ratings.c.event_id.in_(sorted(want)))):
                levels[row.event_id] = row.satisfaction
        ok: list[tuple[int, Event]] = []
        for i, ev in valid:
            if ev.type == "rating_detail" and ev.fields["rating_id"] in levels:
                try:
                    check_reasons(levels[ev.fields["rating_id"]], ev.fields["reasons"])
                except ValueError as exc:
                    results[i] = Result(ev.id, "rejected", f"reasons: {exc}")
                    continue
            ok.append((i, ev))
        if not ok:
            return set()

        rows = [{"event_id": ev.id, "device_id": device.device_id, "type": ev.type, "payload_hash": ev.hash,
                     "created_at": ev.created_at, "received_at": received_at, "repaired_at": ev.repaired_at,
                     "clock_synced": ev.clock_synced, "boot_id": ev.boot_id, "mono_ms": ev.mono_ms}
                for _, ev in ok]
        inserted = {r[0] for r in bulk_insert(conn, events, rows,
                                              suffix="ON CONFLICT (event_id) DO NOTHING RETURNING event_id")}
        taken = [ev for _, ev in ok if ev.id not in inserted]
        if taken:
            have = {r.event_id: r for r in conn.execute(
                sa.select(events.c.event_id, events.c.payload_hash, events.c.device_id)
                .where(events.c.event_id.in_([ev.id for ev in taken])))}
            for i, ev in ok:
                if ev.id in inserted:
                    continue
                row = have.get(ev.id)
                if row is not None and row.payload_hash == ev.hash and row.device_id == device.device_id:
                    results[i] = Result(ev.id, "duplicate")
                elif row is not None and row.device_id != device.device_id:
                    results[i] = Result(ev.id, "rejected", "conflict: this id was stored from another device")
                else:
                    results[i] = Result(ev.id, "rejected", "conflict: this id was stored with another payload")

        new = [ev for _, ev in ok if ev.id in inserted]
        rating_rows, detail_rows, unrated_rows, case_rows = [], [], [], []
        deltas: dict[tuple, list[int]] = {}
        for ev in new:
            f = ev.fields
            if ev.type == "rating":
                day = local_day(ev.at, tz)
                section = f["section"] or device.section
                window = f["window_no"] or device.window_no
                staff = f["staff_no"] or device.staff_no
                rating_rows.append({
                    "event_id": ev.id, "device_id": device.device_id, "satisfaction": f["satisfaction"],
                    "misuse": f["misuse"], "source": f["source"], "channel": f["channel"], "window_no": window,
                    "section": section, "staff_no": staff, "staff_name": f["staff_name"],
                    "project_no": f["project_no"], "ticket_no": f["ticket_no"], "prompt_id": f["prompt_id"],
                    "rated_at": ev.at, "day": day})
                opens = f["satisfaction"] in BAD_WIRE and not f["misuse"]
                d = deltas.setdefault((day, section, window, staff, f["satisfaction"], f["misuse"]), [0, 0])
                d[0] += 1
                if opens:
                    d[1] += 1
                    case_rows.append({
                        "rating_id": ev.id, "device_id": device.device_id, "state": "open",
                        "satisfaction": f["satisfaction"], "section": section, "window_no": window,
                        "staff_no": staff, "day": day, "rated_at": ev.at, "opened_at": received_at,
                        "deadline": (deadline := deadlines.for_rating(ev.at)),
                        "due_soon_at": deadlines.due_soon_at(deadline), "updated_at": received_at})
            elif ev.type == "rating_detail":
                detail_rows.append({"event_id": ev.id, "rating_id": f["rating_id"],
                                        "reasons": json.dumps(f["reasons"]), "comment": f["comment"],
                                        "phone": f["phone"], "created_at": ev.at})
            else:
                day = local_day(ev.at, tz)
                section = f["section"] or device.section
                window = f["window_no"] or device.window_no
                staff = f["staff_no"] or device.staff_no
                unrated_rows.append({
                    "event_id": ev.id, "device_id": device.device_id, "prompt_id": f["prompt_id"],
                    "project_no": f["project_no"], "ticket_no": f["ticket_no"], "staff_no": staff,
                    "staff_name": f["staff_name"], "window_no": window, "section": section,
                    "channel": f["channel"], "at": ev.at, "day": day})
                deltas.setdefault((day, section, window, staff, 0, False), [0, 0])[0] += 1
        bulk_insert(conn, ratings, rating_rows)
        bulk_insert(conn, rating_details, detail_rows)
        bulk_insert(conn, unrated, unrated_rows)
        open_cases(conn, case_rows, received_at)
        rollup_add(conn, deltas)
        from .cases import note_phones
        note_phones(conn, [r["rating_id"] for r in detail_rows if r["phone"]]
                    + [r["rating_id"] for r in case_rows])
        return inserted


def count_statuses(results: Iterable[Result]) -> dict[str, int]:
    out = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for r in results:
        out[r.status] += 1
    return out
