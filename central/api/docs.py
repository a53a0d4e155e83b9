"""``/docs``: the interactive API docs (Swagger UI) served from this server's
own files, never from a CDN, under a Content-Security-Policy.

The Swagger UI files (5.x, which reads OpenAPI 3.1) come from the
``fastapi-offline`` package (in the ``server`` extra); without it, or with
``[server] docs = false``, there is no ``/docs`` (the schema stays at
``/openapi.json``).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("central")

#: Swagger UI sets style attributes from its scripts, hence 'unsafe-inline' for styles only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} – API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="stylesheet" href="/docs/a11y.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon.png"></head>
<body><main id="swagger-ui" aria-label="API"></main>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body></html>
"""

START = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout", deepLinking: false});
"""

#: Swagger UI's colours darkened to WCAG AA contrast (white text on the method badges,
#: the version stamp, the schema address).
A11Y_CSS = """.swagger-ui .opblock-summary-method, .swagger-ui .version-stamp, .swagger-ui .info .title small pre
 { color: #fff; }
.swagger-ui .opblock.opblock-get .opblock-summary-method, .swagger-ui .info .title small.version-stamp
 { background: #2f6b00; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #16724a; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #8a4f00; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #b3261e; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #0d6b5a; }
.swagger-ui .opblock.opblock-head .opblock-summary-method { background: #6b2fa3; }
.swagger-ui .opblock.opblock-options .opblock-summary-method { background: #1f5f99; }
.swagger-ui .info .title small { background: #56606b; }
.swagger-ui .info a.link, .swagger-ui .info .url, .swagger-ui a.nostyle { color: #1f4f8f; }
.swagger-ui .opblock-tag small, .swagger-ui .opblock .opblock-summary-description { color: #3b4151; }
.swagger-ui .json-schema-2020-12-expand-deep-button, .swagger-ui .json-schema-2020-12__attribute--primitive,
.swagger-ui .json-schema-2020-12-keyword__value--secondary { color: #4a4a4a; }
"""


def assets_dir() -> str | None:
    """Where the Swagger UI files are, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec("fastapi_offline")
    except ValueError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    where = Path(list(spec.submodule_search_locations)[0]) / "static"
    return str(where) if (where / "swagger-ui-bundle.js").exists() else None


def install(app: FastAPI) -> bool:
    """Serve ``/docs`` from the local Swagger UI files; False when they are missing."""
    where = assets_dir()
    if where is None:
        log.info("/docs is off: the fastapi-offline package (Swagger UI files) is not installed")
        return False
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
    page = PAGE.format(title=app.title)
    app.mount("/docs/assets", StaticFiles(directory=where), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get("/docs/a11y.css", include_in_schema=False)
    def docs_css() -> Response:
        return Response(A11Y_CSS, media_type="text/css", headers=headers)

    @app.get("/docs/start.js", include_in_schema=False)
    def docs_start() -> Response:
        return Response(START, media_type="text/javascript", headers=headers)
    return True
