"""Statistics (docs/api.md, ``GET /api/v1/stats``) and the ratings listing.

Aggregates are read from ``rollup_daily``, ``rollup_monthly`` and
``rollup_sections``, which ingest and case transitions keep exact in their own
transactions; the query cost depends on the number of (day or month, section,
window, staff, level) cells, not on the number of ratings.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from kiosk.events import SOURCES as DEVICE_SOURCES
from kiosk.events import mask_phone  # noqa: F401  (one masking rule; cases.py uses it from here)
from kiosk.levels import BAD_WIRE, Level

from .auth import utcnow
from .db import (
    BAD_CELLS,
    cases,
    is_sqlite,
    rating_details,
    ratings,
    rollup_daily,
    rollup_monthly,
    rollup_sections,
    rollup_slots,
    rollup_slots_hall,
)
from .timefmt import rfc3339
from .workflow import CAN_BE_OVERDUE, RECTIFIED, UNRECTIFIED

#: The Chinese and English name of each device input (kiosk.events.SOURCES) …
_DEVICE_LABELS = {
    "touch": ("评价器·触摸屏", "Device, touch screen"), "gpio": ("评价器·按键", "Device, buttons"),
    "serial": ("评价器·串口", "Device, serial"), "keyboard": ("评价器·键盘", "Device, keyboard"),
    "api": ("评价器·本地接口", "Device, local API"), "console": ("评价器·控制台", "Device, console"),
    "simulated": ("模拟", "Simulated"),
}
#: … and of the channels staff, citizens' phones and other systems bring in.
CHANNEL_LABELS = {
    "paper": ("纸质评价表", "Paper form"), "phone": ("电话", "Phone"), "counter": ("办不成事窗口", "办不成事 window"),
    "qr": ("扫码", "QR code"), "sms": ("短信", "SMS"), "app": ("APP", "App"),
}
#: Every rating ``source`` with its labels: the devices' inputs first, then the channels.
SOURCE_LABELS: dict[str, tuple[str, str]] = {
    **{s: _DEVICE_LABELS.get(s, (f"评价器·{s}", f"Device, {s}")) for s in DEVICE_SOURCES}, **CHANNEL_LABELS}
ALL_SOURCES = tuple(SOURCE_LABELS)


class UnknownSource(ValueError):
    pass


def parse_sources(value: str | None) -> tuple[str, ...] | None:
    """``"paper,qr"`` → ``("paper", "qr")``; empty → None (every source); an unknown
    name raises :class:`UnknownSource` with a message naming the field."""
    names = tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))
    bad = [n for n in names if n not in SOURCE_LABELS]
    if bad:
        raise UnknownSource(f"source: unknown value {bad[0]!r}; expected one or a comma list of "
                            + ", ".join(ALL_SOURCES))
    return names or None


def source_label(source: str, lang: str = "zh") -> str:
    zh, en = SOURCE_LABELS.get(source, (source, source))
    return en if lang == "en" else zh


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
    key: sa.ColumnElement[Any] | None = {"section": c.section, "window": c.get("window_no"),
                                         "staff": c.get("staff_no"), "day": first}.get(group_by)
    key = key if key is not None else sa.literal("")
    stmt = (sa.select(key.label("key"), c.level, sa.func.sum(c.count).label("n"),
                      sa.func.sum(c.unrectified).label("u"),
                      *(sa.func.sum(c[name]).label(name) for name in _CASE_COUNTS))
            .where(first >= lo, first <= hi))
    stmt = _filtered(stmt, c, section=section, window=window, staff_no=staff_no, source=None,
                     include_misuse=include_misuse)
    stmt = stmt.group_by(key, c.level) if group_by else stmt.group_by(c.level)
    return conn.execute(stmt).all()


def query(conn: Connection, from_: date, to: date, *, section: str | None = None,
          window: str | None = None, staff_no: str | None = None, group_by: str | None = None,
          include_misuse: bool = False, now: datetime | None = None,
          source: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The stats document for the inclusive local-date range ``from_``..``to``.

    Whole months are read from ``rollup_monthly`` (unless grouping by day), the
    days around them from ``rollup_daily`` (``rollup_sections`` when no window or
    staff is asked for); ``overdue`` (which moves with the clock)
    is counted from the cases at ``now``. The rollups hold no source, so a
    ``source`` filter or ``group_by="source"`` counts the ratings and their cases
    directly (:func:`_source_query`), by the same rules.
    """
    from .cases import overdue_counts
    if source or group_by == "source":
        return _source_query(conn, from_, to, section=section, window=window, staff_no=staff_no,
                             group_by=group_by, include_misuse=include_misuse, now=now or utcnow(),
                             source=source)
    if group_by == "day":
        day_ranges, months = [(from_, to)], None
    else:
        day_ranges, months = split_range(from_, to)
    # the hall, its sections and its days need no window or staff: the per-section cells
    daily = rollup_sections if window is None and staff_no is None and group_by in (None, "section", "day") \
        else rollup_daily
    parts = [(daily, daily.c.day, lo, hi) for lo, hi in day_ranges]
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
    return _document(from_, to, total, groups)


