"""The central server's app factory :func:`create_app` (DESIGN §4).

It only assembles: the routers of :mod:`central.api.routes` (one per resource,
sharing :mod:`central.api.deps`), the error answers, the request timing, the
API docs and the web pages. Devices authenticate with a bearer device token;
people with a session token from ``POST /api/v1/login`` (bearer or the
``kiosk_session`` cookie). The aggregates (``/api/v1/stats``, unless
``public_stats = false``), ``/healthz`` and ``/metrics`` are public;
everything else needs a login or a device token.
"""

from __future__ import annotations

from fastapi import FastAPI

from .api import docs, errors
from .api.routes import ROUTERS
from .config import Settings
from .db import engine_for
from .metrics import RequestTiming, new_metrics


def create_app(settings: Settings) -> FastAPI:
    """Build the app for ``settings`` (the database must be migrated already;
    ``kiosk server`` does that before it starts)."""
    app = FastAPI(title="好差评 central server", version="1", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine_for(settings.db)
    app.state.metrics = new_metrics()
    errors.install(app)
    app.add_middleware(RequestTiming, metrics=app.state.metrics)
    for router in ROUTERS:
        app.include_router(router)
    if settings.docs:
        docs.install(app)

    from .web import include_web
    include_web(app, settings)
    return app
