"""The pages: login, overview, ratings, devices, cases (with their transitions),
the public hall board and the exports.

Every page reads through the same functions as the API (:mod:`central.stats`,
:mod:`central.cases`, :mod:`central.auth`), so the numbers a supervisor sees
are the numbers ``GET /api/v1/stats`` returns. Roles are checked on every
request; every form carries a CSRF token.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kiosk.levels import LEVELS, REASON_BY_CODE

from .. import attachments as attachments_mod
from .. import auth
from .. import cases as cases_mod
from .. import stats as stats_mod
from ..auth import User, utcnow
from ..config import SERVER_SCHEMA, Settings
from ..db import devices, rollup_daily, write_tx
from . import case_forms, csrf, exports, i18n
from .alerts import outbox_status
from .tables import login_attempts

SESSION_COOKIE = "kiosk_session"  # the API's cookie (central.app.COOKIE)
TEMPLATES = Path(__file__).with_name("templates")
STATE_EN = cases_mod.STATE_EN
PAGE_SIZE = 50


def web_config(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``[web]`` and ``[alerts]`` tables with their defaults filled in."""
    from kiosk.config import parse

    base = parse(SERVER_SCHEMA, {})
    web = {**base.web.to_dict(), **(settings.web or {})}
    alerts = {**base.alerts.to_dict(), **(settings.alerts or {})}
    return web, alerts


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _opt(value: str | None, max_len: int = 64) -> str | None:
    value = (value or "").strip()
    return value[:max_len] if value else None


def _ago(seconds: float | None, lang: str) -> str:
    """``95`` → ``2 分钟前`` / ``2 min ago``."""
    if seconds is None:
        return ""
    s = max(int(seconds), 0)
    if s < 90:
        n, zh, en = s, "秒", "s"
    elif s < 90 * 60:
        n, zh, en = round(s / 60), "分钟", "min"
    elif s < 36 * 3600:
        n, zh, en = round(s / 3600), "小时", "h"
    else:
        n, zh, en = round(s / 86400), "天", "d"
    return f"{n} {en} ago" if lang == "en" else f"{n} {zh}前"


