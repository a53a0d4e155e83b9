"""Storing a device's batch (docs/api.md): events, ratings, details, unrated
prompts, the 差评 cases they open and the rollups, in one transaction.

Every event is validated on its own (:mod:`central.wire`): a bad event is
``rejected`` with an error naming the field and the rest are still applied.
Event ids are unique in the database; an insert that finds the id taken
compares canonical payload hashes: the same payload is a ``duplicate``, another
is a ``conflict``. Because everything is written in the same transaction, two
server processes on one PostgreSQL store each event once and count it once;
a deadlock between them is retried (:func:`ingest_with_retry`).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kiosk.levels import BAD_WIRE, check_reasons

from .auth import DeviceIdentity
from .bulk import bulk_insert, pg_insert
from .db import case_transitions, cases, events, is_sqlite, rating_details, ratings, unrated, write_tx
from .registry import Registration, registration
from .rollups import local_day, rollup_add, slots_add
from .wire import PROJECT_KEYS, Event, EventError, Result, validate_event
from .workdays import Deadlines

_sqlite_write_lock = threading.Lock()
#: PostgreSQL deadlock / serialization failure between concurrent writers
_RETRYABLE = ("40P01", "40001")


def ingest_with_retry(engine: Engine, device: DeviceIdentity, batch: dict[str, Any], *,
                      received_at: datetime, tz: ZoneInfo, rectify_days: int | Deadlines,
                      attempts: int = 4) -> list[Result]:
    """:func:`ingest`, retried when PostgreSQL picks this transaction as a deadlock victim."""
    for attempt in range(attempts):
        try:
            return ingest(engine, device, batch, received_at=received_at, tz=tz, rectify_days=rectify_days)
        except sa.exc.DBAPIError as exc:
            code = getattr(getattr(exc, "orig", None), "sqlstate", None)
            # a dropped connection (the database restarted) is retried on a fresh one: events
            # that did commit before the drop come back as duplicates, never stored twice
            if (code not in _RETRYABLE and not exc.connection_invalidated) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def ingest(engine: Engine, device: DeviceIdentity, batch: dict[str, Any], *, received_at: datetime,
           tz: ZoneInfo, rectify_days: int | Deadlines) -> list[Result]:
    """Validate and store a batch's events; one :class:`Result` per event, in order.
    ``rectify_days`` is a number of natural days or the server's deadline rule."""
    results: list[Result | None] = [None] * len(batch["events"])
    valid = _validate(batch, results, received_at)
    if valid:
        lock = _sqlite_write_lock if is_sqlite(engine) else None
        if lock:
            lock.acquire()
        try:
            with write_tx(engine) as conn:
                stored = _store(conn, device, valid, results, received_at, tz, rectify_days)
        finally:
            if lock:
                lock.release()
        for i, ev in valid:
            if results[i] is None:
                results[i] = Result(ev.id, "accepted" if ev.id in stored else "rejected",
                                    None if ev.id in stored else "not stored")
    return [r for r in results if r is not None]


def _validate(batch: dict[str, Any], results: list[Result | None], received_at: datetime) -> list[tuple[int, Event]]:
    """The batch's valid events (index, event), with their times placed; the
    results of the others filled in."""
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
    return valid


def _store(conn: Connection, device: DeviceIdentity, valid: list[tuple[int, Event]],
           results: list[Result | None], received_at: datetime, tz: ZoneInfo,
           rectify_days: int | Deadlines) -> set[str]:
    ok = _check_details(conn, device, valid, results)
    if not ok:
        return set()
    inserted = _insert_events(conn, device, ok, results, received_at)
    new = [ev for _, ev in ok if ev.id in inserted]
    reg = registration(conn, device, (ev.fields["staff_no"] for ev in new if ev.type != "rating_detail"))
    rows = _rows(device, reg, new, received_at, tz, rectify_days)
    from . import province
    told = [r["rating_id"] for r in rows["details"] if r["reasons"] != "[]" or r["comment"]]
    province.number_and_enqueue(conn, rows["ratings"], received_at, with_detail=set(told))
    bulk_insert(conn, ratings, rows["ratings"])
    bulk_insert(conn, rating_details, rows["details"])
    province.release(conn, told, received_at)
    bulk_insert(conn, unrated, rows["unrated"])
    open_cases(conn, rows["cases"], received_at)
    rollup_add(conn, rows["deltas"])
    slots_add(conn, rows["ratings"])
    from .cases import note_phones
    note_phones(conn, [r["rating_id"] for r in rows["details"] if r["phone"]]
                + [r["rating_id"] for r in rows["cases"]])
    return inserted


def _check_details(conn: Connection, device: DeviceIdentity, valid: list[tuple[int, Event]],
                   results: list[Result | None]) -> list[tuple[int, Event]]:
    """The events that may be stored: a detail must be about a rating of this
    device, with reasons of that rating's level (when the rating is known)."""
    levels = {ev.id: ev.fields["satisfaction"] for _, ev in valid if ev.type == "rating"}
    others: set[str] = set()
    want = {ev.fields["rating_id"] for _, ev in valid
            if ev.type == "rating_detail" and ev.fields["rating_id"] not in levels}
    if want:
        for row in conn.execute(sa.select(ratings.c.event_id, ratings.c.satisfaction, ratings.c.device_id)
                                .where(ratings.c.event_id.in_(sorted(want)))):
            levels[row.event_id] = row.satisfaction
            if row.device_id != device.device_id:
                others.add(row.event_id)
    ok: list[tuple[int, Event]] = []
    for i, ev in valid:
        if ev.type == "rating_detail":
            rid = ev.fields["rating_id"]
            if rid in others:
                results[i] = Result(ev.id, "rejected", "rating_id: a rating of another device")
                continue
            if rid in levels:
                try:
                    check_reasons(levels[rid], ev.fields["reasons"])
                except ValueError as exc:
                    results[i] = Result(ev.id, "rejected", f"reasons: {exc}")
                    continue
        ok.append((i, ev))
    return ok


