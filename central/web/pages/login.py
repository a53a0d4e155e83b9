"""Logging in and out on the web (the same throttle and cookie as the API's login)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from ... import auth
from ...api import deps
from ...auth import utcnow
from .. import csrf, i18n
from .common import form, render, safe_next, user_of

router = APIRouter(include_in_schema=False)


def _with_pre_secret(request: Request, resp: HTMLResponse, secret: str) -> HTMLResponse:
    if request.cookies.get(deps.CSRF_COOKIE) != secret:
        deps.set_cookie(resp, request, deps.CSRF_COOKIE, secret, samesite="strict")
    return resp


@router.get("/")
def root(request: Request):
    return RedirectResponse("/overview" if user_of(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request):
    secret = request.cookies.get(deps.CSRF_COOKIE) or csrf.new_pre_secret()
    resp = render(request, "login.html", next=safe_next(request.query_params.get("next")),
                  login_token=csrf.token_for(secret, "login"), error=None)
    return _with_pre_secret(request, resp, secret)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    data = await form(request)
    nxt = safe_next(data.get("next"))
    secret = request.cookies.get(deps.CSRF_COOKIE)
    lang = i18n.pick(request)[0]
    _ = i18n.translator(lang)

    def again(status: int, error: str) -> HTMLResponse:
        fresh = secret or csrf.new_pre_secret()
        resp = render(request, "login.html", status=status, next=nxt, error=error,
                      login_token=csrf.token_for(fresh, "login"))
        return _with_pre_secret(request, resp, fresh)

    if not csrf.valid(request, secret, data.get(csrf.FIELD), "login"):
        return again(403, _("页面已过期，请重新登录。", "The form expired; please try again."))
    username = (data.get("username") or "").strip()[:64]
    password = data.get("password") or ""
    throttle = deps.login_throttle(request)
    attempt = await run_in_threadpool(throttle.begin, username, deps.client_ip(request), utcnow())
    if attempt.refused:
        resp = again(429, attempt.message(lang))
        resp.headers["Retry-After"] = str(attempt.retry_after)
        return resp
    settings = deps.get_settings(request)
    got = (await run_in_threadpool(auth.login, deps.get_engine(request), username, password, settings.session_hours)
           if username and password else None)
    if got is None:
        await run_in_threadpool(throttle.failed, attempt)
        return again(401, _("用户名或密码错误。", "Wrong username or password."))
    await run_in_threadpool(throttle.succeeded, attempt)
    _user, token, _expires = got
    redirect = RedirectResponse(nxt, status_code=303)
    deps.set_session_cookie(redirect, request, token)
    deps.delete_cookie(redirect, request, deps.CSRF_COOKIE)
    return redirect


@router.post("/logout")
async def logout(request: Request):
    data = await form(request)
    token = request.cookies.get(deps.SESSION_COOKIE)
    if token and csrf.valid(request, token, data.get(csrf.FIELD)):
        auth.logout(deps.get_engine(request), token)
    resp = RedirectResponse("/login", status_code=303)
    deps.delete_cookie(resp, request, deps.SESSION_COOKIE)
    return resp
