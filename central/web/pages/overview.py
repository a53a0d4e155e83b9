"""The supervisors' overview: the KPIs against the previous period, what needs
attention (需关注), the groups, the daily trend and the hour-by-weekday heat map."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request

from ... import stats as stats_mod
from ...api import deps
from ...auth import utcnow
from ...db import cases, devices, ratings
from ...workflow import CAN_BE_OVERDUE
from .common import date_range, filter_params, filters, render, sections, to_login, user_of
from .devices import device_row

router = APIRouter(include_in_schema=False)

#: The KPIs: stats field, Chinese and English label, rate or count, and which way is
#: better (+1 up, -1 down, 0 neither).
KPIS = (("count", "评价数", "Ratings", False, 0), ("good_rate", "好评率", "Good rate", True, 1),
        ("bad", "差评数", "Bad", False, -1), ("bad_unrectified", "差评未整改数", "Bad, not rectified", False, -1),
        ("overdue", "超期未整改", "Overdue", False, -1), ("rectify_rate", "整改率", "Rectified rate", True, 1))
#: The query parameter that filters the ratings and cases by a group's key.
GROUP_PARAM = {"section": "section", "window": "window", "staff": "staff_no", "source": "source"}
ATTENTION_ROWS = 10
#: A device whose oldest event waits longer than this is in trouble.
BACKLOG_SECONDS = 3600


def page_sources(request: Request) -> tuple[tuple[str, ...] | None, str | None]:
    """The ``source`` filter of a page, or the message saying which value is unknown."""
    try:
        return stats_mod.parse_sources(request.query_params.get("source")), None
    except stats_mod.UnknownSource as e:
        return None, str(e)


def previous_period(from_: date, to: date) -> tuple[date, date]:
    """The period of equal length just before ``from_``..``to``."""
    n = (to - from_).days + 1
    return from_ - timedelta(days=n), from_ - timedelta(days=1)


def kpis(cur: dict[str, Any], prev: dict[str, Any]) -> list[dict[str, Any]]:
    """Each KPI with its previous value and the change (rates in percentage points)."""
    out = []
    for key, zh, en, is_rate, better in KPIS:
        v, p = cur[key], prev[key]
        delta = None if v is None or p is None else (round((v - p) * 100, 2) if is_rate else v - p)
        way = "same" if not delta else ("up" if delta > 0 else "down")
        tone = "neutral" if way == "same" or not better else ("good" if (way == "up") == (better > 0) else "bad")
        out.append({"key": key, "zh": zh, "en": en, "rate": is_rate, "value": v, "prev": p, "delta": delta,
                    "way": way, "tone": tone})
    return out


def rising(cur: dict[str, int], prev: dict[str, int]) -> list[dict[str, Any]]:
    """Groups with more 差评 this period than the previous one (``{key: 差评}`` of
    each), the largest rise first."""
    up = sorted((prev.get(k, 0) - n, k, n) for k, n in cur.items() if k and n > prev.get(k, 0))
    return [{"key": k, "bad": n, "prev": n + d} for d, k, n in up[:ATTENTION_ROWS]]


def bad_counts(conn, cur: tuple[date, date], prev: tuple[date, date], f: dict[str, Any],
               include_misuse: bool) -> dict[str, dict[str, dict[str, int]]]:
    """差评 by window and by staff in the current and the previous period: one read
    of the daily rollup, or (with a source filter, which the rollups do not hold)
    the stats documents counted from the ratings."""
    if not f.get("source"):
        return stats_mod.bad_by_window_and_staff(
            conn, {"cur": cur, "prev": prev}, section=f["section"], window=f["window"], staff_no=f["staff_no"],
            include_misuse=include_misuse)
    return {period: {g: {x["key"]: x["bad"] for x in stats_mod.query(conn, lo, hi, group_by=g,
                                                                      include_misuse=include_misuse, **f)["groups"]}
                     for g in ("window", "staff")}
            for period, (lo, hi) in (("cur", cur), ("prev", prev))}


def overdue_cases(conn, f: dict[str, Any]) -> tuple[int, list[Any]]:
    """The cases past their deadline now, the longest overdue first, each with its
    rating's source (and only those of ``f["source"]`` when it is set)."""
    c = cases.c
    where = [c.state.in_(CAN_BE_OVERDUE), c.deadline < utcnow()]
    for col, value in ((c.section, f["section"]), (c.window_no, f["window"]), (c.staff_no, f["staff_no"])):
        if value is not None:
            where.append(col == value)
    joined = cases.outerjoin(ratings, ratings.c.event_id == c.rating_id)
    if f.get("source"):
        where.append(ratings.c.source.in_(f["source"]))
    n = conn.execute(sa.select(sa.func.count()).select_from(joined if f.get("source") else cases)
                     .where(*where)).scalar_one()
    rows = conn.execute(sa.select(c.id, c.section, c.window_no, c.staff_no, c.deadline, c.state, ratings.c.source)
                        .select_from(joined).where(*where).order_by(c.deadline, c.id).limit(ATTENTION_ROWS)).all()
    return n, rows


