"""The downloads: ratings and statistics as CSV or XLSX, the national-interface JSON.

A logged-in user (cookie) or a bearer session token; the statistics follow
``[server] public_stats`` like ``GET /api/v1/stats``."""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from ... import stats as stats_mod
from ...api import deps
from .. import exports
from .common import date_range, filters, opt

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_args(request: Request, misuse_default: bool):
    """Filters of an export; misuse-flagged ratings are listed by default (flagged, like
    ``GET /api/v1/ratings``) but left out of statistics (like ``GET /api/v1/stats``). An
    unknown ``source`` is answered with 400."""
    from_, to, _err = date_range(request)
    q = request.query_params
    sat = q.get("satisfaction")
    misuse = {"1": True, "true": True, "0": False, "false": False}.get(q.get("include_misuse", ""),
                                                                      misuse_default)
    try:
        f = {**filters(request), "source": stats_mod.parse_sources(q.get("source"))}
    except stats_mod.UnknownSource as e:
        raise HTTPException(400, str(e)) from None
    return from_, to, f, int(sat) if sat in ("1", "2", "3", "4", "5") else None, misuse


def download(body: bytes, media: str, name: str, truncated: bool = False) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if truncated:
        headers["X-Export-Truncated"] = f"at most {exports.MAX_ROWS} rows"
    return Response(body, media_type=media, headers=headers)


@router.get("/export/ratings.{fmt}")
def export_ratings(request: Request, fmt: str):
    user = deps.current_user(request)
    if user is None:
        return JSONResponse({"error": "log in first"}, status_code=401)
    if fmt not in ("csv", "xlsx"):
        return JSONResponse({"error": "format: csv or xlsx"}, status_code=404)
    from_, to, f, sat, include_misuse = export_args(request, True)
    with deps.get_engine(request).connect() as conn:
        total, rows = stats_mod.list_ratings(conn, from_, to, satisfaction=sat, include_misuse=include_misuse,
                                             limit=exports.MAX_ROWS, offset=0,
                                             show_phone=user.may("see_phone"), **f)
    table = exports.rating_rows(rows, deps.get_settings(request).tz)
    name = f"ratings_{from_}_{to}.{fmt}"
    if fmt == "csv":
        return download(exports.to_csv(exports.rating_header(), table), "text/csv; charset=utf-8", name,
                        total > len(rows))
    return download(exports.to_xlsx("ratings", exports.rating_header(), table,
                                    note=f"{from_} .. {to}, {len(rows)} of {total} ratings"),
                    XLSX, name, total > len(rows))


@router.get("/export/stats.{fmt}")
def export_stats(request: Request, fmt: str):
    user = deps.current_user(request)
    if user is None and not deps.get_settings(request).public_stats:
        return JSONResponse({"error": "log in first"}, status_code=401)
    if fmt not in ("csv", "xlsx"):
        return JSONResponse({"error": "format: csv or xlsx"}, status_code=404)
    from_, to, f, _sat, include_misuse = export_args(request, False)
    gb = request.query_params.get("group_by")
    group_by = gb if gb in ("section", "window", "staff", "day", "source") else "section"
    with deps.get_engine(request).connect() as conn:
        doc = stats_mod.query(conn, from_, to, group_by=group_by, include_misuse=include_misuse, **f)
    rows = exports.stats_rows(doc, group_by)
    name = f"stats_{group_by}_{from_}_{to}.{fmt}"
    if fmt == "csv":
        return download(exports.to_csv(exports.STATS_HEADER_ZH, rows), "text/csv; charset=utf-8", name)
    return download(exports.to_xlsx("stats", exports.STATS_HEADER_ZH, rows,
                                    note=f"{from_} .. {to}, group_by={group_by}"), XLSX, name)


@router.get("/export/national.json")
def export_national(request: Request):
    """The records of the provincial push (``?profile=``, default ``[province] profile``),
    for admins only: they hold the 申请人 name."""
    from ...province import profiles

    user = deps.current_user(request)
    if user is None:
        return JSONResponse({"error": "log in first"}, status_code=401)
    if not user.may("admin"):
        return JSONResponse({"error": "the national-interface export is for admins"}, status_code=403)
    settings = deps.get_settings(request)
    profile = request.query_params.get("profile") or settings.province.profile
    if profile not in profiles.PROFILES:
        return JSONResponse({"error": f"profile: {profile!r} is not a province profile (expected one of "
                                      f"{', '.join(profiles.PROFILES)})"}, status_code=400)
    from_, to, f, sat, _misuse = export_args(request, False)
    area = opt(request.query_params.get("area_code"), 12) or settings.province.area_code or settings.web.area_code
    with deps.get_engine(request).connect() as conn:
        total, rows = stats_mod.list_ratings(conn, from_, to, satisfaction=sat, include_misuse=False,
                                             limit=exports.MAX_ROWS, offset=0,
                                             show_phone=user.may("see_phone"), **f)
    rows = [r for r in rows if r["case_state"] != "invalid"]
    body = exports.national(rows, profile=profile, area_code=area, data_source=settings.province.data_source,
                            tz=settings.tz)
    return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"),
                    media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="national_{from_}_{to}.json"',
                             "Cache-Control": "no-store",
                             **({"X-Export-Truncated": str(exports.MAX_ROWS)} if total > exports.MAX_ROWS
                                else {})})
