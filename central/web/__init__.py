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


def include_web(app: Any, settings: Any) -> None:
    """Mount the pages, the static files, the security headers and (when
    ``[alerts]`` is enabled) the alert sender on ``app``."""
    from fastapi.staticfiles import StaticFiles

    from .alerts import AlertSender, AlertSettings
    from .routes import build_router, web_config

    engine = app.state.engine
    app.include_router(build_router(settings, engine))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.middleware("http")
    async def _security_headers(request, call_next):
        response = await call_next(request)
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/docs"):
            h.setdefault("Content-Security-Policy", CSP)
        return response

    _web, alerts = web_config(settings)
    cfg = AlertSettings.from_dict(alerts)
    if cfg.enabled and cfg.url:
        sender = AlertSender(engine, cfg, settings.tz)
        app.state.alert_sender = sender
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(a):
            sender.start()
            try:
                async with inner(a) as state:
                    yield state
            finally:
                await asyncio.to_thread(sender.stop)

        app.router.lifespan_context = lifespan
