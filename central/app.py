"""The HTTP API (DESIGN §4): FastAPI app factory :func:`create_app`.

Devices authenticate with a bearer device token; people with a session token
from ``POST /api/v1/login`` (bearer or the ``kiosk_session`` cookie). The
aggregates (``/api/v1/stats``, unless ``public_stats = false``), ``/healthz``
and ``/metrics`` are public; everything else needs a login or a device token.
"""


import csv
import io
import json
import logging
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import AfterValidator, BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import auth
from . import stats as stats_mod
from .auth import User, utcnow
from .config import Settings
from .db import devices, engine_for, is_sqlite, write_tx
from .ingest import BatchError, BodyReader, count_statuses, ingest, parse_batch
from .metrics import new_metrics

log = logging.getLogger("central")

COOKIE = "kiosk_session"


def rfc3339(t: datetime | None) -> str | None:
    """Naive UTC as ``2026-12-01T08:15:02.123Z``."""
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# --- API models (the OpenAPI schema) --------------------------------------------



def _text(value: str) -> str:
    """Refuse text the database cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_text)]

class ErrorOut(BaseModel):
    error: str
    detail: Any = None


class EventResult(BaseModel):
    id: Any = Field(description="the event id as sent")
    status: Literal["accepted", "duplicate", "rejected"]
    error: str | None = Field(None, description="why it was rejected; names the field")


class BatchOut(BaseModel):
    server_time: str
    results: list[EventResult]


_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_COMMON = {
    "id": {"type": "string", "description": "uuid4 made on the device"},
    "created_at": {"type": "string", "description": "RFC 3339 UTC, e.g. 2026-12-01T08:15:02.123Z"},
    "clock_synced": {"type": "boolean"},
    "boot_id": _STR,
    "mono_ms": {"type": "integer", "minimum": 0},
}
BATCH_SCHEMA = {
    "type": "object",
    "required": ["schema", "device_id", "sent_at", "boot_id", "sent_mono_ms", "events"],
    "properties": {
        "schema": {"type": "integer", "enum": [1]},
        "device_id": _STR,
        "sent_at": _STR,
        "boot_id": _STR,
        "sent_mono_ms": {"type": "integer", "minimum": 0},
        "events": {"type": "array", "maxItems": 500, "items": {"oneOf": [
            {"type": "object", "title": "rating",
             "required": list(_COMMON) + ["type", "satisfaction", "source", "channel", "window_no",
                                          "section", "staff_no", "staff_name", "misuse"],
             "properties": {**_COMMON, "type": {"type": "string", "enum": ["rating"]},
                            "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5,
                                             "description": "wire order: 5 = 非常满意 … 1 = 非常不满意"},
                            "source": {"type": "string", "enum": ["touch", "gpio", "serial", "keyboard",
                                                                  "api", "console", "simulated"]},
                            "channel": {"type": "integer", "minimum": 1, "maximum": 7},
                            "window_no": _STR, "section": _STR, "staff_no": _STR, "staff_name": _STR,
                            "project_no": _NSTR, "ticket_no": _NSTR, "prompt_id": _NSTR,
                            "misuse": {"type": "boolean"}}},
            {"type": "object", "title": "rating_detail",
             "required": list(_COMMON) + ["type", "rating_id", "reasons"],
             "properties": {**_COMMON, "type": {"type": "string", "enum": ["rating_detail"]},
                            "rating_id": _STR, "reasons": {"type": "array", "items": _STR},
                            "comment": _NSTR, "phone": _NSTR}},
            {"type": "object", "title": "unrated",
             "required": list(_COMMON) + ["type", "prompt_id", "staff_no"],
             "properties": {**_COMMON, "type": {"type": "string", "enum": ["unrated"]},
                            "prompt_id": _NSTR, "project_no": _NSTR, "ticket_no": _NSTR,
                            "staff_no": _STR, "staff_name": _STR, "window_no": _STR, "section": _STR,
                            "channel": {"type": "integer", "minimum": 1, "maximum": 7}}},
        ]}},
    },
}


class HeartbeatOut(BaseModel):
    server_time: str
    settings: dict[str, Any]


class EnrollIn(BaseModel):
    code: Text = Field(min_length=1, max_length=64)


class EnrollOut(BaseModel):
    device_id: str
    token: str
    window: str
    section: str
    staff_no: str
    server_time: str


class LoginIn(BaseModel):
    username: Text = Field(min_length=1, max_length=64)
    password: Text = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    username: str
    role: str
    expires_at: str


class Health(BaseModel):
    status: str
    db: str
    server_time: str


_AUTH_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


# --- the app ---------------------------------------------------------------------

class RequestTiming:
    """Request latency by route into the metrics (a plain ASGI middleware: it
    adds nothing to the request path but two clock reads)."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            self.metrics.observe(time.perf_counter() - start, route=getattr(route, "path", "other"),
                                 method=scope.get("method", ""))


