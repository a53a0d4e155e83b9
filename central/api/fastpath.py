"""The heartbeat's fast path: the common case answered beside the app's stack.

A fleet's load is mostly heartbeats (every device every 30 s), and most of the
CPU time of one went to the framework's layers around it (middlewares, routing,
the request objects), all on the one event-loop thread. :class:`HeartbeatFastPath`
wraps the app: a ``POST /api/v1/heartbeat`` with a device token and a
``Content-Length`` within the limit is read, looked up and answered here, with
the same answer, headers and metrics as the route in
:mod:`central.api.routes.devices`. Anything else, and every heartbeat that is not
plainly good (an unknown or revoked token, a body that is not a JSON object, a
``device_id`` of another device, a body that does not arrive in time), goes on to
the app with its body replayed, so the route gives its own answer and error.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import anyio.to_thread
import orjson
import sqlalchemy as sa

from .. import heartbeats
from ..auth import DEVICE_TOKEN_PREFIX, utcnow
from ..timefmt import rfc3339
from ..wire import BatchError, loads

PATH = "/api/v1/heartbeat"


def _replay(body: bytes, complete: bool, receive):
    """``receive`` that first gives back the body already read."""
    given = False

    async def again() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()
    return again


class HeartbeatFastPath:
    """ASGI middleware around the FastAPI app ``app`` (built by
    :func:`central.app.create_app`)."""

    def __init__(self, app: Any, max_body: int, threads: int = 4):
        self.app = app
        self.max_body = max_body
        self.threads = threads
        self.limiter: anyio.CapacityLimiter | None = None
        from ..web import CSP, SECURITY_HEADERS
        #: the route's answer headers: its JSON type and the security headers of central.web
        self.headers = [(b"content-type", b"application/json"),
                        *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS),
                        (b"content-security-policy", CSP.encode())]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        token, length = None, None
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                token = value[7:].decode("latin-1").strip()
            elif name == b"content-length" and value.isdigit():
                length = int(value)
            elif name == b"transfer-encoding":
                length = None
                break
        if not token or not token.startswith(DEVICE_TOKEN_PREFIX) or length is None or length > self.max_body:
            await self.app(scope, receive, send)
            return
        await self._heartbeat(scope, receive, send, token, length)

    async def _heartbeat(self, scope, receive, send, token: str, length: int) -> None:
        start = time.perf_counter()
        state_ = self.app.state
        settings, engine = state_.settings, state_.engine
        chunks: list[bytes] = []
        complete = False
        try:
            async with asyncio.timeout(settings.body_timeout_seconds):
                while not complete:
                    message = await receive()
                    if message["type"] != "http.request":
                        break  # the client went away: the app sees it too
                    chunks.append(message.get("body", b""))
                    complete = not message.get("more_body", False)
        except TimeoutError:
            pass
        body = b"".join(chunks)
        if not complete or len(body) != length:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(self.threads)
        try:
            found = await anyio.to_thread.run_sync(heartbeats.lookup, engine, token, settings.hall_settings,
                                                   settings.public_url, limiter=self.limiter)
        except sa.exc.DBAPIError:  # the database is away: the app's own answer (503 + Retry-After)
            found = None
        try:
            state = loads(body) if found is not None else None
        except BatchError:
            state = None
        if found is None or not isinstance(state, dict) or state.get("device_id", found[0].device_id) \
                != found[0].device_id:
            await self.app(scope, _replay(body, True, receive), send)
            return
        dev, device_settings = found
        now = utcnow()
        await heartbeats.keep(state_, engine, settings.heartbeat_flush_seconds, dev.device_id, now, state)
        state_.metrics.inc("kiosk_heartbeats_total")
        payload = orjson.dumps({"server_time": rfc3339(now), "settings": device_settings})
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(payload)).encode()), *self.headers]})
            await send({"type": "http.response.body", "body": payload})
        finally:
            state_.metrics.observe(time.perf_counter() - start, route=PATH, method="POST")
