"""The single ratings, filtered and paged."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request

from ... import stats as stats_mod
from ...api import deps
from .common import PAGE_SIZE, date_range, filter_params, filters, page_number, render, sections, to_login, user_of
from .overview import page_sources

router = APIRouter(include_in_schema=False)


@router.get("/ratings")
def ratings_page(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    from_, to, error = date_range(request)
    source, source_error = page_sources(request)
    f = {**filters(request), "source": source}
    q = request.query_params
    sat = q.get("satisfaction")
    satisfaction = int(sat) if sat in ("1", "2", "3", "4", "5") else None
    include_misuse = q.get("include_misuse", "1") == "1"
    page = page_number(request)
    with deps.get_engine(request).connect() as conn:
        total, rows = stats_mod.list_ratings(
            conn, from_, to, satisfaction=satisfaction, include_misuse=include_misuse,
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, show_phone=user.may("see_phone"), **f)
        all_sections = sections(conn)
    params = {"from": from_.isoformat(), "to": to.isoformat(), **filter_params(f),
              **({"satisfaction": str(satisfaction)} if satisfaction else {}),
              "include_misuse": "1" if include_misuse else "0"}
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, "ratings.html", user=user, rows=rows, total=total, page=page, pages=pages,
                  from_=from_, to=to, f=f, satisfaction=satisfaction, include_misuse=include_misuse,
                  sections=all_sections, error=error, qs=urlencode(params), sources=stats_mod.SOURCE_LABELS,
                  source=source or (), source_error=source_error)