def create_app(settings: Settings) -> FastAPI:
    """Build the app for ``settings`` (the database must be migrated already;
    ``kiosk server`` does that before it starts)."""
    engine = engine_for(settings.db)
    tz = settings.tz
    metrics = new_metrics()
    app = FastAPI(title="好差评 central server", version="1", docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics

    def error(status: int, message: str, headers: dict | None = None, detail: Any = None) -> JSONResponse:
        return JSONResponse({"error": message, "detail": detail if detail is not None else message},
                            status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where}: {e.get('msg')}")
        return error(400, "; ".join(problems) or "malformed request")

    @app.exception_handler(sa.exc.OperationalError)
    async def _db_down(request: Request, exc: sa.exc.OperationalError):
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return error(503, "the database is unavailable, retry later", headers={"Retry-After": "5"})

    app.add_middleware(RequestTiming, metrics=metrics)

    # --- who is calling -------------------------------------------------------

    def bearer(request: Request) -> str | None:
        value = request.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    def current_user(request: Request) -> User | None:
        tokens = [t for t in (bearer(request), request.cookies.get(COOKIE)) if t]
        if not tokens:
            return None
        with engine.connect() as conn:
            for token in tokens:
                user = auth.user_for_token(conn, token)
                if user is not None:
                    return user
        return None

    def need(action: str):
        def dep(request: Request) -> User:
            user = current_user(request)
            if user is None:
                raise HTTPException(401, "log in first (POST /api/v1/login)",
                                    headers={"WWW-Authenticate": "Bearer"})
            if not user.may(action):
                raise HTTPException(403, f"the role {user.role!r} may not do this")
            return user
        return dep

    def device_from(request: Request) -> auth.DeviceIdentity:
        token = bearer(request)
        if not token:
            raise HTTPException(401, "missing device token (Authorization: Bearer …)",
                                headers={"WWW-Authenticate": "Bearer"})
        with engine.connect() as conn:
            dev = auth.device_for_token(conn, token)
        if dev is None:
            raise HTTPException(401, "unknown or revoked device token", headers={"WWW-Authenticate": "Bearer"})
        return dev

    def stats_reader(request: Request) -> User | None:
        if settings.public_stats:
            return None
        return need("read")(request)

    # --- health and metrics ---------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness and database reachability."""
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return Health(status="ok", db="ok", server_time=rfc3339(utcnow()))

    @app.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
    def metrics_text() -> str:
        """Prometheus text format: batches, events by status, rejected reasons, latency."""
        return metrics.render()

    # --- devices ----------------------------------------------------------------

    @app.post("/api/v1/batches", tags=["devices"], response_model=BatchOut,
              responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                         413: {"model": ErrorOut}, 415: {"model": ErrorOut}, 503: {"model": ErrorOut}},
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": BATCH_SCHEMA}}}})
    async def post_batch(request: Request):
        """Upload up to 500 events; one result per event, in order (DESIGN §4)."""
        received_at = utcnow()
        try:
            dev = await run_in_threadpool(device_from, request)
        except HTTPException as exc:
            metrics.inc("kiosk_batches_total", status=str(exc.status_code))
            raise
        if inflight[0] >= settings.max_inflight_batches:
            # shed load (e.g. a whole fleet uploading its backlog after an outage) instead of queueing
            metrics.inc("kiosk_batches_total", status="503")
            return error(503, "busy: too many batches in progress, retry later",
                         headers={"Retry-After": str(random.randint(2, 10))})
        inflight[0] += 1
        try:
            return await _post_batch(request, dev, received_at)
        finally:
            inflight[0] -= 1

    inflight = [0]

    async def _post_batch(request: Request, dev: auth.DeviceIdentity, received_at: datetime):
        t_total = time.perf_counter()
        try:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
                raise BatchError(413, f"body larger than {settings.max_body_bytes} bytes: split the batch")
            reader = BodyReader(settings.max_body_bytes, request.headers.get("content-encoding"))
            async for chunk in request.stream():
                reader.feed(chunk)
            batch = parse_batch(reader.finish(), settings.max_batch_events)
        except BatchError as exc:
            metrics.inc("kiosk_batches_total", status=str(exc.status))
            return error(exc.status, exc.message)
        if batch["device_id"] != dev.device_id:
            metrics.inc("kiosk_batches_total", status="403")
            return error(403, f"device_id {batch['device_id']!r} is not the device of this token")
        t_ingest = time.perf_counter()
        results = await run_in_threadpool(
            ingest_with_retry, dev, batch, received_at)
        t_ingest = time.perf_counter() - t_ingest
        metrics.inc("kiosk_batches_total", status="200")
        for status, n in count_statuses(results).items():
            if n:
                metrics.inc("kiosk_events_total", n, status=status)
        for r in results:
            if r.status == "rejected" and r.error:
                metrics.inc("kiosk_events_rejected_total", reason=r.error.split(":", 1)[0][:32])
        return JSONResponse({"server_time": rfc3339(received_at), "results": [r.to_json() for r in results]},
                            headers={"Server-Timing": f"ingest;dur={t_ingest * 1000:.1f}, "
                                                      f"total;dur={(time.perf_counter() - t_total) * 1000:.1f}"})

    def ingest_with_retry(dev, batch, received_at):
        for attempt in range(4):
            try:
                return ingest(engine, dev, batch, received_at=received_at, tz=tz,
                              rectify_days=settings.deadlines)
            except sa.exc.DBAPIError as exc:
                # PostgreSQL deadlock / serialization failure between concurrent writers
                code = getattr(getattr(exc, "orig", None), "sqlstate", None)
                if code not in ("40P01", "40001") or attempt == 3:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @app.post("/api/v1/heartbeat", tags=["devices"], response_model=HeartbeatOut,
              responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 413: {"model": ErrorOut}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"type": "object", "additionalProperties": True,
                             "description": "device state: version, pending, rejected, oldest_pending_age_s, "
                                            "last_sync_ok_at, clock_synced, disk_free_bytes, hardware, uptime_s"}}}}})
    async def heartbeat(request: Request):
        """Store the device's latest state and its last-seen time."""
        dev = await run_in_threadpool(device_from, request)
        try:
            reader = BodyReader(65536, request.headers.get("content-encoding"))
            async for chunk in request.stream():
                reader.feed(chunk)
            body = reader.finish()
        except BatchError as exc:
            return error(exc.status, exc.message)
        try:
            state = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return error(400, "the body is not UTF-8 JSON")
        if not isinstance(state, dict):
            return error(400, "the body must be a JSON object")
        if "device_id" in state and state["device_id"] != dev.device_id:
            return error(403, "device_id is not the device of this token")
        now = utcnow()

        def store_and_answer():
            with write_tx(engine) as conn:
                if not is_sqlite(engine):  # a lost heartbeat is harmless: no fsync wait for it
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                conn.execute(devices.update().where(devices.c.device_id == dev.device_id).values(
                    last_seen_at=now, last_state=json.dumps(state, ensure_ascii=True)))
                return remote_mod.for_heartbeat(conn, dev.device_id)
        device_settings = await run_in_threadpool(store_and_answer)
        metrics.inc("kiosk_heartbeats_total")
        return {"server_time": rfc3339(now), "settings": device_settings}

    @app.post("/api/v1/enroll", tags=["devices"], response_model=EnrollOut,
              responses={400: {"model": ErrorOut}, 403: {"model": ErrorOut}})
    def enroll(body: EnrollIn):
        """Redeem a one-time enrolment code for the device id and a fresh token."""
        got = auth.redeem_enroll_code(engine, body.code)
        if got is None:
            raise HTTPException(403, "the enrolment code is unknown, used or expired")
        dev, token = got
        return EnrollOut(device_id=dev.device_id, token=token, window=dev.window_no, section=dev.section,
                         staff_no=dev.staff_no, server_time=rfc3339(utcnow()))

    @app.get("/api/v1/devices", tags=["devices"], responses=_AUTH_ERRORS)
    def list_devices(user: Annotated[User, Depends(need("read"))]) -> list[dict[str, Any]]:
        """Registered devices with their last heartbeat state."""
        with engine.connect() as conn:
            rows = conn.execute(sa.select(devices).order_by(devices.c.device_id)).all()
        return [{"device_id": r.device_id, "window": r.window_no, "section": r.section,
                 "staff_no": r.staff_no, "revoked": r.revoked_at is not None or r.token_hash is None,
                 "last_seen_at": rfc3339(r.last_seen_at),
                 "state": json.loads(r.last_state) if r.last_state else None} for r in rows]

    # --- people -----------------------------------------------------------------

    max_failures = int(settings.web.get("login_max_failures", 5))
    window = timedelta(minutes=float(settings.web.get("login_window_minutes", 15.0)))

    def login_blocked(username: str, ip: str, now: datetime) -> bool:
        """Too many failed logins for this name (or, looser, this address) lately;
        counted together with the web login page."""
        from .web.tables import login_attempts

        with engine.connect() as conn:
            for key, limit in ((f"u:{username.lower()}", max_failures), (f"ip:{ip}", 4 * max_failures)):
                n = conn.execute(sa.select(sa.func.count()).where(
                    login_attempts.c.key == key[:128], login_attempts.c.at > now - window)).scalar_one()
                if n >= limit:
                    return True
        return False

    def login_failed(username: str, ip: str, now: datetime) -> None:
        from .web.tables import login_attempts

        with write_tx(engine) as conn:
            conn.execute(login_attempts.delete().where(login_attempts.c.at < now - window))
            conn.execute(login_attempts.insert(), [{"key": f"u:{username.lower()}"[:128], "at": now},
                                                   {"key": f"ip:{ip}"[:128], "at": now}])

    @app.post("/api/v1/login", tags=["users"], response_model=LoginOut,
              responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}})
    def login(body: LoginIn, request: Request, response: Response):
        """Password login: a bearer token for integrations and a session cookie for pages.
        Repeated failures for a name are refused for a while (429)."""
        now = utcnow()
        ip = request.client.host if request.client else "-"
        if login_blocked(body.username, ip, now):
            raise HTTPException(429, "too many failed logins; try again later",
                                headers={"Retry-After": str(int(window.total_seconds()))})
        got = auth.login(engine, body.username, body.password, settings.session_hours)
        if got is None:
            login_failed(body.username, ip, now)
            raise HTTPException(401, "wrong username or password")
        user, token, expires = got
        response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=settings.cookie_secure,
                            max_age=int(settings.session_hours * 3600), path="/")
        return LoginOut(token=token, username=user.username, role=user.role, expires_at=rfc3339(expires))

    @app.post("/api/v1/logout", tags=["users"], status_code=204)
    def logout(request: Request):
        """End the session of the bearer token or cookie."""
        token = bearer(request) or request.cookies.get(COOKIE)
        if token:
            auth.logout(engine, token)
        resp = Response(status_code=204)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/api/v1/me", tags=["users"], responses=_AUTH_ERRORS)
    def me(user: Annotated[User, Depends(need("read"))]) -> dict[str, str]:
        """Who the session belongs to."""
        return {"username": user.username, "role": user.role}

    # --- statistics ---------------------------------------------------------------

    @app.get("/api/v1/stats", tags=["statistics"], response_model=stats_mod.StatsOut,
             responses={400: {"model": ErrorOut}, **_AUTH_ERRORS})
    def get_stats(
        _user: Annotated[User | None, Depends(stats_reader)],
        from_: Annotated[date | None, Query(alias="from", description="first day, inclusive (server timezone)")] = None,
        to: Annotated[date | None, Query(description="last day, inclusive")] = None,
        section: Annotated[Text | None, Query(max_length=64)] = None,
        window: Annotated[Text | None, Query(max_length=32)] = None,
        staff_no: Annotated[Text | None, Query(max_length=32)] = None,
        group_by: Literal["section", "window", "staff", "day"] | None = None,
        include_misuse: bool = False,
    ):
        """评价数, 差评数, 差评未整改数, 好评率 and the five level counts (DESIGN §4)."""
        today = datetime.now(UTC).astimezone(tz).date()
        to = to or today
        from_ = from_ or to.replace(day=1)
        if from_ > to:
            raise HTTPException(400, "from: must not be after to")
        with engine.connect() as conn:
            return stats_mod.query(conn, from_, to, section=section, window=window, staff_no=staff_no,
                                   group_by=group_by, include_misuse=include_misuse)

    # --- ratings ---------------------------------------------------------------------

    @app.get("/api/v1/ratings", tags=["statistics"], responses={400: {"model": ErrorOut}, **_AUTH_ERRORS})
    def get_ratings(
        user: Annotated[User, Depends(need("read"))],
        from_: Annotated[date | None, Query(alias="from")] = None,
        to: date | None = None,
        section: Annotated[Text | None, Query(max_length=64)] = None,
        window: Annotated[Text | None, Query(max_length=32)] = None,
        staff_no: Annotated[Text | None, Query(max_length=32)] = None,
        satisfaction: Annotated[int | None, Query(ge=1, le=5)] = None,
        include_misuse: bool = True,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
        format: Literal["json", "csv"] = "json",
    ):
        """Single ratings with their reasons; phone numbers masked unless the role is admin."""
        with engine.connect() as conn:
            total, rows = stats_mod.list_ratings(
                conn, from_, to, section=section, window=window, staff_no=staff_no,
                satisfaction=satisfaction, include_misuse=include_misuse,
                limit=page_size if format == "json" else 100_000,
                offset=(page - 1) * page_size if format == "json" else 0,
                show_phone=user.may("see_phone"))
        if format == "csv":
            buf = io.StringIO()
            w = csv.writer(buf)
            cols = list(stats_mod.RATING_COLUMNS)
            w.writerow(cols)
            for r in rows:
                w.writerow([" ".join(r[c]) if isinstance(r[c], list) else ("" if r[c] is None else r[c])
                            for c in cols])
            return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="ratings.csv"'})
        return {"total": total, "page": page, "page_size": page_size, "ratings": rows}

    # --- cases -------------------------------------------------------------------------

    from .api.routes import cases as case_routes
    app.include_router(case_routes.build_router(engine, need, settings.deadlines))

    from . import remote as remote_mod
    app.include_router(remote_mod.build_router(engine, need, device_from))

    from .web import include_web
    include_web(app, settings)
    return app