def safe_next(value: str | None) -> str:
    """A local path to go back to after login (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/overview"


def make_env(tz) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)

    def local(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if not value:
            return "—"
        t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).rstrip("Z"))
        return t.replace(tzinfo=UTC).astimezone(tz).strftime(fmt)

    def rate(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.2f}%"

    env.filters["local"] = local
    env.filters["rate"] = rate
    env.globals["LEVELS"] = LEVELS
    env.globals["REASONS"] = REASON_BY_CODE
    return env


def build_router(settings: Settings, engine) -> APIRouter:
    """The web pages' routes, bound to ``settings`` and the app's engine."""
    tz = settings.tz
    web, _alerts = web_config(settings)
    env = make_env(tz)
    router = APIRouter(include_in_schema=False)

    # --- helpers --------------------------------------------------------------------

    def today() -> date:
        return datetime.now(UTC).astimezone(tz).date()

    def current_user(request: Request, allow_bearer: bool = False) -> User | None:
        token = request.cookies.get(SESSION_COOKIE)
        if allow_bearer:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        if not token:
            return None
        with engine.connect() as conn:
            return auth.user_for_token(conn, token)

    def render(request: Request, name: str, *, user: User | None = None, status: int = 200,
               **context: Any) -> HTMLResponse:
        lang, set_cookie = i18n.pick(request)
        token = request.cookies.get(SESSION_COOKIE) if user is not None else None
        other = dict(request.query_params)
        other["lang"] = "en" if lang == "zh" else "zh"
        html = env.get_template(name).render(
            request=request, user=user, lang=lang, _=i18n.translator(lang), path=request.url.path,
            csrf_token=csrf.token_for(token) if token else "", lang_switch="?" + urlencode(other),
            level_name=lambda lv: lv.en if lang == "en" else lv.zh,
            state_name=lambda s: STATE_EN.get(s, s) if lang == "en" else cases_mod.STATE_ZH.get(s, s),
            reason_name=lambda c: (REASON_BY_CODE[c].en if lang == "en" else REASON_BY_CODE[c].zh)
            if c in REASON_BY_CODE else c,
            ago=lambda seconds: _ago(seconds, lang), **context)
        resp = HTMLResponse(html, status_code=status)
        if set_cookie:
            resp.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax",
                            secure=settings.cookie_secure, path="/")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)

    def forbidden(request: Request, user: User | None, message: str) -> HTMLResponse:
        return render(request, "error.html", user=user, status=403, title="403", message=message)

    def sections(conn) -> list[str]:
        return [s for s in conn.execute(sa.select(rollup_daily.c.section).distinct()
                                        .order_by(rollup_daily.c.section)).scalars() if s]

    def date_range(request: Request, default_days: int | None = None) -> tuple[date, date, str | None]:
        q = request.query_params
        to = _date(q.get("to")) or today()
        from_ = _date(q.get("from")) or (to - timedelta(days=default_days - 1) if default_days
                                         else to.replace(day=1))
        error = None
        if from_ > to:
            error = "from > to"
            from_, to = to, from_
        if (to - from_).days > 3660:
            from_ = to - timedelta(days=3660)
        return from_, to, error

    def filters(request: Request) -> dict[str, Any]:
        q = request.query_params
        return {"section": _opt(q.get("section")), "window": _opt(q.get("window"), 32),
                "staff_no": _opt(q.get("staff_no"), 32)}

    async def form(request: Request) -> dict[str, str]:
        data = await request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    # --- login ----------------------------------------------------------------------

    @router.get("/")
    def root(request: Request):
        return RedirectResponse("/overview" if current_user(request) else "/login", status_code=303)

    @router.get("/login")
    def login_page(request: Request):
        secret = request.cookies.get(csrf.PRE_COOKIE) or csrf.new_pre_secret()
        resp = render(request, "login.html", next=safe_next(request.query_params.get("next")),
                      login_token=csrf.token_for(secret, "login"), error=None)
        if request.cookies.get(csrf.PRE_COOKIE) != secret:
            resp.set_cookie(csrf.PRE_COOKIE, secret, httponly=True, samesite="strict",
                            secure=settings.cookie_secure, path="/")
        return resp

    def too_many(username: str, ip: str, now: datetime) -> bool:
        since = now - timedelta(minutes=web["login_window_minutes"])
        with engine.connect() as conn:
            # per user name, and (looser, since a hall may share one address) per client address
            for key, limit in ((f"u:{username.lower()}", web["login_max_failures"]),
                               (f"ip:{ip}", 4 * web["login_max_failures"])):
                n = conn.execute(sa.select(sa.func.count()).where(
                    login_attempts.c.key == key[:128], login_attempts.c.at > since)).scalar_one()
                if n >= limit:
                    return True
        return False

    def record_failure(username: str, ip: str, now: datetime) -> None:
        with write_tx(engine) as conn:
            conn.execute(login_attempts.delete().where(
                login_attempts.c.at < now - timedelta(minutes=web["login_window_minutes"])))
            conn.execute(login_attempts.insert(), [{"key": f"u:{username.lower()}"[:128], "at": now},
                                                   {"key": f"ip:{ip}"[:128], "at": now}])

    @router.post("/login")
    async def login_submit(request: Request):
        data = await form(request)
        nxt = safe_next(data.get("next"))
        secret = request.cookies.get(csrf.PRE_COOKIE)
        _ = i18n.translator(i18n.pick(request)[0])

        def again(status: int, error: str) -> HTMLResponse:
            fresh = secret or csrf.new_pre_secret()
            resp = render(request, "login.html", status=status, next=nxt, error=error,
                          login_token=csrf.token_for(fresh, "login"))
            if fresh != secret:
                resp.set_cookie(csrf.PRE_COOKIE, fresh, httponly=True, samesite="strict",
                                secure=settings.cookie_secure, path="/")
            return resp

        if not csrf.valid(request, secret, data.get(csrf.FIELD), "login"):
            return again(403, _("页面已过期，请重新登录。", "The form expired; please try again."))
        username = (data.get("username") or "").strip()[:64]
        password = data.get("password") or ""
        ip = request.client.host if request.client else "?"
        now = utcnow()
        if too_many(username, ip, now):
            resp = again(429, _("登录失败次数过多，请 {m} 分钟后再试。", "Too many failed logins; try again in {m} "
                                "minutes.").format(m=int(web["login_window_minutes"])))
            resp.headers["Retry-After"] = str(int(web["login_window_minutes"] * 60))
            return resp
        got = auth.login(engine, username, password, settings.session_hours) if username and password else None
        if got is None:
            record_failure(username, ip, now)
            return again(401, _("用户名或密码错误。", "Wrong username or password."))
        _user, token, _expires = got
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.cookie_secure,
                        max_age=int(settings.session_hours * 3600), path="/")
        resp.delete_cookie(csrf.PRE_COOKIE, path="/")
        return resp

    @router.post("/logout")
    async def logout(request: Request):
        data = await form(request)
        token = request.cookies.get(SESSION_COOKIE)
        if token and csrf.valid(request, token, data.get(csrf.FIELD)):
            auth.logout(engine, token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # --- overview ---------------------------------------------------------------------

    @router.get("/overview")
    def overview(request: Request):
        user = current_user(request)
        if user is None:
            return to_login(request)
        from_, to, error = date_range(request)
        f = filters(request)
        q = request.query_params
        group_by = q.get("group_by") if q.get("group_by") in ("section", "window", "staff") else "section"
        include_misuse = q.get("include_misuse") == "1"
        with engine.connect() as conn:
            doc = stats_mod.query(conn, from_, to, group_by=group_by, include_misuse=include_misuse, **f)
            by_day = stats_mod.query(conn, from_, to, group_by="day", include_misuse=include_misuse, **f)
            all_sections = sections(conn)
        days = {g["key"]: g for g in by_day["groups"]}
        trend: dict[str, Any] = {"days": [], "levels": {k: [] for k in ("5", "4", "3", "2", "1")},
                                 "good_rate": [], "unrated": []}
        d = from_
        while d <= to:
            g = days.get(d.isoformat())
            trend["days"].append(d.isoformat())
            for k in trend["levels"]:
                trend["levels"][k].append(g["levels"][k] if g else 0)
            trend["good_rate"].append(None if not g or g["good_rate"] is None else round(g["good_rate"] * 100, 2))
            trend["unrated"].append(g["unrated"] if g else 0)
            d += timedelta(days=1)
        params = {"from": from_.isoformat(), "to": to.isoformat(),
                  **{k: v for k, v in f.items() if v}, "include_misuse": "1" if include_misuse else "0"}
        return render(request, "overview.html", user=user, doc=doc, by_day=by_day, group_by=group_by,
                      include_misuse=include_misuse, from_=from_, to=to, f=f, sections=all_sections,
                      trend=trend, error=error, export_qs=urlencode(params),
                      export_group_qs=urlencode({**params, "group_by": group_by}))

    # --- ratings -------------------------------------------------------------------------

    @router.get("/ratings")
    def ratings_page(request: Request):
        user = current_user(request)
        if user is None:
            return to_login(request)
        from_, to, error = date_range(request, default_days=7)
        f = filters(request)
        q = request.query_params
        sat = q.get("satisfaction")
        satisfaction = int(sat) if sat in ("1", "2", "3", "4", "5") else None
        include_misuse = q.get("include_misuse", "1") == "1"
        try:
            page = max(1, min(int(q.get("page", "1")), 100000))
        except ValueError:
            page = 1
        with engine.connect() as conn:
            total, rows = stats_mod.list_ratings(
                conn, from_, to, satisfaction=satisfaction, include_misuse=include_misuse,
                limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, show_phone=user.may("see_phone"), **f)
            all_sections = sections(conn)
        params = {"from": from_.isoformat(), "to": to.isoformat(), **{k: v for k, v in f.items() if v},
                  **({"satisfaction": str(satisfaction)} if satisfaction else {}),
                  "include_misuse": "1" if include_misuse else "0"}
        pages = max(1, -(-total // PAGE_SIZE))
        return render(request, "ratings.html", user=user, rows=rows, total=total, page=page, pages=pages,
                      from_=from_, to=to, f=f, satisfaction=satisfaction, include_misuse=include_misuse,
                      sections=all_sections, error=error, qs=urlencode(params))

    # --- devices -----------------------------------------------------------------------------

    @router.get("/devices")
    def devices_page(request: Request):
        user = current_user(request)
        if user is None:
            return to_login(request)
        now = utcnow()
        stale_after = timedelta(seconds=3 * web["heartbeat_interval_seconds"])
        out = []
        with engine.connect() as conn:
            for r in conn.execute(sa.select(devices).order_by(devices.c.section, devices.c.window_no,
                                                              devices.c.device_id)):
                try:
                    state = json.loads(r.last_state) if r.last_state else {}
                except ValueError:
                    state = {}
                if not isinstance(state, dict):
                    state = {}
                hardware = state.get("hardware") if isinstance(state.get("hardware"), dict) else {}
                faults = sorted(name for name, h in hardware.items() if isinstance(h, dict) and h.get("ok") is False)
                revoked = r.revoked_at is not None or r.token_hash is None
                if revoked:
                    status = "revoked"
                elif r.last_seen_at is None:
                    status = "never"
                elif now - r.last_seen_at > stale_after:
                    status = "stale"
                elif faults or state.get("sync_stopped") or (state.get("rejected") or 0) > 0:
                    status = "faulty"
                else:
                    status = "ok"
                out.append({"row": r, "state": state, "hardware": hardware, "faults": faults,
                            "status": status,
                            "seen_ago": None if r.last_seen_at is None else int((now - r.last_seen_at).total_seconds())})
            alerts = outbox_status(conn)
        order = {"faulty": 0, "stale": 1, "never": 2, "ok": 3, "revoked": 4}
        out.sort(key=lambda d: order[d["status"]])  # the ones that need a technician first
        counts = {s: sum(1 for d in out if d["status"] == s) for s in ("ok", "faulty", "stale", "never", "revoked")}
        return render(request, "devices.html", user=user, devices=out, counts=counts, alerts=alerts,
                      alerts_enabled=bool(_alerts["enabled"] and _alerts["url"]),
                      stale_seconds=int(stale_after.total_seconds()))

    # --- cases --------------------------------------------------------------------------------

    deadlines = settings.deadlines

    @router.get("/cases")
    def cases_page(request: Request):
        user = current_user(request)
        if user is None:
            return to_login(request)
        q = request.query_params
        f = filters(request)
        view = q.get("view") if q.get("view") in cases_mod.VIEWS else "action"
        state = q.get("state") if q.get("state") in cases_mod.STATES else None
        overdue = {"1": True, "0": False}.get(q.get("overdue", ""))
        try:
            page = max(1, min(int(q.get("page", "1")), 100000))
        except ValueError:
            page = 1
        with engine.connect() as conn:
            ctx = case_forms.list_context(conn, user, view=view, state=state, overdue=overdue, filters=f,
                                          deadlines=deadlines, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
            all_sections = sections(conn)
        params = {"view": view, **{k: v for k, v in f.items() if v}, **({"state": state} if state else {}),
                  **({"overdue": q.get("overdue")} if overdue is not None else {})}
        return render(request, "cases.html", user=user, page=page, pages=max(1, -(-ctx["total"] // PAGE_SIZE)),
                      f=f, state=state, overdue=overdue, sections=all_sections, qs=urlencode(params), **ctx)

    def case_view(request: Request, user: User, case_id: int, *, status: int = 200, error: str | None = None,
                  draft: dict[str, str] | None = None):
        with engine.connect() as conn:
            ctx = case_forms.case_context(conn, case_id, user, deadlines=deadlines)
        if ctx is None:
            return render(request, "error.html", user=user, status=404, title="404",
                          message=f"no case {case_id}")
        return render(request, "case.html", user=user, status=status, error=error, draft=draft or {}, **ctx)

    @router.get("/cases/{case_id:int}")
    def case_page(request: Request, case_id: int):
        user = current_user(request)
        if user is None:
            return to_login(request)
        return case_view(request, user, case_id)

    async def case_form(request: Request, case_id: int):
        """The user and the form of a case post, or the page that refuses it."""
        user = current_user(request)
        if user is None:
            return None, None, to_login(request)
        _ = i18n.translator(i18n.pick(request)[0])
        if not user.may("act"):
            return user, None, forbidden(request, user, _("只有主管可以处理差评工单。",
                                                          "Only supervisors may act on cases."))
        data = await request.form()
        token = data.get(csrf.FIELD)
        if not csrf.valid(request, request.cookies.get(SESSION_COOKIE), token if isinstance(token, str) else None):
            return user, None, forbidden(request, user, _("表单已过期，请刷新页面后重试。",
                                                          "The form expired; reload the page."))
        return user, data, None

    def refused(request: Request, user: User, case_id: int, exc: Exception, draft: dict[str, str] | None = None):
        if isinstance(exc, cases_mod.CaseNotFound):
            return render(request, "error.html", user=user, status=404, title="404", message=f"no case {case_id}")
        lang = i18n.pick(request)[0]
        return case_view(request, user, case_id, status=getattr(exc, "status", 400),
                         error=case_forms.zh_error(exc, lang), draft=draft)

    @router.post("/cases/{case_id:int}/transition")
    async def case_transition(request: Request, case_id: int):
        user, data, stop = await case_form(request, case_id)
        if stop is not None:
            return stop
        body = case_forms.transition_body(data)
        try:
            cases_mod.transition(engine, case_id, body, actor=user.username, role=user.role, now=utcnow(),
                                 deadlines=deadlines)
        except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
            return refused(request, user, case_id, exc,
                           {body["to"]: body["note"], "due_date": body.get("due_date", "")})
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    @router.post("/cases/{case_id:int}/followups")
    async def case_followup(request: Request, case_id: int):
        user, data, stop = await case_form(request, case_id)
        if stop is not None:
            return stop
        try:
            cases_mod.add_followup(engine, case_id, case_forms.followup_body(data, tz), actor=user.username,
                                   role=user.role, now=utcnow())
        except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
            return refused(request, user, case_id, exc)
        return RedirectResponse(f"/cases/{case_id}#followups", status_code=303)

    @router.post("/cases/{case_id:int}/attachments")
    async def case_upload(request: Request, case_id: int):
        user, data, stop = await case_form(request, case_id)
        if stop is not None:
            return stop
        upload = data.get("file")
        if upload is None or isinstance(upload, str):
            return refused(request, user, case_id, attachments_mod.AttachmentError("the file is empty: choose one"))
        content = await upload.read(attachments_mod.MAX_BYTES + 1)
        try:
            attachments_mod.store(engine, case_id, upload.filename, upload.content_type, content,
                                  actor=user.username, now=utcnow())
        except attachments_mod.AttachmentError as exc:
            if exc.status == 404:
                return refused(request, user, case_id, cases_mod.CaseNotFound(str(exc)))
            lang = i18n.pick(request)[0]
            msg = str(exc) if lang == "en" else "附件只接受不超过 10 MB 的 PDF、PNG 或 JPEG 文件。"
            return case_view(request, user, case_id, status=exc.status, error=msg)
        return RedirectResponse(f"/cases/{case_id}#attachments", status_code=303)

    # --- the public board ----------------------------------------------------------------------

    @router.get("/board")
    def board(request: Request):
        user = None
        if not settings.public_stats:
            user = current_user(request)
            if user is None:
                return to_login(request)
        period = request.query_params.get("period", "month")
        if period not in ("today", "month", "year"):
            period = "month"
        to = today()
        from_ = {"today": to, "month": to.replace(day=1), "year": to.replace(month=1, day=1)}[period]
        with engine.connect() as conn:
            doc = stats_mod.query(conn, from_, to, group_by="section")
        resp = render(request, "board.html", user=None, doc=doc, period=period, from_=from_, to=to,
                      refresh=int(web["board_refresh_seconds"]), now=utcnow())
        return resp

    # --- exports ------------------------------------------------------------------------------

    def export_args(request: Request, misuse_default: bool):
        """Filters of an export; misuse-flagged ratings are listed by default (flagged, like
        ``GET /api/v1/ratings``) but left out of statistics (like ``GET /api/v1/stats``)."""
        from_, to, _err = date_range(request)
        q = request.query_params
        sat = q.get("satisfaction")
        misuse = {"1": True, "true": True, "0": False, "false": False}.get(q.get("include_misuse", ""),
                                                                          misuse_default)
        return from_, to, filters(request), int(sat) if sat in ("1", "2", "3", "4", "5") else None, misuse

    def download(body: bytes, media: str, name: str, truncated: bool = False) -> Response:
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
        if truncated:
            headers["X-Export-Truncated"] = f"at most {exports.MAX_ROWS} rows"
        return Response(body, media_type=media, headers=headers)

    XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    @router.get("/export/ratings.{fmt}")
    def export_ratings(request: Request, fmt: str):
        user = current_user(request, allow_bearer=True)
        if user is None:
            return JSONResponse({"error": "log in first"}, status_code=401)
        if fmt not in ("csv", "xlsx"):
            return JSONResponse({"error": "format: csv or xlsx"}, status_code=404)
        from_, to, f, sat, include_misuse = export_args(request, True)
        with engine.connect() as conn:
            total, rows = stats_mod.list_ratings(conn, from_, to, satisfaction=sat, include_misuse=include_misuse,
                                                 limit=exports.MAX_ROWS, offset=0,
                                                 show_phone=user.may("see_phone"), **f)
        table = exports.rating_rows(rows)
        name = f"ratings_{from_}_{to}.{fmt}"
        if fmt == "csv":
            return download(exports.to_csv(stats_mod.RATING_COLUMNS, table), "text/csv; charset=utf-8", name,
                            total > len(rows))
        return download(exports.to_xlsx("ratings", stats_mod.RATING_COLUMNS, table,
                                        note=f"{from_} .. {to}, {len(rows)} of {total} ratings"),
                        XLSX, name, total > len(rows))

    @router.get("/export/stats.{fmt}")
    def export_stats(request: Request, fmt: str):
        user = current_user(request, allow_bearer=True)
        if user is None and not settings.public_stats:
            return JSONResponse({"error": "log in first"}, status_code=401)
        if fmt not in ("csv", "xlsx"):
            return JSONResponse({"error": "format: csv or xlsx"}, status_code=404)
        from_, to, f, _sat, include_misuse = export_args(request, False)
        gb = request.query_params.get("group_by")
        group_by = gb if gb in ("section", "window", "staff", "day") else "section"
        with engine.connect() as conn:
            doc = stats_mod.query(conn, from_, to, group_by=group_by, include_misuse=include_misuse, **f)
        rows = exports.stats_rows(doc)
        name = f"stats_{group_by}_{from_}_{to}.{fmt}"
        if fmt == "csv":
            return download(exports.to_csv(exports.STATS_COLUMNS, rows), "text/csv; charset=utf-8", name)
        return download(exports.to_xlsx("stats", exports.STATS_HEADER_ZH, rows,
                                        note=f"{from_} .. {to}, group_by={group_by}"), XLSX, name)

    @router.get("/export/national.json")
    def export_national(request: Request):
        user = current_user(request, allow_bearer=True)
        if user is None:
            return JSONResponse({"error": "log in first"}, status_code=401)
        from_, to, f, sat, _misuse = export_args(request, False)
        area = _opt(request.query_params.get("area_code"), 12) or web["area_code"]
        with engine.connect() as conn:
            total, rows = stats_mod.list_ratings(conn, from_, to, satisfaction=sat, include_misuse=False,
                                                 limit=exports.MAX_ROWS, offset=0,
                                                 show_phone=user.may("see_phone"), **f)
        rows = [r for r in rows if r["case_state"] != "invalid"]
        body = exports.national(rows, area_code=area, tz=tz)
        return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"),
                        media_type="application/json; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="national_{from_}_{to}.json"',
                                 "Cache-Control": "no-store",
                                 **({"X-Export-Truncated": str(exports.MAX_ROWS)} if total > exports.MAX_ROWS
                                    else {})})

    return router
