"""Reading a request body: under a size limit (gzip inflated as it arrives and
never past the limit), under a deadline (a client that trickles or stalls its
body gets 408 and holds nothing), and as JSON nested at most
:data:`central.wire.MAX_DEPTH` deep."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from ..wire import BatchError, loads

MIB = 1024 * 1024


class BodyReader:
    """Collects a request body chunk by chunk, inflating gzip as it goes and
    refusing (413) as soon as the decompressed size passes ``limit``: a gzip
    bomb is never inflated past the limit."""

    def __init__(self, limit: int, encoding: str | None):
        self.limit = limit
        self.total = 0
        self.parts: list[bytes] = []
        enc = (encoding or "identity").strip().lower()
        if enc in ("identity", ""):
            self._inflater = None
        elif enc in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._inflater = zlib.decompressobj()
        else:
            raise BatchError(415, f"Content-Encoding {encoding!r} is not supported: use gzip or none")
        self.raw = 0

    def _add(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise BatchError(413, f"body larger than {self.limit} bytes decompressed: split the batch")
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.limit:
            raise BatchError(413, f"body larger than {self.limit} bytes: split the batch")
        if self._inflater is None:
            self._add(chunk)
            return
        data = chunk
        try:
            while data and not self._inflater.eof:
                out = self._inflater.decompress(data, self.limit - self.total + 1)
                self._add(out)
                data = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise BatchError(400, f"the body is not valid gzip: {exc}") from None
        if self._inflater.eof and (data or self._inflater.unused_data):
            raise BatchError(400, "the body has data after the end of the gzip stream")

    def finish(self) -> bytes:
        if self._inflater is not None and not self._inflater.eof:
            raise BatchError(400, "the gzip body is truncated")
        return b"".join(self.parts)


def body_deadline(request: Request, limit: int, seconds_per_mib: float) -> float:
    """Seconds allowed for this body: ``seconds_per_mib`` for each MiB it
    declares (or for ``limit`` when it declares no length), at least one MiB's worth."""
    length = request.headers.get("content-length", "")
    size = int(length) if length.isdigit() else limit
    return seconds_per_mib * max(1.0, min(size, limit) / MIB)


async def read_body(request: Request, limit: int, seconds_per_mib: float) -> bytes:
    """The whole (inflated) body, or :class:`BatchError`: 413 larger than
    ``limit``, 415 an unknown Content-Encoding, 400 broken gzip, 408 not
    received within :func:`body_deadline`."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BatchError(413, f"body larger than {limit} bytes: split the batch")
    reader = BodyReader(limit, request.headers.get("content-encoding"))
    seconds = body_deadline(request, limit, seconds_per_mib)
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                reader.feed(chunk)
    except TimeoutError:
        raise BatchError(408, f"the request body did not arrive within {seconds:g} s: "
                              "check the connection and send it again") from None
    return reader.finish()


class JSONRequest(Request):
    """A request whose body is read by :func:`read_body` (size limit, deadline)
    and whose JSON is parsed by :func:`central.wire.loads` (bounded nesting)."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            settings = self.app.state.settings
            try:
                self._body = await read_body(self, settings.max_body_bytes, settings.body_timeout_seconds)
            except BatchError as exc:
                raise HTTPException(exc.status, exc.message) from None
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads(await self.body())
            except BatchError as exc:
                raise HTTPException(exc.status, exc.message) from None
        return self._json


class JSONRoute(APIRoute):
    """The API's route class: bodies read through :class:`JSONRequest`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request):
            return await handler(JSONRequest(request.scope, request.receive))
        return route
