"""Corrections of staff entries: a paper form, a call or a 办不成事 registration typed
in wrong is corrected (a new rating replaces it) or withdrawn (it should not exist),
and the audit trail keeps both versions, who changed what, when and why.

A correction happens in one transaction: the entered rating leaves ``ratings``,
its details and its rollup cells (the same cells ingest and the case steps keep,
so the statistics stay exact); its 差评 case goes with it while nobody has acted
on it yet (a case already in work is the supervisor's to mark 无效 in the case);
its provincial push record goes while it is unsent (a record the platform has is
noted, and the replacement is pushed as a rating of its own); the replacement is
stored like any entry (:func:`central.channels.store`), keeping the form number.
``entry_corrections`` holds the original as it was, the reason, who and when.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import cases as cases_mod
from . import channels, province
from .auth import User
from .db import (
    case_attachments,
    case_followups,
    case_transitions,
    cases,
    is_sqlite,
    province_outbox,
    rating_details,
    ratings,
    write_tx,
)
from .rollups import rollup_add, slots_add
from .timefmt import rfc3339
from .workdays import Deadlines

metadata = sa.MetaData()

#: One row per corrected or withdrawn entry: the rating as it was, and what replaced it.
entry_corrections = sa.Table(
    "entry_corrections", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rating_id", sa.String(64), nullable=False, unique=True),
    sa.Column("replaced_by", sa.String(64), index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("by_id", sa.Integer),
    sa.Column("by", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("original", sa.Text, nullable=False),
    sa.Column("case_id", sa.Integer),
    sa.Column("pushed", sa.Boolean, nullable=False, server_default=sa.false()),
)

CORRECTED, WITHDRAWN = "corrected", "withdrawn"
STATUS_ZH = {CORRECTED: "已更正", WITHDRAWN: "已撤销"}
MAX_REASON = 500
#: The fields of an entry a correction may change (absent: kept from the original).
FIELDS = ("source", "window_no", "staff_no", "satisfaction", "reasons", "comment", "phone", "project_no",
          "rated_at", "form_no")


class CorrectionError(channels.ChannelError):
    """A correction that is refused: 404 no such entry, 403 not yours, 409 the entry
    or its case has moved on, 400 a bad field."""


# --- reading ----------------------------------------------------------------------

def original_body(conn: Connection, rating_id: str, tz: ZoneInfo) -> dict[str, Any] | None:
    """A stored entry as the body that would enter it again (the correction form's
    values), or None when ``rating_id`` is no current staff entry."""
    e, r = channels.channel_entries.c, ratings.c
    row = conn.execute(sa.select(e.source, e.form_no, e.entered_by_id, r.window_no, r.staff_no, r.satisfaction,
                                 r.project_no, r.rated_at, r.day)
                       .select_from(channels.channel_entries.join(ratings, r.event_id == e.rating_id))
                       .where(e.rating_id == rating_id, e.source.in_(channels.ENTRY_SOURCES))).first()
    if row is None:
        return None
    d = _detail(conn, rating_id)
    return {"source": row.source, "window_no": row.window_no, "staff_no": row.staff_no,
            "satisfaction": row.satisfaction, "reasons": d["reasons"], "comment": d["comment"],
            "phone": d["phone"], "project_no": row.project_no, "rated_at": _rated_at(row.rated_at, row.day, tz),
            "form_no": row.form_no, "entered_by_id": row.entered_by_id}


def _rated_at(t: datetime, day, tz: ZoneInfo) -> str:
    """A form's date entered as a date (stored as noon, local time) reads back as that date."""
    local = t.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    if (local.hour, local.minute, local.second, local.microsecond) == (12, 0, 0, 0):
        return day.isoformat()
    return local.isoformat(timespec="milliseconds")


def _detail(conn: Connection, rating_id: str) -> dict[str, Any]:
    d = conn.execute(sa.select(rating_details).where(rating_details.c.rating_id == rating_id)
                     .order_by(rating_details.c.created_at.desc())).first()
    return {"reasons": json.loads(d.reasons) if d is not None and d.reasons else [],
            "comment": d.comment if d is not None else None, "phone": d.phone if d is not None else None}


