"""What every page shares: the templates, rendering (language, CSRF token,
security of the cookies), the redirect to the login page and the query
helpers. Who is logged in comes from :mod:`central.api.deps`, the same rule as
the API's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from kiosk.levels import LEVELS, REASON_BY_CODE

from ... import cases as cases_mod
from ...api import deps
from ...auth import User
from ...db import rollup_monthly
from .. import csrf, i18n

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATE_EN = cases_mod.STATE_EN
PAGE_SIZE = 50


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def opt(value: str | None, max_len: int = 64) -> str | None:
    value = (value or "").strip()
    return value[:max_len] if value else None


def ago(seconds: float | None, lang: str) -> str:
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


def _env(request: Request) -> jinja2.Environment:
    state = request.app.state
    if not hasattr(state, "web_env"):
        state.web_env = make_env(deps.get_settings(request).tz)
    return state.web_env


def user_of(request: Request) -> User | None:
    """The user of the session cookie (pages never take a bearer token)."""
    return deps.current_user(request, allow_bearer=False)


def today(request: Request) -> date:
    return datetime.now(UTC).astimezone(deps.get_settings(request).tz).date()


def render(request: Request, name: str, *, user: User | None = None, status: int = 200,
           **context: Any) -> HTMLResponse:
    lang, set_cookie = i18n.pick(request)
    token = request.cookies.get(deps.SESSION_COOKIE) if user is not None else None
    other = dict(request.query_params)
    other["lang"] = "en" if lang == "zh" else "zh"
    html = _env(request).get_template(name).render(
        request=request, user=user, lang=lang, _=i18n.translator(lang), path=request.url.path,
        csrf_token=csrf.token_for(token) if token else "", lang_switch="?" + urlencode(other),
        level_name=lambda lv: lv.en if lang == "en" else lv.zh,
        state_name=lambda s: STATE_EN.get(s, s) if lang == "en" else cases_mod.STATE_ZH.get(s, s),
        reason_name=lambda c: (REASON_BY_CODE[c].en if lang == "en" else REASON_BY_CODE[c].zh)
        if c in REASON_BY_CODE else c,
        ago=lambda seconds: ago(seconds, lang), **context)
    resp = HTMLResponse(html, status_code=status)
    if set_cookie:
        deps.set_cookie(resp, request, deps.LANG_COOKIE, lang, max_age=365 * 86400)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


def forbidden(request: Request, user: User | None, message: str) -> HTMLResponse:
    return render(request, "error.html", user=user, status=403, title="403", message=message)


def sections(conn) -> list[str]:
    # the monthly rollup has every section the daily one has, in ~30 times fewer rows
    return [s for s in conn.execute(sa.select(rollup_monthly.c.section).distinct()
                                    .order_by(rollup_monthly.c.section)).scalars() if s]


#: The range every page shows when none is asked for: the last 30 days, today included.
DEFAULT_DAYS = 30


def date_range(request: Request, default_days: int = DEFAULT_DAYS) -> tuple[date, date, str | None]:
    q = request.query_params
    to = _date(q.get("to")) or today(request)
    from_ = _date(q.get("from")) or to - timedelta(days=default_days - 1)
    error = None
    if from_ > to:
        error = "from > to"
        from_, to = to, from_
    if (to - from_).days > 3660:
        from_ = to - timedelta(days=3660)
    return from_, to, error


def filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {"section": opt(q.get("section")), "window": opt(q.get("window"), 32),
            "staff_no": opt(q.get("staff_no"), 32)}


def filter_params(f: dict[str, Any]) -> dict[str, str]:
    """The query string of the :func:`filters` (and a parsed ``source`` tuple) that are set,
    for the pager and the export links."""
    out = {k: v for k, v in f.items() if v and k != "source"}
    if f.get("source"):
        out["source"] = ",".join(f["source"])
    return out


def page_number(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 100000))
    except ValueError:
        return 1


async def form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}
