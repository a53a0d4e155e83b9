"""Ratings entered by staff (``POST /api/v1/entries``) and by other systems
(``POST /api/v1/channel-ratings``): thin handlers over :mod:`central.channels`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ... import channels
from ...auth import User, user_for_token, utcnow
from ...web import csrf
from ..body import JSONRoute
from ..deps import SESSION_COOKIE, bearer, get_engine, get_settings
from ..models import AUTH_ERRORS, errors

router = APIRouter(tags=["channels"], route_class=JSONRoute)

CSRF_HEADER = "X-CSRF-Token"


def entering_user(request: Request) -> User:
    """The user of a bearer session token, or of the session cookie with its CSRF
    token in ``X-CSRF-Token``; 401 / 403 otherwise, 403 a role that may not enter."""
    token = bearer(request)
    cookie = None if token else request.cookies.get(SESSION_COOKIE)
    with get_engine(request).connect() as conn:
        user = user_for_token(conn, token or cookie or "") if (token or cookie) else None
    if user is None:
        raise HTTPException(401, "log in first (POST /api/v1/login)", headers={"WWW-Authenticate": "Bearer"})
    if cookie and not csrf.valid(request, cookie, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"{CSRF_HEADER}: missing or wrong CSRF token for this session")
    if not user.may("enter"):
        raise HTTPException(403, f"the role {user.role!r} may not enter ratings")
    return user


def _answer(rating_id: str, status: str) -> JSONResponse:
    if status == "duplicate":
        return JSONResponse({"id": rating_id, "status": "duplicate"}, status_code=200)
    return JSONResponse({"id": rating_id, "status": "accepted"}, status_code=201)


def enter(request: Request, body: Any, user: User) -> tuple[str, str]:
    """Check and store one staff entry (the API and the /entry page)."""
    settings = get_settings(request)
    if not isinstance(body, dict):
        raise channels.ChannelError("the body must be a JSON object")
    source = body.get("source")
    if source not in channels.ENTRY_SOURCES:
        raise channels.ChannelError(f"source: expected one of {', '.join(channels.ENTRY_SOURCES)}, got {source!r}")
    rating = channels.check_rating(body, settings.tz, utcnow())
    origin = channels.Origin(source=source, device_id=f"entry:{user.username}", entered_by=user.username,
                             entered_by_id=user.id, form_no=channels.text_field(body, "form_no", 64))
    return channels.store(get_engine(request), rating, origin, channel=settings.channel(source),
                          tz=settings.tz, deadlines=settings.deadlines)


@router.post("/api/v1/entries", status_code=201, responses={**errors(400), **AUTH_ERRORS})
def post_entry(request: Request, body: Annotated[Any, Body()]):
    """A rating from a paper form, a phone call or the 办不成事 window, entered by a
    clerk, supervisor or admin: ``{"source": "paper|phone|counter", "window_no",
    "staff_no"?, "satisfaction" (5 = 非常满意), "reasons"?, "comment"?, "phone"?,
    "project_no"?, "rated_at" (YYYY-MM-DD or RFC 3339), "form_no"?}``. 201 accepted;
    200 duplicate (the same source and form number); 400 naming the field."""
    user = entering_user(request)
    try:
        return _answer(*enter(request, body, user))
    except channels.ChannelError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def _integration(request: Request) -> channels.Integration:
    key = bearer(request)
    if not key:
        raise HTTPException(401, "missing integration key (Authorization: Bearer …)",
                            headers={"WWW-Authenticate": "Bearer"})
    with get_engine(request).connect() as conn:
        found = channels.integration_for_key(conn, key)
    if found is None:
        raise HTTPException(401, "unknown or revoked integration key", headers={"WWW-Authenticate": "Bearer"})
    return found


@router.post("/api/v1/channel-ratings", status_code=201, responses={**errors(400), **AUTH_ERRORS})
async def post_channel_rating(request: Request, body: Annotated[Any, Body()]):
    """A rating from another system (SMS gateway, app) with its integration key:
    ``{"external_id", "window_no", "staff_no"?, "satisfaction" (5 = 非常满意),
    "reasons"?, "comment"?, "phone"?, "project_no"?, "rated_at"}``. 201 accepted;
    200 duplicate (the same external_id from this integration); 400; 401."""
    return await run_in_threadpool(_channel_rating, request, body)


def _channel_rating(request: Request, body: Any):
    found = _integration(request)
    settings = get_settings(request)
    try:
        rating = channels.check_rating(body, settings.tz, utcnow())
        external_id = channels.text_field(body, "external_id", 128, required=True)
        origin = channels.Origin(source=found.source, device_id=f"integration:{found.name}",
                                 entered_by=f"integration:{found.name}", integration_id=found.id,
                                 external_id=external_id)
        return _answer(*channels.store(get_engine(request), rating, origin, channel=settings.channel(found.source),
                                       tz=settings.tz, deadlines=settings.deadlines))
    except channels.ChannelError as exc:
        raise HTTPException(exc.status, str(exc)) from None
