"""The supervisors' overview: totals, groups and the daily trend."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from ... import stats as stats_mod
from ...api import deps
from .common import date_range, filters, render, sections, to_login, user_of

router = APIRouter(include_in_schema=False)


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
    return out


@router.get("/overview")
def overview(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    from_, to, error = date_range(request)
    f = filters(request)
    q = request.query_params
    group_by = q.get("group_by") if q.get("group_by") in ("section", "window", "staff") else "section"
    include_misuse = q.get("include_misuse") == "1"
    with deps.get_engine(request).connect() as conn:
        doc = stats_mod.query(conn, from_, to, group_by=group_by, include_misuse=include_misuse, **f)
        by_day = stats_mod.query(conn, from_, to, group_by="day", include_misuse=include_misuse, **f)
        all_sections = sections(conn)
    params = {"from": from_.isoformat(), "to": to.isoformat(),
              **{k: v for k, v in f.items() if v}, "include_misuse": "1" if include_misuse else "0"}
    return render(request, "overview.html", user=user, doc=doc, by_day=by_day, group_by=group_by,
                  include_misuse=include_misuse, from_=from_, to=to, f=f, sections=all_sections,
                  trend=trend(by_day, from_, to), error=error, export_qs=urlencode(params),
                  export_group_qs=urlencode({**params, "group_by": group_by}))
