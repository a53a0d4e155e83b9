"""Statistics (docs/api.md, ``GET /api/v1/stats``) and the ratings listing.

Aggregates are read from ``rollup_daily`` and ``rollup_monthly``, which ingest
and case transitions keep exact in their own transactions; the query cost
depends on the number of (day or month, section, window, staff, level) cells,
not on the number of ratings.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from kiosk.events import mask_phone  # noqa: F401  (one masking rule; cases.py uses it from here)
from kiosk.levels import Level

from .auth import utcnow
from .db import cases, rating_details, ratings, rollup_daily, rollup_monthly
from .timefmt import rfc3339


class Totals(BaseModel):
    count: int = 0
    levels: dict[str, int]
    bad: int = 0
    bad_unrectified: int = 0
    good_rate: float | None = None
    unrated: int = 0
    rectified: int = 0
    rectify_rate: float | None = None
    overdue: int = 0
    followup_rate: float | None = None


class Group(Totals):
    key: str


class StatsOut(BaseModel):
    model_config = {"populate_by_name": True}

    from_: str = Field(alias="from")
    to: str
    total: Totals
    groups: list[Group]


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def split_range(from_: date, to: date) -> tuple[list[tuple[date, date]], tuple[date, date] | None]:
    """Split an inclusive date range into whole calendar months (read from the
    monthly rollup) and the leftover days at either end (read from the daily one).

    Returns ``(day_ranges, (first_month, last_month) or None)``.
    """
    first_full = from_ if from_.day == 1 else _month_end(from_) + timedelta(days=1)
    last_full = to.replace(day=1) if _month_end(to) == to else to.replace(day=1) - timedelta(days=1)
    last_full = last_full.replace(day=1)
    if first_full > last_full:
        return [(from_, to)], None
    days = []
    if from_ < first_full:
        days.append((from_, first_full - timedelta(days=1)))
    if _month_end(last_full) < to:
        days.append((_month_end(last_full) + timedelta(days=1), to))
    return days, (first_full, last_full)


_CASE_COUNTS = ("rectified", "phoned", "reached")


def _empty() -> dict[str, Any]:
    return {"count": 0, "levels": {str(w): 0 for w in (5, 4, 3, 2, 1)}, "bad": 0,
            "bad_unrectified": 0, "good_rate": None, "unrated": 0, "rectified": 0, "rectify_rate": None,
            "overdue": 0, "followup_rate": None, "phoned": 0, "reached": 0}


def _add(acc: dict[str, Any], level: int, count: int, unrectified: int, cases: tuple[int, ...] = (0, 0, 0)) -> None:
    if level == 0:
        acc["unrated"] += count
        return
    acc["levels"][str(level)] += count
    acc["count"] += count
    if level <= 2:
        acc["bad"] += count
        acc["bad_unrectified"] += unrectified
        for name, n in zip(_CASE_COUNTS, cases, strict=True):
            acc[name] += n


def _finish(acc: dict[str, Any]) -> dict[str, Any]:
    """Rates from the counts: 好评率, 整改率 (rectified / valid 差评) and 回访率
    (reached / valid 差评 with a phone); null when the denominator is 0."""
    if acc["count"]:
        good = sum(acc["levels"][k] for k in ("5", "4", "3"))
        acc["good_rate"] = round(good / acc["count"], 6)
    if acc["bad"]:
        acc["rectify_rate"] = round(acc["rectified"] / acc["bad"], 6)
    phoned, reached = acc.pop("phoned"), acc.pop("reached")
    if phoned:
        acc["followup_rate"] = round(reached / phoned, 6)
    return acc


def _cells(conn: Connection, table: sa.Table, first: sa.Column, lo: date, hi: date, *, section, window,
           staff_no, group_by, include_misuse):
    c = table.c
    key: sa.ColumnElement[Any] | None = {"section": c.section, "window": c.window_no, "staff": c.staff_no,
                                         "day": first}.get(group_by)
    key = key if key is not None else sa.literal("")
    stmt = (sa.select(key.label("key"), c.level, sa.func.sum(c.count).label("n"),
                      sa.func.sum(c.unrectified).label("u"),
                      *(sa.func.sum(c[name]).label(name) for name in _CASE_COUNTS))
            .where(first >= lo, first <= hi))
    for col, value in ((c.section, section), (c.window_no, window), (c.staff_no, staff_no)):
        if value is not None:
            stmt = stmt.where(col == value)
    if not include_misuse:
        stmt = stmt.where(c.misuse == sa.false())
    stmt = stmt.group_by(key, c.level) if group_by else stmt.group_by(c.level)
    return conn.execute(stmt)


def query(conn: Connection, from_: date, to: date, *, section: str | None = None,
          window: str | None = None, staff_no: str | None = None, group_by: str | None = None,
          include_misuse: bool = False, now: datetime | None = None) -> dict[str, Any]:
    """The stats document for the inclusive local-date range ``from_``..``to``.

    Whole months are read from ``rollup_monthly`` (unless grouping by day), the
    days around them from ``rollup_daily``; ``overdue`` (which moves with the clock)
    is counted from the cases at ``now``.
    """
    from .cases import overdue_counts
    if group_by == "day":
        day_ranges, months = [(from_, to)], None
    else:
        day_ranges, months = split_range(from_, to)
    parts = [(rollup_daily, rollup_daily.c.day, lo, hi) for lo, hi in day_ranges]
    if months:
        parts.append((rollup_monthly, rollup_monthly.c.month, months[0], months[1]))
    total = _empty()
    groups: dict[str, dict[str, Any]] = {}
    for table, first, lo, hi in parts:
        for row in _cells(conn, table, first, lo, hi, section=section, window=window, staff_no=staff_no,
                          group_by=group_by, include_misuse=include_misuse):
            n, u = int(row.n or 0), int(row.u or 0)
            more = tuple(int(getattr(row, name) or 0) for name in _CASE_COUNTS)
            _add(total, row.level, n, u, more)
            if group_by:
                k = row.key.isoformat() if isinstance(row.key, date) else str(row.key)
                _add(groups.setdefault(k, _empty()), row.level, n, u, more)
    late = overdue_counts(conn, from_, to, now=now or utcnow(), key=group_by, section=section, window=window,
                          staff_no=staff_no)
    total["overdue"] = sum(late.values())
    for k, n in late.items():
        if k in groups:
            groups[k]["overdue"] = n
    out_groups = []
    for k in sorted(groups):
        g = _finish(groups[k])
        if g["count"] or g["unrated"]:
            out_groups.append({"key": k, **g})
    return {"from": from_.isoformat(), "to": to.isoformat(), "total": _finish(total), "groups": out_groups}


def naive_query(conn: Connection, from_: date, to: date, *, group_by: str | None = None,
                include_misuse: bool = False) -> dict[str, Any]:
    """The same counts by GROUP BY over the raw ratings table (the benchmark's baseline;
    ignores invalid cases and unrated, so it does less than :func:`query`)."""
    c = ratings.c
    col = {"section": c.section, "window": c.window_no, "staff": c.staff_no, "day": c.day}
    key = col[group_by] if group_by else sa.literal("")
    stmt = sa.select(key.label("key"), c.satisfaction, sa.func.count().label("n")).where(
        c.day >= from_, c.day <= to)
    if not include_misuse:
        stmt = stmt.where(c.misuse == sa.false())
    stmt = stmt.group_by(key, c.satisfaction)
    total = _empty()
    for row in conn.execute(stmt):
        _add(total, row.satisfaction, int(row.n), 0)
    return _finish(total)


# --- ratings listing ------------------------------------------------------------------

RATING_COLUMNS = ("id", "rated_at", "day", "device_id", "section", "window_no", "staff_no", "staff_name",
                  "satisfaction", "level", "misuse", "source", "channel", "project_no", "ticket_no",
                  "reasons", "comment", "phone", "case_id", "case_state",
                  "assess_number", "task_code", "task_name", "dept_code", "dept_name", "user_name", "user_prop",
                  "accept_date", "promise_date")


def mask_name(name: str | None) -> str | None:
    """申请人 shown to those who may not see personal data: the first character, then ``*``."""
    if not name:
        return name
    return name[0] + "*" * min(len(name) - 1, 3) if len(name) > 1 else "*"


def list_ratings(conn: Connection, from_: date | None, to: date | None, *, section=None, window=None,
                 staff_no=None, satisfaction=None, include_misuse=True, limit=100, offset=0,
                 show_phone=False) -> tuple[int, list[dict[str, Any]]]:
    """A page of ratings (newest first) with reasons, comment, phone (masked unless
    ``show_phone``) and case state."""
    c = ratings.c
    where = []
    if from_ is not None:
        where.append(c.day >= from_)
    if to is not None:
        where.append(c.day <= to)
    for col, value in ((c.section, section), (c.window_no, window), (c.staff_no, staff_no),
                       (c.satisfaction, satisfaction)):
        if value is not None:
            where.append(col == value)
    if not include_misuse:
        where.append(c.misuse == sa.false())
    total = conn.execute(sa.select(sa.func.count()).select_from(ratings).where(*where)).scalar_one()
    stmt = (sa.select(ratings, cases.c.id.label("case_id"), cases.c.state.label("case_state"))
            .select_from(ratings.outerjoin(cases, cases.c.rating_id == c.event_id))
            .where(*where).order_by(c.rated_at.desc(), c.event_id).limit(limit).offset(offset))
    rows = conn.execute(stmt).all()
    details: dict[str, Any] = {}
    if rows:
        for detail in conn.execute(sa.select(rating_details)
                                   .where(rating_details.c.rating_id.in_([r.event_id for r in rows]))
                                   .order_by(rating_details.c.created_at)):
            details[detail.rating_id] = detail
    out = []
    for r in rows:
        d = details.get(r.event_id)
        phone = d.phone if d is not None else None
        out.append({
            "id": r.event_id, "rated_at": rfc3339(r.rated_at),
            "day": r.day.isoformat(), "device_id": r.device_id, "section": r.section,
            "window_no": r.window_no, "staff_no": r.staff_no, "staff_name": r.staff_name,
            "satisfaction": r.satisfaction, "level": Level.from_wire(r.satisfaction).zh,
            "misuse": bool(r.misuse), "source": r.source, "channel": r.channel,
            "project_no": r.project_no, "ticket_no": r.ticket_no,
            "reasons": json.loads(d.reasons) if d is not None else [],
            "comment": d.comment if d is not None else None,
            "phone": phone if show_phone else mask_phone(phone),
            "case_id": r.case_id, "case_state": r.case_state,
            "claimed_window_no": r.claimed_window_no, "claimed_section": r.claimed_section,
            "staff_flagged": bool(r.staff_flagged),
            "assess_number": r.assess_number, "task_code": r.task_code, "task_name": r.task_name,
            "dept_code": r.dept_code, "dept_name": r.dept_name,
            "user_name": r.user_name if show_phone else mask_name(r.user_name), "user_prop": r.user_prop,
            "accept_date": r.accept_date, "promise_date": r.promise_date,
        })
    return total, out
