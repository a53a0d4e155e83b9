"""The entry page ``/entry``: a clerk types in paper forms, phone calls and the
办不成事 window's registrations, fast from the keyboard, through the same
function as ``POST /api/v1/entries`` (:func:`central.api.routes.entries.enter`);
``/entry?correct=<id>`` corrects or withdraws one of them through the function of
``POST /api/v1/entries/{id}/correction``, showing its history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kiosk.levels import LEVELS

from ... import channels, corrections
from ...api import deps
from ...api.routes.entries import correct, enter
from .. import csrf
from .common import forbidden, render, to_login, today, user_of

router = APIRouter(include_in_schema=False)


def _page(request: Request, user, *, status: int = 200, **context: Any):
    with deps.get_engine(request).connect() as conn:
        windows = channels.windows(conn)
        recent = corrections.annotate(conn, channels.recent_entries(conn, user.id))
        fixing = context.get("fixing")
        if fixing:
            context["versions"] = corrections.history(conn, fixing, show_phone=user.may("see_phone")) or []
    return render(request, "entry.html", user=user, status=status, windows=windows, recent=recent, levels=LEVELS,
                  level_of={lv.wire: lv for lv in LEVELS},
                  sources=channels.ENTRY_SOURCES, source_zh=channels.SOURCE_ZH, today=today(request).isoformat(),
                  **context)


@router.get("/entry")
def entry_page(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    if not user.may("enter"):
        return forbidden(request, user, "only a clerk, supervisor or admin may enter ratings")
    fixing = request.query_params.get("correct")
    if fixing:
        return _correction_form(request, user, fixing)
    return _page(request, user, chosen={"source": request.query_params.get("source", "paper")})


def _correction_form(request: Request, user, rating_id: str, *, status: int = 200, error: str | None = None,
                     chosen: dict[str, Any] | None = None):
    """The form filled in with an entry's values, to correct or withdraw it."""
    settings = deps.get_settings(request)
    with deps.get_engine(request).connect() as conn:
        original = corrections.original_body(conn, rating_id, settings.tz)
    if original is None:
        return _page(request, user, status=404, error=f"没有可更正的录入 {rating_id}（已更正、已撤销或不是人工录入）",
                     chosen={"source": "paper"})
    if original.pop("entered_by_id") != user.id and not user.may("act"):
        return forbidden(request, user, "只有录入人、主管或管理员可以更正这条录入")
    phone = original.pop("phone")
    kept_phone = None
    if phone and not user.may("see_phone"):
        from ...stats import mask_phone
        kept_phone = mask_phone(phone)
    else:
        original["phone"] = phone
    return _page(request, user, status=status, error=error, fixing=rating_id, kept_phone=kept_phone,
                 chosen=chosen or original)


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
    fixing = str(data.get("corrects") or "")
    if fixing:
        return _correction_post(request, user, fixing, body, data)
    try:
        rating_id, status = enter(request, body, user)
    except channels.ChannelError as exc:
        return _page(request, user, status=400, error=str(exc), chosen=body)
    keep = {"source": body["source"], "rated_at": body["rated_at"], "window_no": body["window_no"]}
    if status == "duplicate":
        return _page(request, user, status=200, duplicate=body["form_no"], chosen={**body})
    return _page(request, user, saved=rating_id, chosen=keep)


def _correction_post(request: Request, user, rating_id: str, body: dict[str, Any], data):
    withdraw = data.get("withdraw") == "1"
    fix: dict[str, Any] = {"reason": str(data.get("reason") or "")}
    if withdraw:
        fix["withdraw"] = True
    else:
        fix.update({k: v for k, v in body.items() if k != "phone" or v})  # an empty phone keeps the number
    try:
        answer = correct(request, rating_id, fix, user)
    except channels.ChannelError as exc:
        if exc.status in (404, 409):
            return _page(request, user, status=exc.status, error=str(exc), chosen={"source": "paper"})
        return _correction_form(request, user, rating_id, status=exc.status, error=str(exc),
                                chosen={**body, "reason": fix["reason"]})
    return _page(request, user, corrected=answer, chosen={"source": body.get("source") or "paper"})
