"""差评工单: the closed loop for bad ratings (docs/api.md).

Ingest opens a case for every bad (satisfaction 1 or 2), non-misuse rating,
with ``deadline = rating time + rectify_days`` natural days. States::

    open (待核实) → verified (核实有效) → rectified (已整改) → fed_back (已反馈)
    open | verified → invalid (无效; a note with the reason is required)

Every transition is stored with who, when and the note. The daily rollup is
adjusted in the same transaction: an invalid case leaves the statistics, and
only open + verified cases count as ``bad_unrectified``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import CentralError
from .db import case_transitions, cases, rating_details, ratings, write_tx
from .rollups import rollup_add

STATES = ("open", "verified", "rectified", "fed_back", "invalid")
STATE_ZH = {"open": "待核实", "verified": "核实有效", "rectified": "已整改", "fed_back": "已反馈",
            "invalid": "无效"}
NEXT = {"open": ("verified", "invalid"), "verified": ("rectified", "invalid"),
        "rectified": ("fed_back",), "fed_back": (), "invalid": ()}
UNRECTIFIED = ("open", "verified")


class CaseNotFound(CentralError, LookupError):
    pass


class CaseTransitionError(CentralError, ValueError):
    """A transition that is not allowed (409) or lacks its note (400)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="milliseconds") + "Z"


def _case_json(r, now: datetime) -> dict[str, Any]:
    return {"id": r.id, "rating_id": r.rating_id, "device_id": r.device_id, "state": r.state,
            "state_zh": STATE_ZH[r.state], "satisfaction": r.satisfaction, "section": r.section,
            "window_no": r.window_no, "staff_no": r.staff_no, "day": r.day.isoformat(),
            "rated_at": _iso(r.rated_at), "opened_at": _iso(r.opened_at), "deadline": _iso(r.deadline),
            "updated_at": _iso(r.updated_at),
            "overdue": r.state in UNRECTIFIED and r.deadline < now}


def list_cases(conn: Connection, *, state=None, overdue=None, section=None, window=None, staff_no=None,
               now: datetime, limit: int = 100, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    c = cases.c
    where = []
    if state is not None:
        where.append(c.state == state)
    if overdue is True:
        where += [c.state.in_(UNRECTIFIED), c.deadline < now]
    elif overdue is False:
        where.append(sa.or_(c.state.not_in(UNRECTIFIED), c.deadline >= now))
    for col, value in ((c.section, section), (c.window_no, window), (c.staff_no, staff_no)):
        if value is not None:
            where.append(col == value)
    total = conn.execute(sa.select(sa.func.count()).select_from(cases).where(*where)).scalar_one()
    rows = conn.execute(sa.select(cases).where(*where).order_by(c.deadline, c.id)
                        .limit(limit).offset(offset)).all()
    return total, [_case_json(r, now) for r in rows]


def get_case(conn: Connection, case_id: int, *, now: datetime, show_phone: bool) -> dict[str, Any] | None:
    from .stats import mask_phone

    r = conn.execute(sa.select(cases).where(cases.c.id == case_id)).first()
    if r is None:
        return None
    out = _case_json(r, now)
    rating = conn.execute(sa.select(ratings).where(ratings.c.event_id == r.rating_id)).first()
    if rating is not None:
        out["rating"] = {"staff_name": rating.staff_name, "project_no": rating.project_no,
                         "ticket_no": rating.ticket_no, "source": rating.source,
                         "channel": rating.channel, "misuse": bool(rating.misuse)}
    d = conn.execute(sa.select(rating_details).where(rating_details.c.rating_id == r.rating_id)
                     .order_by(rating_details.c.created_at.desc())).first()
    out["reasons"] = json.loads(d.reasons) if d is not None else []
    out["comment"] = d.comment if d is not None else None
    phone = d.phone if d is not None else None
    out["phone"] = phone if show_phone else mask_phone(phone)
    out["transitions"] = [
        {"from": t.from_state, "to": t.to_state, "by": t.actor, "at": _iso(t.at), "note": t.note}
        for t in conn.execute(sa.select(case_transitions).where(case_transitions.c.case_id == case_id)
                              .order_by(case_transitions.c.id))]
    return out


def transition(engine: Engine, case_id: int, to: str, note: str, *, actor: str, now: datetime) -> None:
    """Move a case to ``to``; raises :class:`CaseNotFound` or :class:`CaseTransitionError`."""
    note = (note or "").strip()
    if to not in STATES or to == "open":
        raise CaseTransitionError(f"to: expected one of verified, rectified, fed_back, invalid, got {to!r}", 400)
    if to == "invalid" and not note:
        raise CaseTransitionError("note: a reason is required to mark a case invalid", 400)
    with write_tx(engine) as conn:
        r = conn.execute(sa.select(cases).where(cases.c.id == case_id)).first()
        if r is None:
            raise CaseNotFound(f"no case {case_id}")
        if to not in NEXT[r.state]:
            allowed = ", ".join(NEXT[r.state]) or "none (final state)"
            raise CaseTransitionError(f"a case in state {r.state!r} cannot go to {to!r}; allowed: {allowed}")
        res = conn.execute(cases.update().where(cases.c.id == case_id, cases.c.state == r.state)
                           .values(state=to, updated_at=now))
        if res.rowcount != 1:
            raise CaseTransitionError("the case was changed by someone else; reload it")
        conn.execute(case_transitions.insert().values(case_id=case_id, from_state=r.state, to_state=to,
                                                      actor=actor, at=now, note=note))
        key = (r.day, r.section, r.window_no, r.staff_no, r.satisfaction, False)
        was_open = r.state in UNRECTIFIED
        now_open = to in UNRECTIFIED
        delta = [-1 if to == "invalid" else 0, (1 if now_open else 0) - (1 if was_open else 0)]
        rollup_add(conn, {key: delta})