def _insert_events(conn: Connection, device: DeviceIdentity, ok: list[tuple[int, Event]],
                   results: list[Result | None], received_at: datetime) -> set[str]:
    """Insert the event rows; the ids that were new. An id already taken is a
    duplicate (same payload, same device) or a conflict."""
    rows = [{"event_id": ev.id, "device_id": device.device_id, "type": ev.type, "payload_hash": ev.hash,
             "created_at": ev.created_at, "received_at": received_at, "repaired_at": ev.repaired_at,
             "clock_synced": ev.clock_synced, "boot_id": ev.boot_id, "mono_ms": ev.mono_ms}
            for _, ev in ok]
    inserted = {r[0] for r in bulk_insert(conn, events, rows,
                                          suffix="ON CONFLICT (event_id) DO NOTHING RETURNING event_id")}
    taken = [ev for _, ev in ok if ev.id not in inserted]
    if not taken:
        return inserted
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
    return inserted


def _rows(device: DeviceIdentity, reg: Registration, new: list[Event], received_at: datetime, tz: ZoneInfo,
          rectify_days: int | Deadlines) -> dict[str, Any]:
    """The rows of each table for the new events, and the rollup deltas."""
    deadlines = rectify_days if isinstance(rectify_days, Deadlines) else Deadlines(rectify_days, "natural", tz)
    out: dict[str, Any] = {"ratings": [], "details": [], "unrated": [], "cases": [], "deltas": {}}
    deltas: dict[tuple, list[int]] = out["deltas"]
    for ev in new:
        f = ev.fields
        assert ev.at is not None, "_validate sets the time of every event it passes"
        if ev.type == "rating_detail":
            out["details"].append({"event_id": ev.id, "rating_id": f["rating_id"],
                                   "reasons": json.dumps(f["reasons"]), "comment": f["comment"],
                                   "phone": f["phone"], "created_at": ev.at})
            continue
        day = local_day(ev.at, tz)
        placed = reg.place(f)
        section, window, staff = placed["section"], placed["window_no"], placed["staff_no"]
        where = {"device_id": device.device_id, "window_no": window, "section": section, "staff_no": staff,
                 "day": day}
        project = _project(f)
        if ev.type == "unrated":
            out["unrated"].append({
                "event_id": ev.id, "prompt_id": f["prompt_id"], "ticket_no": f["ticket_no"],
                "staff_name": f["staff_name"], "channel": f["channel"], "at": ev.at, **where, **placed, **project})
            deltas.setdefault((day, section, window, staff, 0, False), [0, 0])[0] += 1
            continue
        out["ratings"].append({
            "event_id": ev.id, "satisfaction": f["satisfaction"], "misuse": f["misuse"], "source": f["source"],
            "channel": f["channel"], "staff_name": f["staff_name"], "ticket_no": f["ticket_no"],
            "prompt_id": f["prompt_id"], "rated_at": ev.at, **where, **placed, **project})
        d = deltas.setdefault((day, section, window, staff, f["satisfaction"], f["misuse"]), [0, 0])
        d[0] += 1
        if f["satisfaction"] in BAD_WIRE and not f["misuse"]:
            d[1] += 1
            out["cases"].append(case_row(ev.id, f["satisfaction"], ev.at, received_at, deadlines, where))
    return out


def _project(f: dict[str, Any]) -> dict[str, Any]:
    """The 办件 columns of a rating or unrated row (every key, None when not given)."""
    p = f["project"]
    out = {name: p.get(name) for name in PROJECT_KEYS}
    out["project_no"] = f["project_no"] or p.get("project_no")
    return out


def case_row(rating_id: str, satisfaction: int, rated_at: datetime, received_at: datetime,
             deadlines: Deadlines, where: dict[str, Any]) -> dict[str, Any]:
    """The new case of a 差评 (``where``: device_id, window_no, section, staff_no, day)."""
    deadline = deadlines.for_rating(rated_at)
    return {"rating_id": rating_id, "state": "open", "satisfaction": satisfaction, "rated_at": rated_at,
            "opened_at": received_at, "deadline": deadline, "due_soon_at": deadlines.due_soon_at(deadline),
            "updated_at": received_at, **{k: where[k] for k in ("device_id", "window_no", "section", "staff_no", "day")}}


def open_cases(conn: Connection, case_rows: list[dict], at: datetime) -> None:
    """Insert new cases, each with its first transition (→ open, by the system)."""
    if not case_rows:
        return
    note = "差评 received"
    if not is_sqlite(conn):  # one statement: the transitions take the ids the insert returns
        sql, params = pg_insert(cases, case_rows, " RETURNING id")
        conn.exec_driver_sql(
            f"WITH opened AS ({sql}) INSERT INTO case_transitions (case_id, from_state, to_state, actor, at, note) "
            "SELECT id, NULL, 'open', 'system', %b::timestamp, %b::text FROM opened ORDER BY id",
            params + (at, note))
        return
    opened = bulk_insert(conn, cases, case_rows, suffix="RETURNING id")
    bulk_insert(conn, case_transitions, [
        {"case_id": case_id, "from_state": None, "to_state": "open", "actor": "system", "at": at, "note": note}
        for case_id, in sorted(opened)])
