"""People: password login (a bearer token and the session cookie), logout, who am I.

Failed logins are throttled per user name and client address
(:mod:`central.throttle`, shared with the login page)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ... import auth
from ...auth import User, utcnow
from ...throttle import LoginThrottle
from ...timefmt import rfc3339
from ..body import JSONRoute
from ..deps import (
    SESSION_COOKIE,
    EngineDep,
    SettingsDep,
    client_ip,
    delete_cookie,
    login_throttle,
    need,
    session_token,
    set_session_cookie,
)
from ..models import AUTH_ERRORS, Text, errors

router = APIRouter(tags=["users"], route_class=JSONRoute)


class LoginIn(BaseModel):
    username: Text = Field(min_length=1, max_length=64)
    password: Text = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    username: str
    role: str
    expires_at: str


def check_login(engine, settings, throttle: LoginThrottle, username: str, password: str, ip: str):
    """``(user, token, expires)``; raises 429 (locked) or 401 (wrong). The place
    in the throttle is taken before the password is checked."""
    attempt = throttle.begin(username, ip, utcnow())
    if attempt.refused:
        raise HTTPException(429, attempt.message(), headers={"Retry-After": str(attempt.retry_after)})
    got = auth.login(engine, username, password, settings.session_hours)
    if got is None:
        throttle.failed(attempt)
        raise HTTPException(401, "wrong username or password")
    throttle.succeeded(attempt)
    return got


@router.post("/api/v1/login", response_model=LoginOut, responses=errors(401, 429))
async def login(body: LoginIn, request: Request, response: Response, engine: EngineDep, settings: SettingsDep,
                throttle: Annotated[LoginThrottle, Depends(login_throttle)]):
    """Password login: a bearer token for integrations and a session cookie for pages.
    Repeated failures for a name are refused for a while (429)."""
    user, token, expires = await run_in_threadpool(check_login, engine, settings, throttle, body.username,
                                                   body.password, client_ip(request))
    set_session_cookie(response, request, token)
    return LoginOut(token=token, username=user.username, role=user.role, expires_at=rfc3339(expires))


@router.post("/api/v1/logout", status_code=204)
def logout(request: Request, engine: EngineDep):
    """End the session of the bearer token or cookie."""
    token = session_token(request)
    if token:
        auth.logout(engine, token)
    resp = Response(status_code=204)
    delete_cookie(resp, request, SESSION_COOKIE)
    return resp


@router.get("/api/v1/me", responses=AUTH_ERRORS)
def me(user: Annotated[User, Depends(need("read"))]) -> dict[str, str]:
    """Who the session belongs to."""
    return {"username": user.username, "role": user.role}