def troubled_devices(conn, request: Request) -> list[dict[str, Any]]:
    """Devices offline, never seen, faulty (stuck buttons, rejected events, sync
    stopped) or with a backlog older than an hour."""
    settings = deps.get_settings(request)
    stale = timedelta(seconds=3 * settings.web.heartbeat_interval_seconds)
    now = utcnow()
    out = []
    for r in conn.execute(sa.select(devices).order_by(devices.c.section, devices.c.window_no,
                                                      devices.c.device_id)):
        d = device_row(r, now, stale)
        backlog = (d["state"].get("oldest_pending_age_seconds") or 0) > BACKLOG_SECONDS
        if d["status"] in ("faulty", "stale", "never") or (d["status"] == "ok" and backlog):
            out.append({**d, "backlog": backlog})
    return out


def attention(conn, request: Request, cur_from: date, to: date, f: dict[str, Any],
              include_misuse: bool) -> dict[str, Any]:
    """需关注: windows and staff with rising 差评, overdue cases, devices in trouble."""
    p_from, p_to = previous_period(cur_from, to)
    bad = bad_counts(conn, (cur_from, to), (p_from, p_to), f, include_misuse)
    out: dict[str, Any] = {}
    for group_by in ("window", "staff"):
        out[group_by] = rising(bad["cur"][group_by], bad["prev"][group_by])
    out["names"] = stats_mod.staff_names(conn, [g["key"] for g in out["staff"]], p_from, to)
    out["overdue_total"], out["overdue"] = overdue_cases(conn, f)
    out["devices"] = troubled_devices(conn, request)
    return out


def trend(by_day: dict[str, Any], from_: date, to: date) -> dict[str, Any]:
    """One value a day from ``from_`` to ``to`` (0 / null on days without ratings), for the chart."""
    days = {g["key"]: g for g in by_day["groups"]}
    out: dict[str, Any] = {"days": [], "levels": {k: [] for k in ("5", "4", "3", "2", "1")},
                           "good_rate": [], "unrated": []}
    d = from_
    while d <= to:
        g = days.get(d.isoformat())
        out["days"].append(d.isoformat())
        for k in out["levels"]:
            out["levels"][k].append(g["levels"][k] if g else 0)
        out["good_rate"].append(None if not g or g["good_rate"] is None else round(g["good_rate"] * 100, 2))
        out["unrated"].append(g["unrated"] if g else 0)
        d += timedelta(days=1)
    rates = [v for v in out["good_rate"] if v is not None]
    # the 好评率 axis zoomed to the data: 5-point steps around the lowest and highest day
    out["rate_min"] = max(0, int(min(rates) // 5 * 5) - 5) if rates else 0
    out["rate_max"] = min(100, int(-(-max(rates) // 5) * 5)) if rates else 100
    return out


@router.get("/overview")
def overview(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    from_, to, error = date_range(request)
    source, source_error = page_sources(request)
    f = {**filters(request), "source": source}
    q = request.query_params
    asked = q.get("group_by") or ""
    group_by = asked if asked in GROUP_PARAM else "section"
    include_misuse = q.get("include_misuse") == "1"
    p_from, p_to = previous_period(from_, to)
    tz = deps.get_settings(request).tz
    with deps.get_engine(request).connect() as conn:
        doc = stats_mod.query(conn, from_, to, group_by=group_by, include_misuse=include_misuse, **f)
        prev = stats_mod.query(conn, p_from, p_to, include_misuse=include_misuse, **f)
        by_day = stats_mod.query(conn, from_, to, group_by="day", include_misuse=include_misuse, **f)
        names = stats_mod.staff_names(conn, [g["key"] for g in doc["groups"]], from_, to) \
            if group_by == "staff" else {}
        heat = stats_mod.heatmap(conn, from_, to, tz, include_misuse=include_misuse, **f)
        need = attention(conn, request, from_, to, f, include_misuse)
        all_sections = sections(conn)
    params = {"from": from_.isoformat(), "to": to.isoformat(), **filter_params(f),
              "include_misuse": "1" if include_misuse else "0"}
    return render(request, "overview.html", user=user, doc=doc, prev=prev, p_from=p_from, p_to=p_to,
                  kpis=kpis(doc["total"], prev["total"]), by_day=by_day, group_by=group_by,
                  group_param=GROUP_PARAM[group_by], names=names, heat=heat, need=need,
                  include_misuse=include_misuse, from_=from_, to=to, f=f, sections=all_sections,
                  sources=stats_mod.SOURCE_LABELS, source=source or (), source_label=stats_mod.source_label,
                  trend=trend(by_day, from_, to), error=error, source_error=source_error,
                  export_qs=urlencode(params), export_group_qs=urlencode({**params, "group_by": group_by}),
                  range_qs=urlencode({"from": from_.isoformat(), "to": to.isoformat()}),
                  source_qs=urlencode({"source": ",".join(source)}) if source else "")