def bad_by_window_and_staff(conn: Connection, periods: dict[str, tuple[date, date]], *,
                            section: str | None = None, window: str | None = None, staff_no: str | None = None,
                            include_misuse: bool = False) -> dict[str, dict[str, dict[str, int]]]:
    """The valid 差评 of each named period (inclusive local dates) by window and by
    staff, ``{period: {"window": {window_no: n}, "staff": {staff_no: n}}}``: the
    ``bad`` of :func:`query` with ``group_by="window"`` / ``"staff"``, read from
    ``rollup_daily`` in one pass over all the periods."""
    c = rollup_daily.c
    which = sa.case(*((sa.and_(c.day >= lo, c.day <= hi), sa.literal(name)) for name, (lo, hi) in periods.items()),
                    else_=sa.null())
    stmt = (sa.select(which.label("period"), c.window_no, c.staff_no, sa.func.sum(c.count).label("n"))
            .where(c.day >= min(lo for lo, _ in periods.values()), c.day <= max(hi for _, hi in periods.values())))
    if include_misuse:
        stmt = stmt.where(c.level.in_(sorted(BAD_WIRE)))
    else:  # the partial index's own words, so that the planner takes it
        stmt = stmt.where(sa.text(BAD_CELLS[conn.dialect.name]))
    stmt = _filtered(stmt, c, section=section, window=window, staff_no=staff_no, source=None, include_misuse=True)
    out: dict[str, dict[str, dict[str, int]]] = {name: {"window": {}, "staff": {}} for name in periods}
    for row in conn.execute(stmt.group_by(which, c.window_no, c.staff_no)).all():
        if row.period is None or not row.n:
            continue
        for key, value in (("window", row.window_no), ("staff", row.staff_no)):
            got = out[row.period][key]
            got[value] = got.get(value, 0) + int(row.n)
    return out


