"""Every error answer is one JSON object with a one-line ``error`` (what, where,
what to do) and the same text or the details in ``detail``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("central")
_E = TypeVar("_E", bound=Exception)


def error(status: int, message: str, headers: dict | None = None, detail: Any = None) -> JSONResponse:
    """The error answer: ``{"error": message, "detail": …}``."""
    return JSONResponse({"error": message, "detail": detail if detail is not None else message},
                        status_code=status, headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        problems.append(f"{where}: {e.get('msg')}")
    return error(400, "; ".join(problems) or "malformed request")


async def _db_down(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc.orig).__name__)
    return error(503, "the database is unavailable, retry later", headers={"Retry-After": "5"})


def _on(app: FastAPI, exc_class: type[_E], handler: Callable[[Request, _E], Awaitable[Response]]) -> None:
    """``app.add_exception_handler`` with the handler's own exception type: Starlette
    types every handler as taking any Exception, though it calls one only with an
    instance of the class it was registered for."""
    app.add_exception_handler(exc_class, cast(Callable[[Request, Exception], Awaitable[Response]], handler))


def install(app: FastAPI) -> None:
    """Answer HTTP errors, invalid requests and an unreachable database as above."""
    _on(app, StarletteHTTPException, _http_error)
    _on(app, RequestValidationError, _validation_error)
    _on(app, sa.exc.OperationalError, _db_down)
