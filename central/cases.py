"""差评工单: the closed loop for bad ratings (docs/api.md).

Ingest opens a case (state ``open``) for every bad, non-misuse rating, with
its deadline from the server's rule (:class:`central.workdays.Deadlines`).
Which transitions exist, what each requires, who may make it and the
four-eyes rule are the table in :mod:`central.workflow`; this module applies
that table, records every step (who, when, note and the step's data) and
keeps the rollups exact in the same transaction:

* ``count``: an ``invalid`` case leaves the statistics;
* ``unrectified`` / ``rectified``: valid 差评 outside / inside rectified,
  fed_back, closed;
* ``phoned`` / ``reached``: valid 差评 with a phone, and those of them with a
  follow-up that reached the citizen (``followup_rate``).

``overdue`` depends on the clock, so it is never stored: it is counted from
the cases table (index on state, deadline) when asked.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kiosk.levels import REASON_BY_CODE, check_reasons

from . import CentralError, workflow
from . import attachments as attachments_mod
from .db import case_followups, case_transitions, cases, is_sqlite, rating_details, ratings, write_tx
from .rollups import rollup_add
from .timefmt import rfc3339
from .workdays import Deadlines
from .workflow import CAN_BE_OVERDUE, NOT_OVERDUE, RECTIFIED, STATE_EN, STATE_ZH, STATES, UNRECTIFIED  # noqa: F401

FOLLOWUP_METHODS = ("phone", "sms", "visit", "other")
FOLLOWUP_SATISFIED = ("yes", "no", "unknown")
METHOD_ZH = {"phone": "电话", "sms": "短信", "visit": "上门", "other": "其他"}
SATISFIED_ZH = {"yes": "满意", "no": "不满意", "unknown": "未表态"}
OPENED_ZH, OPENED_EN = "收到差评", "差评 received"
MAX_NOTE = 4000


class CaseNotFound(CentralError, LookupError):
    pass


class CaseTransitionError(CentralError, ValueError):
    """A step that is refused: 403 role, 409 illegal or same person, 400 missing field."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status




def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    return state not in NOT_OVERDUE and deadline < now


def _case_json(r, now: datetime, deadlines: Deadlines | None) -> dict[str, Any]:
    out = {"id": r.id, "rating_id": r.rating_id, "device_id": r.device_id, "state": r.state,
           "state_zh": STATE_ZH[r.state], "state_en": STATE_EN[r.state], "satisfaction": r.satisfaction,
           "section": r.section, "window_no": r.window_no, "staff_no": r.staff_no, "day": r.day.isoformat(),
           "rated_at": rfc3339(r.rated_at), "opened_at": rfc3339(r.opened_at), "deadline": rfc3339(r.deadline),
           "due_date": r.due_date.isoformat() if r.due_date else None, "updated_at": rfc3339(r.updated_at),
           "overdue": is_overdue(r.state, r.deadline, now), "followed_up": bool(r.reached)}
    if deadlines is not None:
        out["days_left"] = None if r.state in NOT_OVERDUE else deadlines.days_left(r.deadline, now)
    return out


def _last_actor():
    """The person who moved each case into its current state (a correlated subquery)."""
    t = case_transitions.c
    return (sa.select(t.actor).where(t.case_id == cases.c.id, t.to_state == cases.c.state)
            .order_by(t.id.desc()).limit(1).scalar_subquery())


def _latest_detail():
    d = rating_details.c
    return (sa.select(d.reasons).where(d.rating_id == cases.c.rating_id)
            .order_by(d.created_at.desc()).limit(1).scalar_subquery())


VIEWS = ("all", "action", "approve")


