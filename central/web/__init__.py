"""The central server's web pages: supervisors' dashboard, 差评 cases, devices,
exports, the public hall board, and webhook alerts.

:func:`include_web` adds them to the API app built by :func:`central.app.create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

STATIC = Path(__file__).with_name("static")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


#: The security headers of every response (the CSP is added beside them, :data:`CSP`).
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
                    ("X-Frame-Options", "DENY"))


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response, and the
    CSP (the API docs' own, a little looser for styles, under ``/docs``)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import MutableHeaders

        from ..api.docs import CSP as DOCS_CSP

        docs = scope.get("path", "").startswith("/docs")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    h.setdefault(name, value)
                h.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def include_web(app: Any, settings: Any) -> None:
    """Mount the pages, the static files, the security headers and (when
    ``[alerts]`` is enabled) the alert sender on ``app``."""
    from fastapi.staticfiles import StaticFiles

    from .alerts import AlertSender
    from .pages import ROUTERS

    engine = app.state.engine
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    app.add_middleware(SecurityHeaders)

    cfg = settings.alerts
    if cfg.enabled and cfg.url:
        app.state.alert_sender = AlertSender(engine, cfg, settings.tz)
        run_in_lifespan(app, app.state.alert_sender)
    if settings.province.enabled and settings.province.url:
        from ..province.worker import Pusher
        app.state.province_pusher = Pusher(engine, settings.province, settings.tz)
        run_in_lifespan(app, app.state.province_pusher)


def run_in_lifespan(app: Any, worker: Any) -> None:
    """Start ``worker`` (its ``start`` / ``stop``) with the app and stop it on shutdown."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        worker.start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            await asyncio.to_thread(worker.stop)

    app.router.lifespan_context = lifespan
