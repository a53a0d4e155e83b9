"""Ratings entered by staff (``POST /api/v1/entries``, their corrections and history)
and by other systems (``POST /api/v1/channel-ratings``): thin handlers over
:mod:`central.channels` and :mod:`central.corrections`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ... import channels, corrections
from ...auth import User, user_for_token, utcnow
from ...web import csrf
from ..body import JSONRoute
from ..deps import SESSION_COOKIE, EngineDep, SettingsDep, bearer, get_engine, get_settings, need
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


RatingId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def correct(request: Request, rating_id: str, body: Any, user: User) -> dict[str, Any]:
    """Correct or withdraw one staff entry (the API and the /entry page)."""
    settings = get_settings(request)
    withdraw = isinstance(body, dict) and body.get("withdraw") is True
    return corrections.correct(get_engine(request), rating_id, body, user, withdraw=withdraw,
                               channel_for=settings.channel, tz=settings.tz, deadlines=settings.deadlines,
                               now=utcnow())


@router.post("/api/v1/entries/{rating_id}/correction", status_code=201,
             responses={**errors(400, 404, 409), **AUTH_ERRORS})
def post_correction(request: Request, rating_id: RatingId, body: Annotated[Any, Body()]):
    """Correct a staff entry typed in wrong, or withdraw one that should not exist, keeping
    the original in its history: ``{"reason" (required), "withdraw"?: true, and any entry
    fields to change}`` (absent fields keep their value, ``null`` clears one). 201
    ``{"id", "status": "corrected", "replaced_by"}`` or 200 ``{"status": "withdrawn"}``;
    403 someone else's entry (a clerk corrects only their own); 409 already corrected, or
    its 差评 case is already in work."""
    user = entering_user(request)
    try:
        answer = correct(request, rating_id, body, user)
    except channels.ChannelError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return JSONResponse(answer, status_code=201 if answer["replaced_by"] else 200)


@router.get("/api/v1/entries/{rating_id}", responses={**errors(404), **AUTH_ERRORS})
def get_entry(rating_id: RatingId, user: Annotated[User, Depends(need("read"))], engine: EngineDep,
              settings: SettingsDep):
    """A staff entry with every version of it, first to last, from any of its ids: the
    values, who entered each and when, and for a replaced one who corrected it, when and why."""
    with engine.connect() as conn:
        versions = corrections.history(conn, rating_id, show_phone=user.may("see_phone"))
    if versions is None:
        raise HTTPException(404, f"no staff entry {rating_id}")
    return {"id": rating_id, "current": versions[-1]["id"] if versions[-1]["status"] == "current" else None,
            "versions": versions}


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
