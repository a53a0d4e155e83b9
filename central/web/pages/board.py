"""The public hall board: the hall total, then per section, per window (and per
工号 when ``[web] board_show_staff``), for today / this month / this year; no
personal data. The page is loaded once; ``/static/board.js`` fetches
``/board.json`` (with the page's own query) every ``[web] board_refresh_seconds``
and rotates the pages. ``?source=qr,paper`` counts only those sources, by
:func:`central.stats.query` as ``GET /api/v1/stats?source=`` does; without it the
figures come from the rollups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kiosk.levels import LEVELS

from ... import stats as stats_mod
from ...api import deps
from ...api.errors import error
from .. import i18n
from .common import render, to_login, today, user_of
from .overview import page_sources

router = APIRouter(include_in_schema=False)
PERIODS = ("today", "month", "year")
ROW_FIELDS = ("count", "levels", "bad", "bad_unrectified", "good_rate", "rectify_rate")


def _number(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    try:
        value = float(request.query_params.get(name, default))
    except ValueError:
        return default
    return min(max(value, lo), hi) if value == value else default


def _labels(lang: str) -> dict[str, Any]:
    _ = i18n.translator(lang)
    return {"count": _("评价数", "Ratings"), "bad": _("差评数", "Bad"),
            "bad_unrectified": _("差评未整改数", "Bad, not rectified"), "good_rate": _("好评率", "Good rate"),
            "rectify_rate": _("差评整改率", "Rectified rate"),
            "levels": {str(lv.wire): lv.en if lang == "en" else lv.zh for lv in LEVELS},
            "total": _("全厅合计", "Whole hall"), "section": _("各版块", "By section"),
            "window": _("各窗口", "By window"), "staff": _("各工号", "By staff number"),
            "key_section": _("版块", "Section"), "key_window": _("窗口", "Window"),
            "key_staff": _("工号", "Staff no."), "none": _("暂无评价", "No ratings yet"),
            "updated": _("数据更新于", "Figures of"), "offline": _("连接中断", "Connection lost"),
            "unassigned": _("未设置", "Not set")}


def _row(key: str, g: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, **{f: g[f] for f in ROW_FIELDS}}


def board_doc(request: Request, source: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The figures of the board: its pages in the order shown, each with its rows;
    ``source`` (the parsed ``?source=``) counts only those sources."""
    settings = deps.get_settings(request)
    period = request.query_params.get("period", "month")
    period = period if period in PERIODS else "month"
    to = today(request)
    from_ = {"today": to, "month": to.replace(day=1), "year": to.replace(month=1, day=1)}[period]
    rows = int(_number(request, "rows", settings.web.board_rows, 1, 50))
    kinds = ["section", "window"] + (["staff"] if settings.web.board_show_staff else [])
    pages: list[dict[str, Any]] = []
    with deps.get_engine(request).connect() as conn:
        total = stats_mod.query(conn, from_, to, source=source)["total"]
        pages.append({"kind": "total", "rows": [_row("", total)], "n": 1, "of": 1})
        for kind in kinds:
            groups = [_row(g["key"], g)
                      for g in stats_mod.query(conn, from_, to, group_by=kind, source=source)["groups"]
                      if g["count"]]
            chunks = [groups[i:i + rows] for i in range(0, len(groups), rows)] or [[]]
            pages += [{"kind": kind, "rows": chunk, "n": i + 1, "of": len(chunks)} for i, chunk in enumerate(chunks)]
    now = datetime.now(UTC).astimezone(settings.tz)
    return {"period": period, "from": from_.isoformat(), "to": to.isoformat(), "updated": now.strftime("%H:%M"),
            "source": list(source) if source else None, "pages": pages}


def _public(request: Request) -> bool:
    return deps.get_settings(request).public_stats or user_of(request) is not None


@router.get("/board.json")
def board_json(request: Request):
    if not _public(request):
        return JSONResponse({"detail": "login required ([server] public_stats = false)"}, status_code=401)
    source, source_error = page_sources(request)
    if source_error:
        return error(400, source_error)
    return JSONResponse(board_doc(request, source), headers={"Cache-Control": "no-store"})


@router.get("/board")
def board(request: Request):
    if not _public(request):
        return to_login(request)
    settings = deps.get_settings(request)
    lang, _ = i18n.pick(request)
    source, source_error = page_sources(request)
    doc = board_doc(request, source)
    tv = request.query_params.get("tv", "1") != "0"
    # an unknown source shows every source, says so, and is not sent on to /board.json (a 400 there)
    query = {k: v for k, v in request.query_params.items() if not (k == "source" and source_error)}
    config = {"refresh": settings.web.board_refresh_seconds,
              "interval": _number(request, "interval", settings.web.board_rotate_seconds, 1, 3600),
              "timezone": settings.timezone, "lang": lang, "labels": _labels(lang),
              "query": urlencode(query)}
    return render(request, "board.html", user=None, doc=doc, config=config, tv=tv,
                  hall_name=settings.hall_name, period=doc["period"], source_error=source_error,
                  source_names=[stats_mod.source_label(s, lang) for s in source or ()],
                  source_qs=urlencode({"source": ",".join(source)}) if source else "")