def _document(from_: date, to: date, total: dict[str, Any], groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out_groups = []
    for k in sorted(groups):
        g = _finish(groups[k])
        if g["count"] or g["unrated"]:
            out_groups.append({"key": k, **g})
    return {"from": from_.isoformat(), "to": to.isoformat(), "total": _finish(total), "groups": out_groups}


def _count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _source_query(conn: Connection, from_: date, to: date, *, section, window, staff_no, group_by,
                  include_misuse, now: datetime, source) -> dict[str, Any]:
    """:func:`query` from the ratings joined to their cases: a rating whose case is
    invalid is not counted, unrectified / rectified / phoned / reached / overdue
    come from its case's state, as the rollups keep them. Unrated prompts carry no
    source and are not counted here."""
    r, k = ratings.c, cases.c
    col = {"section": r.section, "window": r.window_no, "staff": r.staff_no, "day": r.day,
           "source": r.source}.get(group_by or "")
    key = col if col is not None else sa.literal("")
    stmt = (sa.select(key.label("key"), r.satisfaction.label("level"), sa.func.count().label("n"),
                      _count_if(k.state.in_(UNRECTIFIED)).label("u"),
                      _count_if(k.state.in_(RECTIFIED)).label("rectified"),
                      _count_if(k.has_phone == sa.true()).label("phoned"),
                      _count_if(sa.and_(k.has_phone == sa.true(), k.reached == sa.true())).label("reached"),
                      _count_if(sa.and_(k.state.in_(CAN_BE_OVERDUE), k.deadline < now)).label("late"))
            .select_from(ratings.outerjoin(cases, k.rating_id == r.event_id))
            .where(r.day >= from_, r.day <= to, sa.or_(k.state.is_(None), k.state != "invalid")))
    stmt = _filtered(stmt, r, section=section, window=window, staff_no=staff_no, source=source,
                     include_misuse=include_misuse)
    total = _empty()
    groups: dict[str, dict[str, Any]] = {}
    for row in conn.execute(stmt.group_by(key, r.satisfaction)):
        n, u = int(row.n or 0), int(row.u or 0)
        more = tuple(int(getattr(row, name) or 0) for name in _CASE_COUNTS)
        accs = [total]
        if group_by:
            accs.append(groups.setdefault(row.key.isoformat() if isinstance(row.key, date) else str(row.key),
                                          _empty()))
        for acc in accs:
            _add(acc, row.level, n, u, more)
            acc["overdue"] += int(row.late or 0)
    return _document(from_, to, total, groups)


def _filtered(stmt, c, *, section, window, staff_no, source, include_misuse):
    for name, value in (("section", section), ("window_no", window), ("staff_no", staff_no)):
        if value is not None:
            stmt = stmt.where(c[name] == value)
    if source:
        stmt = stmt.where(c.source.in_(source))
    if not include_misuse:
        stmt = stmt.where(c.misuse == sa.false())
    return stmt


def heatmap(conn: Connection, from_: date, to: date, tz: ZoneInfo, *, section: str | None = None,
            window: str | None = None, staff_no: str | None = None, source: tuple[str, ...] | None = None,
            include_misuse: bool = False) -> list[list[int]]:
    """Ratings of the days ``from_``..``to`` by weekday (0 = Monday) and hour, both in
    the server timezone ``tz``: counted per UTC half hour (whole- and half-hour UTC
    offsets fall on them), each then placed at its local weekday and hour. The half
    hours come from ``rollup_slots`` (``rollup_slots_hall`` without a section, window or
    staff filter); the rollups hold no source, so with a ``source``
    filter the ratings are counted per UTC ten minutes directly."""
    grid = [[0] * 24 for _ in range(7)]
    if not source:
        whole = section is None and window is None and staff_no is None
        s = (rollup_slots_hall if whole else rollup_slots).c
        stmt = sa.select(s.slot, sa.func.sum(s.count).label("n")).where(s.day >= from_, s.day <= to)
        stmt = stmt.where(s.misuse == sa.false()) if not include_misuse else stmt
        if not whole:
            stmt = _filtered(stmt, s, section=section, window=window, staff_no=staff_no, source=None,
                             include_misuse=True)
        for slot, n in conn.execute(stmt.group_by(s.slot)).all():
            t = tz.fromutc(slot.replace(tzinfo=tz))
            grid[t.weekday()][t.hour] += int(n)
        return grid
    c = ratings.c
    if is_sqlite(conn):  # "YYYY-MM-DD HH:M" of the stored text: ten minutes, no date arithmetic per row
        bucket: sa.ColumnElement[Any] = sa.func.substr(c.rated_at, 1, 15)
    else:
        bucket = sa.func.floor(sa.extract("epoch", c.rated_at) / 600)
    stmt = _filtered(sa.select(bucket.label("q"), sa.func.count().label("n"))
                     .where(c.day >= from_, c.day <= to), c, section=section, window=window,
                     staff_no=staff_no, source=source, include_misuse=include_misuse)
    for row in conn.execute(stmt.group_by(bucket)):
        if isinstance(row.q, str):
            t = datetime.fromisoformat(row.q + "0").replace(tzinfo=UTC).astimezone(tz)
        else:
            t = datetime.fromtimestamp(int(row.q) * 600, UTC).astimezone(tz)
        grid[t.weekday()][t.hour] += int(row.n)
    return grid


def staff_names(conn: Connection, staff_nos: list[str], from_: date, to: date) -> dict[str, str]:
    """The name of each staff number: the roster's (``kiosk admin`` / ``PUT
    /api/v1/staff``), else the latest name it was rated under in the range (one
    short walk of ``ix_ratings_staff_named`` per number, newest day first), all in
    one statement."""
    wanted = list(dict.fromkeys(no for no in staff_nos if no))
    if not wanted:
        return {}
    rows = ", ".join(f"(:no{i})" for i in range(len(wanted)))
    stmt = sa.text(f"""
        WITH wanted(no) AS (VALUES {rows})
        SELECT wanted.no, COALESCE(NULLIF(staff.name, ''), (
            SELECT r.staff_name FROM ratings r
            WHERE r.staff_no = wanted.no AND r.day >= :lo AND r.day <= :hi AND r.staff_name <> ''
            ORDER BY r.day DESC LIMIT 1)) AS name
        FROM wanted LEFT JOIN staff ON staff.staff_no = wanted.no
    """).bindparams(sa.bindparam("lo", from_, type_=sa.Date), sa.bindparam("hi", to, type_=sa.Date),
                    *(sa.bindparam(f"no{i}", no, type_=sa.Text) for i, no in enumerate(wanted)))
    return {no: name for no, name in conn.execute(stmt).all() if name}


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
                 show_phone=False, source: tuple[str, ...] | None = None) -> tuple[int, list[dict[str, Any]]]:
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
    if source:
        where.append(c.source.in_(source))
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