def list_cases(conn: Connection, *, state: str | None = None, overdue: bool | None = None,
               section: str | None = None, window: str | None = None, staff_no: str | None = None,
               view: str = "all", me: str | None = None, now: datetime, deadlines: Deadlines | None = None,
               limit: int = 100, offset: int = 0,
               source: tuple[str, ...] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """A page of cases sorted by deadline, each with its rating's ``source``. ``view``:
    ``all``; ``action`` (the states someone must act on); ``approve`` (four-eyes steps
    waiting for someone other than ``me``, who made the request). ``source``: only the
    cases of ratings from those sources."""
    c = cases.c
    where: list[sa.ColumnElement[bool]] = []
    if state is not None:
        where.append(c.state == state)
    if view == "action":
        where.append(c.state.in_(workflow.NEEDS_ACTION))
    elif view == "approve":
        where += [c.state.in_(workflow.AWAITING_APPROVAL), _last_actor() != (me or "")]
    if overdue is True:
        where += [c.state.in_(CAN_BE_OVERDUE), c.deadline < now]
    elif overdue is False:
        where.append(sa.or_(c.state.in_(NOT_OVERDUE), c.deadline >= now))
    for col, value in ((c.section, section), (c.window_no, window), (c.staff_no, staff_no)):
        if value is not None:
            where.append(col == value)
    joined = cases.outerjoin(ratings, ratings.c.event_id == c.rating_id)
    if source:
        where.append(ratings.c.source.in_(source))
    total = conn.execute(sa.select(sa.func.count()).select_from(joined if source else cases)
                         .where(*where)).scalar_one()
    stmt = (sa.select(cases, ratings.c.staff_name, ratings.c.source, _latest_detail().label("reasons"),
                      _last_actor().label("state_by"))
            .select_from(joined)
            .where(*where).order_by(c.deadline, c.id).limit(limit).offset(offset))
    out = []
    for r in conn.execute(stmt).all():
        row = _case_json(r, now, deadlines)
        codes = json.loads(r.reasons) if r.reasons else []
        row.update(staff_name=r.staff_name, source=r.source, reasons=codes, state_by=r.state_by,
                   reasons_zh=[REASON_BY_CODE[x].zh for x in codes if x in REASON_BY_CODE])
        out.append(row)
    return total, out


def _step_label(t) -> tuple[str, str]:
    if t.from_state is None:
        return OPENED_ZH, OPENED_EN
    row = workflow.rule(t.from_state, t.to_state)
    return (row.zh, row.en) if row else (STATE_ZH.get(t.to_state, t.to_state), STATE_EN.get(t.to_state, t.to_state))


def get_case(conn: Connection, case_id: int, *, now: datetime, show_phone: bool,
             deadlines: Deadlines | None = None) -> dict[str, Any] | None:
    """One case with its rating, reasons, every step, follow-ups, attachments and the
    moves its state allows (from :data:`central.workflow.TRANSITIONS`)."""
    from .stats import mask_phone

    r = conn.execute(sa.select(cases).where(cases.c.id == case_id)).first()
    if r is None:
        return None
    out = _case_json(r, now, deadlines)
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
    steps = []
    for t in conn.execute(sa.select(case_transitions).where(case_transitions.c.case_id == case_id)
                          .order_by(case_transitions.c.id)):
        zh, en = _step_label(t)
        steps.append({"from": t.from_state, "to": t.to_state, "by": t.actor, "at": rfc3339(t.at), "note": t.note,
                      "label_zh": zh, "label_en": en, "to_zh": STATE_ZH.get(t.to_state, t.to_state),
                      "data": json.loads(t.data) if t.data else {}})
    out["transitions"] = steps
    out["state_by"] = next((s["by"] for s in reversed(steps) if s["to"] == r.state), None)
    learned: list[str] = next((s["data"]["reasons"] for s in reversed(steps) if s["data"].get("reasons")), [])
    out["verified_reasons"] = learned
    out["followups"] = followups(conn, case_id)
    out["attachments"] = attachments_mod.listing(conn, case_id)
    out["moves"] = [{"to": m.to, "zh": m.zh, "en": m.en, "required": list(m.required), "optional": list(m.optional),
                     "four_eyes": m.four_eyes, "note_zh": m.note[0], "note_en": m.note[1]}
                    for m in workflow.moves_from(r.state)]
    return out


# --- the rollup membership of a case ------------------------------------------------

def rollup_share(state: str, has_phone: bool, reached: bool) -> list[int]:
    """What one case adds to its rollup cell in ``state``: [count, unrectified,
    rectified, phoned, reached]."""
    if state == "invalid":
        return [0, 0, 0, 0, 0]
    return [1, int(state in UNRECTIFIED), int(state in RECTIFIED), int(has_phone), int(has_phone and reached)]


def _key(r) -> tuple:
    return (r.day, r.section, r.window_no, r.staff_no, r.satisfaction, False)


def _move_rollup(conn: Connection, r, before: tuple[str, bool, bool], after: tuple[str, bool, bool]) -> None:
    delta = [b - a for a, b in zip(rollup_share(*before), rollup_share(*after), strict=True)]
    if any(delta):
        rollup_add(conn, {_key(r): delta})


def _locked(conn: Connection, case_id: int):
    stmt = sa.select(cases).where(cases.c.id == case_id)
    if not is_sqlite(conn):
        stmt = stmt.with_for_update()
    r = conn.execute(stmt).first()
    if r is None:
        raise CaseNotFound(f"no case {case_id}")
    return r


# --- transitions ---------------------------------------------------------------------

def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CaseTransitionError(f"{name}: expected a string", 400)
    value = value.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\r\t" for ch in value):
        raise CaseTransitionError(f"{name}: contains control characters or is not valid Unicode text", 400)
    if len(value) > MAX_NOTE:
        raise CaseTransitionError(f"{name}: at most {MAX_NOTE} characters", 400)
    return value


def _due_date(value: Any, today: date) -> date:
    if not value:
        raise CaseTransitionError("due_date: required (YYYY-MM-DD, the day the rectification will be done)", 400)
    try:
        d = date.fromisoformat(str(value))
    except ValueError:
        raise CaseTransitionError(f"due_date: {value!r} is not a date: expected YYYY-MM-DD", 400) from None
    if d < today:
        raise CaseTransitionError(f"due_date: {d} is in the past (today is {today})", 400)
    return d


def _fields(conn: Connection, r, row: workflow.Transition, body: dict[str, Any], today: date) -> dict[str, Any]:
    """The step's checked fields (``note`` and its data), or a 400 naming the first missing one."""
    out: dict[str, Any] = {"note": _text(body.get("note"), "note")}
    wants = set(row.required) | set(row.optional)
    if "note" in row.required and not out["note"]:
        raise CaseTransitionError(f"note: required for {row.zh} ({row.en}): say what was found or done", 400)
    if "reasons" in wants and body.get("reasons"):
        if not isinstance(body["reasons"], list):
            raise CaseTransitionError("reasons: expected a list of reason codes", 400)
        try:
            out["reasons"] = check_reasons(r.satisfaction, body["reasons"])
        except ValueError as exc:
            raise CaseTransitionError(f"reasons: {exc}", 400) from None
    if "due_date" in row.required:
        due = _due_date(body.get("due_date"), today)
        if row.from_ == "planned" and r.due_date is not None and due <= r.due_date:
            raise CaseTransitionError(f"due_date: an extension needs a date after the current one ({r.due_date})",
                                      400)
        out["due_date"] = due
    if "attachment_ids" in row.required:
        ids = body.get("attachment_ids")
        what = "the written report" if row.to == "planned" else "the formal document"
        if not ids or not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise CaseTransitionError(f"attachment_ids: required: upload {what} "
                                      f"(POST /api/v1/cases/{r.id}/attachments) and list its id", 400)
        unknown = sorted(set(ids) - attachments_mod.ids_of(conn, r.id))
        if unknown:
            raise CaseTransitionError(f"attachment_ids: {unknown} are not attachments of case {r.id}", 400)
        out["attachment_ids"] = sorted(set(ids))
    if "followup" in row.required:
        n = conn.execute(sa.select(sa.func.count()).select_from(case_followups)
                         .where(case_followups.c.case_id == r.id)).scalar_one()
        if not n:
            raise CaseTransitionError(f"followup: record the follow-up call first "
                                      f"(POST /api/v1/cases/{r.id}/followups)", 400)
    return out


def transition(engine: Engine, case_id: int, body: dict[str, Any], *, actor: str, role: str, now: datetime,
               deadlines: Deadlines) -> None:
    """Apply one row of :data:`central.workflow.TRANSITIONS` to a case.

    ``body`` holds ``to``, ``note`` and the row's fields. Raises :class:`CaseNotFound`
    or :class:`CaseTransitionError` (403 / 409 / 400, see docs/api.md)."""
    to = body.get("to")
    if to not in workflow.targets():
        raise CaseTransitionError(f"to: expected one of {', '.join(workflow.targets())}, got {to!r}", 400)
    if role not in workflow.ACTORS:
        raise CaseTransitionError(f"the role {role!r} may not act on cases (supervisor or admin)", 403)
    with write_tx(engine) as conn:
        r = _locked(conn, case_id)
        row = workflow.rule(r.state, to)
        if row is None:
            allowed = ", ".join(m.to for m in workflow.moves_from(r.state)) or "none (final state)"
            raise CaseTransitionError(f"case {case_id} is {r.state} ({STATE_ZH[r.state]}) and cannot go to "
                                      f"{to!r}; allowed: {allowed}")
        f = _fields(conn, r, row, body, deadlines.local_today(now))
        if row.four_eyes:
            by = conn.execute(sa.select(case_transitions.c.actor)
                              .where(case_transitions.c.case_id == case_id,
                                     case_transitions.c.to_state == r.state)
                              .order_by(case_transitions.c.id.desc()).limit(1)).scalar()
            if by == actor:
                raise CaseTransitionError(f"{row.zh} ({row.en}) needs another person than {row.four_eyes} "
                                          f"({actor}): ask another supervisor or admin")
        values: dict[str, Any] = {"state": to, "updated_at": now}
        if "due_date" in f:
            values.update(due_date=f["due_date"], deadline=deadlines.end_of(f["due_date"]))
            values["due_soon_at"] = deadlines.due_soon_at(values["deadline"])
        res = conn.execute(cases.update().where(cases.c.id == case_id, cases.c.state == r.state).values(**values))
        if res.rowcount != 1:
            raise CaseTransitionError("the case was changed by someone else; reload it")
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in f.items() if k != "note"}
        conn.execute(case_transitions.insert().values(case_id=case_id, from_state=r.state, to_state=to,
                                                      actor=actor, at=now, note=f["note"],
                                                      data=json.dumps(data, ensure_ascii=False) if data else None))
        _move_rollup(conn, r, (r.state, r.has_phone, r.reached), (to, r.has_phone, r.reached))
        if f.get("reasons"):  # 核实 learned the reasons: a waiting 差评 can be pushed
            from .province import release
            release(conn, [r.rating_id], now)


