"""What every route shares: the engine and settings (from ``app.state``), who is
calling (a person's bearer token or session cookie, a device's token), who may
do what (:func:`need`), the cookies' names and how they are set.

Cookies are ``Secure`` whenever the request came over HTTPS: directly, or
through a proxy in ``[server] trusted_proxies`` that says so in
``X-Forwarded-Proto`` (uvicorn's proxy-header handling sets the scheme and the
client address only for those).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy.engine import Engine

from .. import auth
from .. import stats as stats_mod
from ..auth import DeviceIdentity, User
from ..config import Settings
from ..throttle import LoginThrottle

SESSION_COOKIE = "kiosk_session"
#: the login form's pre-session secret (double-submit CSRF token)
CSRF_COOKIE = "kiosk_csrf"
LANG_COOKIE = "kiosk_lang"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def login_throttle(request: Request) -> LoginThrottle:
    return LoginThrottle(get_engine(request), get_settings(request).web)


def client_ip(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For already applied)."""
    return request.client.host if request.client else "-"


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def session_token(request: Request, *, allow_bearer: bool = True) -> str | None:
    """The session token of the request: the bearer token, else the cookie."""
    return (bearer(request) if allow_bearer else None) or request.cookies.get(SESSION_COOKIE)


def current_user(request: Request, *, allow_bearer: bool = True) -> User | None:
    """The logged-in user: a bearer session token (unless ``allow_bearer`` is
    False, as for the HTML pages) or the session cookie; None when neither is valid."""
    tokens = [t for t in ((bearer(request) if allow_bearer else None), request.cookies.get(SESSION_COOKIE)) if t]
    if not tokens:
        return None
    with get_engine(request).connect() as conn:
        for token in tokens:
            user = auth.user_for_token(conn, token)
            if user is not None:
                return user
    return None


def need(action: str) -> Callable[[Request], User]:
    """A dependency: the logged-in user, who may do ``action`` (401 / 403 otherwise)."""
    def dep(request: Request) -> User:
        user = current_user(request)
        if user is None:
            raise HTTPException(401, "log in first (POST /api/v1/login)", headers={"WWW-Authenticate": "Bearer"})
        if not user.may(action):
            raise HTTPException(403, f"the role {user.role!r} may not do this")
        return user
    return dep


def stats_reader(request: Request) -> User | None:
    """The aggregates are public unless ``[server] public_stats = false``."""
    if get_settings(request).public_stats:
        return None
    return need("read")(request)


def device_from(request: Request) -> DeviceIdentity:
    """The device of the bearer device token (401 when missing, unknown or revoked)."""
    token = bearer(request)
    if not token:
        raise HTTPException(401, "missing device token (Authorization: Bearer …)",
                            headers={"WWW-Authenticate": "Bearer"})
    with get_engine(request).connect() as conn:
        dev = auth.device_for_token(conn, token)
    if dev is None:
        raise HTTPException(401, "unknown or revoked device token", headers={"WWW-Authenticate": "Bearer"})
    return dev


def over_tls(request: Request) -> bool:
    """Whether the request came over HTTPS (directly or via a trusted proxy)."""
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None = None,
               samesite: Literal["lax", "strict", "none"] = "lax") -> None:
    """Set an HttpOnly cookie for the whole site, ``Secure`` over HTTPS (or
    always with ``[server] cookie_secure = true``)."""
    secure = get_settings(request).cookie_secure or over_tls(request)
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite=samesite, secure=secure)


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    set_cookie(response, request, SESSION_COOKIE, token, max_age=int(get_settings(request).session_hours * 3600))


def delete_cookie(response: Response, request: Request, name: str) -> None:
    secure = get_settings(request).cookie_secure or over_tls(request)
    response.delete_cookie(name, path="/", httponly=True, secure=secure)


def sources(value: str | None) -> tuple[str, ...] | None:
    """The ``source`` filter of a request (:func:`central.stats.parse_sources`); an
    unknown name is a 400 naming the field."""
    try:
        return stats_mod.parse_sources(value)
    except stats_mod.UnknownSource as e:
        raise HTTPException(400, str(e)) from None