def history(conn: Connection, rating_id: str, *, show_phone: bool) -> list[dict[str, Any]] | None:
    """Every version of an entry, first to last, from any of its ids: each with its
    values, who entered it and, when it was replaced or withdrawn, by whom, when and why.
    None when the id is no staff entry."""
    from .stats import mask_phone

    c = entry_corrections.c
    first = rating_id
    while (prev := conn.execute(sa.select(c.rating_id).where(c.replaced_by == first)).scalar()) is not None:
        first = prev
    out: list[dict[str, Any]] = []
    current: str | None = first
    while current is not None:
        entry = conn.execute(sa.select(channels.channel_entries)
                             .where(channels.channel_entries.c.rating_id == current)).first()
        if entry is None or entry.source not in channels.ENTRY_SOURCES:
            return None if not out else out
        fix = conn.execute(sa.select(entry_corrections).where(c.rating_id == current)).first()
        values = json.loads(fix.original) if fix is not None else _values(conn, current)
        if values.get("phone") and not show_phone:
            values["phone"] = mask_phone(values["phone"])
        version = {"id": current, "source": entry.source, "form_no": entry.form_no, "entered_by": entry.entered_by,
                   "entered_at": rfc3339(entry.entered_at), "status": "current", **values}
        if fix is not None:
            version.update(status=CORRECTED if fix.replaced_by else WITHDRAWN, replaced_by=fix.replaced_by,
                           corrected_by=fix.by, corrected_at=rfc3339(fix.at), reason=fix.reason,
                           case_withdrawn=fix.case_id, province_had_it=bool(fix.pushed))
        out.append(version)
        current = fix.replaced_by if fix is not None else None
    return out


def _values(conn: Connection, rating_id: str) -> dict[str, Any]:
    """The counted values of a current rating and its detail (JSON-ready)."""
    r = conn.execute(sa.select(ratings).where(ratings.c.event_id == rating_id)).first()
    if r is None:
        return {}
    return {"window_no": r.window_no, "section": r.section, "staff_no": r.staff_no, "staff_name": r.staff_name,
            "satisfaction": r.satisfaction, "misuse": bool(r.misuse), "channel": r.channel,
            "project_no": r.project_no, "assess_number": r.assess_number, "rated_at": rfc3339(r.rated_at),
            "day": r.day.isoformat(), **_detail(conn, rating_id)}