# --- follow-ups ----------------------------------------------------------------------

def followups(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(case_followups).where(case_followups.c.case_id == case_id)
                        .order_by(case_followups.c.at, case_followups.c.id))
    return [{"id": f.id, "at": rfc3339(f.at), "method": f.method, "method_zh": METHOD_ZH[f.method],
             "reached": bool(f.reached), "satisfied": f.satisfied, "satisfied_zh": SATISFIED_ZH[f.satisfied],
             "note": f.note, "by": f.actor, "created_at": rfc3339(f.created_at)} for f in rows]


def _followup_at(value: Any, now: datetime) -> datetime:
    from .wire import EventError, parse_time

    if value in (None, ""):
        return now
    try:
        at = parse_time(value, "at")
    except EventError as exc:
        raise CaseTransitionError(str(exc), 400) from None
    if at > now + timedelta(minutes=5):
        raise CaseTransitionError("at: the follow-up cannot be in the future", 400)
    return at


def add_followup(engine: Engine, case_id: int, body: dict[str, Any], *, actor: str, role: str,
                 now: datetime) -> int:
    """Record a 回访; the first one that reached the citizen counts for ``followup_rate``."""
    if role not in workflow.ACTORS:
        raise CaseTransitionError(f"the role {role!r} may not record follow-ups (supervisor or admin)", 403)
    method, satisfied, reached = body.get("method"), body.get("satisfied", "unknown"), body.get("reached")
    if method not in FOLLOWUP_METHODS:
        raise CaseTransitionError(f"method: expected one of {', '.join(FOLLOWUP_METHODS)}, got {method!r}", 400)
    if not isinstance(reached, bool):
        raise CaseTransitionError("reached: required, true or false (was the citizen reached?)", 400)
    if satisfied not in FOLLOWUP_SATISFIED:
        raise CaseTransitionError(f"satisfied: expected one of {', '.join(FOLLOWUP_SATISFIED)}, got {satisfied!r}",
                                  400)
    note = _text(body.get("note"), "note")
    at = _followup_at(body.get("at"), now)
    with write_tx(engine) as conn:
        r = _locked(conn, case_id)
        if r.state == "invalid":
            raise CaseTransitionError(f"case {case_id} is invalid: it takes no follow-ups")
        fid = conn.execute(case_followups.insert().values(
            case_id=case_id, at=at, method=method, reached=reached, satisfied=satisfied, note=note,
            actor=actor, created_at=now).returning(case_followups.c.id)).scalar_one()
        if reached and not r.reached:
            conn.execute(cases.update().where(cases.c.id == case_id).values(reached=True, updated_at=now))
            _move_rollup(conn, r, (r.state, r.has_phone, False), (r.state, r.has_phone, True))
    return fid


