"""The public hall board: per section, today / this month / this year; no personal data."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ... import stats as stats_mod
from ...api import deps
from ...auth import utcnow
from .common import render, to_login, today, user_of

router = APIRouter(include_in_schema=False)


@router.get("/board")
def board(request: Request):
    settings = deps.get_settings(request)
    if not settings.public_stats and user_of(request) is None:
        return to_login(request)
    period = request.query_params.get("period", "month")
    if period not in ("today", "month", "year"):
        period = "month"
    to = today(request)
    from_ = {"today": to, "month": to.replace(day=1), "year": to.replace(month=1, day=1)}[period]
    with deps.get_engine(request).connect() as conn:
        doc = stats_mod.query(conn, from_, to, group_by="section")
    return render(request, "board.html", user=None, doc=doc, period=period, from_=from_, to=to,
                  refresh=int(settings.web.board_refresh_seconds), now=utcnow())
