"""The entry page ``/entry``: a clerk types in paper forms, phone calls and the
办不成事 window's registrations, fast from the keyboard, through the same
function as ``POST /api/v1/entries`` (:func:`central.api.routes.entries.enter`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kiosk.levels import LEVELS

from ... import channels
from ...api import deps
from ...api.routes.entries import enter
from .. import csrf
from .common import forbidden, render, to_login, today, user_of

router = APIRouter(include_in_schema=False)


def _page(request: Request, user, *, status: int = 200, **context: Any):
    with deps.get_engine(request).connect() as conn:
        windows = channels.windows(conn)
        recent = channels.recent_entries(conn, user.id)
    return render(request, "entry.html", user=user, status=status, windows=windows, recent=recent, levels=LEVELS,
                  sources=channels.ENTRY_SOURCES, source_zh=channels.SOURCE_ZH, today=today(request).isoformat(),
                  **context)


@router.get("/entry")
def entry_page(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    if not user.may("enter"):
        return forbidden(request, user, "only a clerk, supervisor or admin may enter ratings")
    return _page(request, user, chosen={"source": request.query_params.get("source", "paper")})


@router.post("/entry")
async def entry_post(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    data = await request.form()
    if not user.may("enter") or not csrf.valid(request, request.cookies.get(deps.SESSION_COOKIE),
                                               str(data.get(csrf.FIELD) or "")):
        return forbidden(request, user, "only a clerk, supervisor or admin may enter ratings")
    sat = str(data.get("satisfaction") or "")
    body: dict[str, Any] = {k: (str(data.get(k)) if data.get(k) else None)
            for k in ("source", "window_no", "staff_no", "comment", "phone", "project_no", "rated_at", "form_no")}
    body["satisfaction"] = int(sat) if sat.isdigit() else (sat or None)
    body["reasons"] = [str(r) for r in data.getlist("reasons")]
    try:
        rating_id, status = enter(request, body, user)
    except channels.ChannelError as exc:
        return _page(request, user, status=400, error=str(exc), chosen=body)
    keep = {"source": body["source"], "rated_at": body["rated_at"], "window_no": body["window_no"]}
    if status == "duplicate":
        return _page(request, user, status=200, duplicate=body["form_no"], chosen={**body})
    return _page(request, user, saved=rating_id, chosen=keep)