def annotate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries (:func:`central.channels.recent_entries`) with ``correction`` set on those
    corrected or withdrawn, and their values filled in from the original."""
    c = entry_corrections.c
    ids = [r["rating_id"] for r in rows]
    fixes = {f.rating_id: f for f in conn.execute(sa.select(entry_corrections).where(c.rating_id.in_(ids)))} \
        if ids else {}
    for row in rows:
        fix = fixes.get(row["rating_id"])
        row["correction"] = None
        if fix is not None:
            was = json.loads(fix.original)
            row.update(window_no=was.get("window_no"), staff_no=was.get("staff_no"),
                       satisfaction=was.get("satisfaction"), day=was.get("day"),
                       correction={"status": CORRECTED if fix.replaced_by else WITHDRAWN,
                                   "replaced_by": fix.replaced_by, "reason": fix.reason, "by": fix.by})
    return rows


# --- correcting -------------------------------------------------------------------

def reason_of(body: dict[str, Any]) -> str:
    reason = channels.text_field(body, "reason", MAX_REASON, required=True)
    assert reason is not None
    return reason


def correct(engine: Engine, rating_id: str, body: Any, user: User, *, withdraw: bool, channel_for,
            tz: ZoneInfo, deadlines: Deadlines, now: datetime) -> dict[str, Any]:
    """Correct (``withdraw=False``: the body's fields replace the original's, absent
    fields are kept, ``null`` clears one; a new level without ``reasons`` has none, another window without ``staff_no`` has
    its registered staff) or withdraw a staff entry; ``body["reason"]``
    is required. ``channel_for(source)`` is the channel of a source. Returns the answer
    of ``POST /api/v1/entries/{id}/correction``."""
    if not isinstance(body, dict):
        raise CorrectionError("the body must be a JSON object")
    reason = reason_of(body)
    unknown = sorted(set(body) - set(FIELDS) - {"reason", "withdraw"})
    if unknown:
        raise CorrectionError(f"{unknown[0]}: not a field of an entry; expected some of {', '.join(FIELDS)}")
    with write_tx(engine) as conn:
        original = original_body(conn, rating_id, tz)
        if original is None:
            _not_current(conn, rating_id)
        assert original is not None
        if original.pop("entered_by_id") != user.id and not user.may("act"):
            raise CorrectionError("only the user who entered it, a supervisor or an admin may correct an entry", 403)
        new_id = None
        if not withdraw:
            merged = {**original, **{k: body[k] for k in FIELDS if k in body}}
            if "reasons" not in body and merged["satisfaction"] != original["satisfaction"]:
                merged["reasons"] = []  # reasons belong to a level: a new level starts without them
            if "staff_no" not in body and merged["window_no"] != original["window_no"]:
                merged["staff_no"] = ""  # another window: its registered staff
            if merged["source"] not in channels.ENTRY_SOURCES:
                raise CorrectionError(f"source: expected one of {', '.join(channels.ENTRY_SOURCES)}, "
                                      f"got {merged['source']!r}")
            rating = channels.check_rating(merged, tz, now)
            form_no = channels.text_field(merged, "form_no", 64)
        snapshot, case_id, pushed = _take_out(conn, rating_id, now)
        if not withdraw:
            origin = channels.Origin(source=merged["source"], device_id=f"entry:{user.username}",
                                     entered_by=user.username, entered_by_id=user.id, form_no=form_no)
            new_id, status = channels.store_in(conn, rating, origin, channel=channel_for(merged["source"]), tz=tz,
                                               deadlines=deadlines)
            if status == "duplicate":
                raise CorrectionError(f"form_no: {form_no!r} is already the form number of entry {new_id}", 409)
        conn.execute(entry_corrections.insert().values(
            rating_id=rating_id, replaced_by=new_id, reason=reason, by_id=user.id, by=user.username, at=now,
            original=json.dumps(snapshot, ensure_ascii=False, default=str), case_id=case_id, pushed=pushed))
    return {"id": rating_id, "status": WITHDRAWN if withdraw else CORRECTED, "replaced_by": new_id,
            "case_withdrawn": case_id, "province_had_it": pushed}


def _not_current(conn: Connection, rating_id: str) -> None:
    fix = conn.execute(sa.select(entry_corrections).where(entry_corrections.c.rating_id == rating_id)).first()
    if fix is not None:
        what = f"corrected by entry {fix.replaced_by}" if fix.replaced_by else "withdrawn"
        raise CorrectionError(f"entry {rating_id} was already {what} ({fix.by}, {rfc3339(fix.at)})", 409)
    raise CorrectionError(f"no staff entry {rating_id} (paper, phone or counter)", 404)


def _take_out(conn: Connection, rating_id: str, now: datetime) -> tuple[dict[str, Any], int | None, bool]:
    """Remove a rating from the counts, with its case and unsent push record: its
    snapshot, the id of the case withdrawn with it, and whether the platform had it."""
    stmt = sa.select(ratings).where(ratings.c.event_id == rating_id)
    r = conn.execute(stmt if is_sqlite(conn) else stmt.with_for_update()).first()
    assert r is not None  # original_body found it in this transaction
    snapshot = _values(conn, rating_id)
    case = conn.execute(sa.select(cases).where(cases.c.rating_id == rating_id)).first()
    if case is not None:
        worked = case.state != "open" or any(
            conn.execute(sa.select(t.c.id).where(t.c.case_id == case.id).limit(1)).first()
            for t in (case_followups, case_attachments))
        if worked:
            raise CorrectionError(f"case #{case.id} of this entry is already in work ({case.state}): a supervisor "
                                  "marks it invalid in the case, then the entry can be corrected", 409)
    push = conn.execute(sa.select(province_outbox).where(province_outbox.c.rating_id == rating_id)).first()
    if push is not None and push.status != province.SENT and push.claimed_until and push.claimed_until > now:
        raise CorrectionError("the provincial push is sending this rating right now: try again in a minute", 409)
    pushed = push is not None and push.status == province.SENT
    key = (r.day, r.section, r.window_no, r.staff_no, r.satisfaction, bool(r.misuse))
    if case is not None:
        share = cases_mod.rollup_share(case.state, case.has_phone, case.reached)
        rollup_add(conn, {key: [-x for x in share]})
        conn.execute(case_transitions.delete().where(case_transitions.c.case_id == case.id))
        conn.execute(cases.delete().where(cases.c.id == case.id))
    else:
        rollup_add(conn, {key: [-1]})
    if push is not None and not pushed:
        conn.execute(province_outbox.delete().where(province_outbox.c.id == push.id))
    conn.execute(rating_details.delete().where(rating_details.c.rating_id == rating_id))
    slots_add(conn, [dict(r._mapping)], sign=-1)
    conn.execute(ratings.delete().where(ratings.c.event_id == rating_id))
    conn.execute(channels.channel_entries.update().where(channels.channel_entries.c.rating_id == rating_id)
                 .values(dedup_key=None))
    return snapshot, case.id if case is not None else None, pushed

