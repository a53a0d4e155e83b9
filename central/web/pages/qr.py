"""Window QR codes: the PNG, the printable A5 poster, the admin's rotation and
the citizen's phone page ``/r/{code}`` (no login).

The phone page is safe without a session: its GET sets a random browser cookie
and the form carries ``HMAC(browser id, code)``, so a post needs the page first
(no cross-site form can forge it). A second rating from the same browser within
``[server] qr_cooldown_seconds`` is stored flagged misuse; more than
``qr_posts_per_minute`` ratings a minute from one address get 429 with
Retry-After.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kiosk.levels import LEVELS

from ... import channels, qr
from ...api import deps
from ...auth import token_hash, utcnow
from .. import csrf
from .common import forbidden, form, render, to_login, user_of

router = APIRouter(include_in_schema=False)
BROWSER_COOKIE = "kiosk_qr"


def _window_or_404(request: Request, window_no: str) -> dict[str, str] | None:
    with deps.get_engine(request).connect() as conn:
        return channels.windows(conn).get(window_no)


def _qr_url(request: Request, window_no: str) -> str:
    base = deps.get_settings(request).public_url or str(request.base_url)
    return qr.url_for(base, qr.code_for(deps.get_engine(request), window_no))


@router.get("/windows/{window_no}/qr.png")
def qr_png(request: Request, window_no: str):
    """The window's QR code (logged-in users; it is printed, not published)."""
    user = user_of(request)
    if user is None:
        return to_login(request)
    if _window_or_404(request, window_no) is None:
        return Response(f"no registered window {window_no}", status_code=404, media_type="text/plain")
    return Response(qr.png(_qr_url(request, window_no)), media_type="image/png",
                    headers={"Cache-Control": "no-store"})


@router.get("/windows/{window_no}/poster")
def poster(request: Request, window_no: str):
    """A printable A5 poster: window, section, the QR code and its code."""
    user = user_of(request)
    if user is None:
        return to_login(request)
    win = _window_or_404(request, window_no)
    if win is None:
        return render(request, "error.html", user=user, status=404, title="404",
                      message=f"no registered window {window_no}")
    url = _qr_url(request, window_no)
    return render(request, "qr_poster.html", user=user, window_no=window_no, section=win["section"], url=url,
                  code=url.rsplit("/", 1)[1], svg=qr.svg(url), public_url=deps.get_settings(request).public_url)


@router.post("/windows/{window_no}/qr/rotate")
async def rotate(request: Request, window_no: str):
    """A new code for the window (admin); the old address answers 404 from now on."""
    user = user_of(request)
    if user is None:
        return to_login(request)
    data = await form(request)
    if not user.may("admin") or not csrf.valid(request, request.cookies.get(deps.SESSION_COOKIE),
                                               data.get(csrf.FIELD)):
        return forbidden(request, user, "only an admin may rotate a QR code")
    qr.rotate(deps.get_engine(request), window_no, user.username)
    return RedirectResponse(f"/windows/{window_no}/poster", status_code=303)


def _target(request: Request, code: str) -> tuple[str, dict[str, str]] | None:
    with deps.get_engine(request).connect() as conn:
        window_no = qr.window_of(conn, code)
        win = channels.windows(conn).get(window_no) if window_no else None
    return (window_no, win) if window_no and win else None


def _phone_page(request: Request, code: str, window_no: str, win: dict[str, str], browser: str, *,
                status: int = 200, **context: Any):
    resp = render(request, "qr_rate.html", status=status, code=code, window_no=window_no, section=win["section"],
                  form_token=csrf.token_for(browser, "qr:" + code), levels=LEVELS, **context)
    deps.set_cookie(resp, request, BROWSER_COOKIE, browser, max_age=365 * 86400, samesite="strict")
    return resp


@router.get("/r/{code}")
def rate_page(request: Request, code: str):
    found = _target(request, code)
    if found is None:
        return render(request, "error.html", status=404, title="404",
                      message="此二维码已失效，请扫描窗口上的新二维码。 This QR code is no longer valid.")
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(18)
    return _phone_page(request, code, *found, browser)


def _too_many(request: Request, ip: str) -> bool:
    limit = deps.get_settings(request).qr_posts_per_minute
    c = channels.channel_entries.c
    with deps.get_engine(request).connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).where(
            c.client_ip == ip, c.source == "qr", c.entered_at > utcnow() - timedelta(minutes=1))).scalar()
    return int(n or 0) >= limit


@router.post("/r/{code}")
async def rate_post(request: Request, code: str):
    found = _target(request, code)
    if found is None:
        return render(request, "error.html", status=404, title="404", message="此二维码已失效。 This QR code is no longer valid.")
    browser = request.cookies.get(BROWSER_COOKIE)
    data = await request.form()
    token = data.get("form_token")
    if not browser or not isinstance(token, str) or not csrf.valid(request, browser, token, "qr:" + code):
        return render(request, "error.html", status=403, title="403",
                      message="页面已过期，请重新扫码。 The page expired: scan the code again.")
    ip = deps.client_ip(request)
    if _too_many(request, ip):
        return Response("评价过于频繁，请稍后再试。 Too many ratings: try again in a minute.", status_code=429,
                        headers={"Retry-After": "60"}, media_type="text/plain; charset=utf-8")
    return _store(request, code, found, browser, ip, data)


def _store(request: Request, code: str, found: tuple[str, dict[str, str]], browser: str, ip: str, data):
    settings = deps.get_settings(request)
    level = data.get("satisfaction")
    body = {"window_no": found[0], "satisfaction": int(level) if isinstance(level, str) and level.isdigit() else level,
            "reasons": [r for r in data.getlist("reasons") if isinstance(r, str)],
            "comment": data.get("comment") or None, "phone": data.get("phone") or None}
    try:
        rating = channels.check_rating({**body, "rated_at": _now_rfc3339()}, settings.tz, utcnow())
        origin = channels.Origin(source="qr", device_id=f"qr:{found[0]}", entered_by="qr",
                                 client_hash=token_hash(browser), client_ip=ip)
        channels.store(deps.get_engine(request), rating, origin, channel=settings.channel("qr"), tz=settings.tz,
                       deadlines=settings.deadlines, misuse_within=settings.qr_cooldown_seconds)
    except channels.ChannelError as exc:
        return _phone_page(request, code, *found, browser, status=400, error=str(exc), chosen=body)
    return render(request, "qr_thanks.html", window_no=found[0], bad=rating.satisfaction <= 2,
                  supervision_phone=settings.supervision_phone)


def _now_rfc3339() -> str:
    from ...timefmt import rfc3339

    return rfc3339(utcnow())