def note_phones(conn: Connection, rating_ids: list[str]) -> None:
    """Mark the cases of these ratings that now have a phone number (called by ingest
    in its transaction, after the cases and details are written)."""
    if not rating_ids:
        return
    d = rating_details.c
    has = sa.select(d.rating_id).where(d.rating_id == cases.c.rating_id, d.phone.is_not(None), d.phone != "")
    rows = conn.execute(sa.select(cases).where(cases.c.rating_id.in_(sorted(set(rating_ids))),
                                               cases.c.has_phone == sa.false(), has.exists())).all()
    for r in rows:
        conn.execute(cases.update().where(cases.c.id == r.id).values(has_phone=True))
        _move_rollup(conn, r, (r.state, False, r.reached), (r.state, True, r.reached))


def overdue_counts(conn: Connection, from_: date, to: date, *, now: datetime, key: str | None,
                   section: str | None = None, window: str | None = None,
                   staff_no: str | None = None) -> dict[str, int]:
    """Valid 差评 of the days ``from_``..``to`` past their deadline and not rectified,
    unfixable or invalid, by group key (``""`` when not grouped)."""
    c = cases.c
    col = {"section": c.section, "window": c.window_no, "staff": c.staff_no, "day": c.day}.get(key or "")
    k = col if col is not None else sa.literal("")
    stmt = (sa.select(k.label("key"), sa.func.count().label("n"))
            .where(c.day >= from_, c.day <= to, c.state.in_(CAN_BE_OVERDUE), c.deadline < now))
    for column, value in ((c.section, section), (c.window_no, window), (c.staff_no, staff_no)):
        if value is not None:
            stmt = stmt.where(column == value)
    out: dict[str, int] = {}
    for row in conn.execute(stmt.group_by(k)):
        name = row.key.isoformat() if isinstance(row.key, date) else str(row.key)
        out[name] = out.get(name, 0) + int(row.n)
    return out
