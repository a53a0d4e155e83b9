"""Statistics (public by default) and the single ratings (a login)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from ... import stats as stats_mod
from ...auth import User
from ...web.exports import rating_rows, to_csv
from ..body import JSONRoute
from ..deps import EngineDep, SettingsDep, need, sources, stats_reader
from ..models import AUTH_ERRORS, SourceParam, Text, errors

router = APIRouter(tags=["statistics"], route_class=JSONRoute)


@router.get("/api/v1/stats", response_model=stats_mod.StatsOut, responses={**errors(400), **AUTH_ERRORS})
def get_stats(
    _user: Annotated[User | None, Depends(stats_reader)],
    engine: EngineDep,
    settings: SettingsDep,
    from_: Annotated[date | None, Query(alias="from", description="first day, inclusive (server timezone)")] = None,
    to: Annotated[date | None, Query(description="last day, inclusive")] = None,
    section: Annotated[Text | None, Query(max_length=64)] = None,
    window: Annotated[Text | None, Query(max_length=32)] = None,
    staff_no: Annotated[Text | None, Query(max_length=32)] = None,
    group_by: Literal["section", "window", "staff", "day", "source"] | None = None,
    include_misuse: bool = False,
    source: SourceParam = None,
):
    """评价数, 差评数, 差评未整改数, 好评率 and the five level counts (docs/api.md)."""
    wanted = sources(source)
    today = datetime.now(UTC).astimezone(settings.tz).date()
    to = to or today
    from_ = from_ or to.replace(day=1)
    if from_ > to:
        raise HTTPException(400, "from: must not be after to")
    with engine.connect() as conn:
        return stats_mod.query(conn, from_, to, section=section, window=window, staff_no=staff_no,
                               group_by=group_by, include_misuse=include_misuse, source=wanted)


@router.get("/api/v1/ratings", responses={**errors(400), **AUTH_ERRORS})
def get_ratings(
    user: Annotated[User, Depends(need("read"))],
    engine: EngineDep,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    section: Annotated[Text | None, Query(max_length=64)] = None,
    window: Annotated[Text | None, Query(max_length=32)] = None,
    staff_no: Annotated[Text | None, Query(max_length=32)] = None,
    satisfaction: Annotated[int | None, Query(ge=1, le=5)] = None,
    include_misuse: bool = True,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Literal["json", "csv"] = "json",
    source: SourceParam = None,
):
    """Single ratings with their reasons; phone numbers masked unless the role is admin."""
    wanted = sources(source)
    with engine.connect() as conn:
        total, rows = stats_mod.list_ratings(
            conn, from_, to, section=section, window=window, staff_no=staff_no,
            satisfaction=satisfaction, include_misuse=include_misuse,
            limit=page_size if format == "json" else 100_000,
            offset=(page - 1) * page_size if format == "json" else 0,
            show_phone=user.may("see_phone"), source=wanted)
    if format == "csv":
        return Response(to_csv(stats_mod.RATING_COLUMNS, rating_rows(rows)), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="ratings.csv"'})
    return {"total": total, "page": page, "page_size": page_size, "ratings": rows}
