"""``POST /api/v1/batches``: a device uploads its events (docs/api.md).

The body is read first, under its deadline (``[server] body_timeout_seconds``
per MiB) and outside the batch slots, so a client that trickles or stalls its
body holds no slot; only then does the batch take one of
``max_inflight_batches`` slots (503 + Retry-After when none is free).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel, Field

from ...auth import DeviceIdentity, utcnow
from ...heartbeats import device_for_token
from ...ingest import ingest_with_retry
from ...throttle import BatchSlots
from ...timefmt import rfc3339
from ...wire import BATCH_SCHEMA, BatchError, count_statuses, parse_batch
from ..body import JSONRoute, read_body
from ..deps import bearer, device_from, get_engine, get_settings
from ..errors import error
from ..models import errors

router = APIRouter(tags=["devices"], route_class=JSONRoute)


class EventResult(BaseModel):
    id: Any = Field(description="the event id as sent")
    status: Literal["accepted", "duplicate", "rejected"]
    error: str | None = Field(None, description="why it was rejected; names the field")


class BatchOut(BaseModel):
    server_time: str
    results: list[EventResult]


def _slots(request: Request) -> BatchSlots:
    state = request.app.state
    if not hasattr(state, "batch_slots"):
        pool = get_engine(request).pool
        # a QueuePool's most connections: its size and the overflow it may open beyond
        connections = pool.size() + getattr(pool, "_max_overflow", 0) if hasattr(pool, "size") else None
        state.batch_slots = BatchSlots(get_settings(request).max_inflight_batches, connections)
    return state.batch_slots


@router.post("/api/v1/batches", response_model=BatchOut, responses=errors(400, 401, 403, 408, 413, 415, 503),
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/json": {"schema": BATCH_SCHEMA}}}})
async def post_batch(request: Request):
    """Upload up to 500 events; one result per event, in order (docs/api.md)."""
    received_at = utcnow()
    settings = get_settings(request)
    metrics = request.app.state.metrics
    dev = await run_in_threadpool(device_for_token, get_engine(request), bearer(request))
    if dev is None:
        try:  # the 401 that says why (missing, unknown or revoked token)
            dev = await run_in_threadpool(device_from, request)
        except HTTPException as exc:
            metrics.inc("kiosk_batches_total", status=str(exc.status_code))
            raise
    try:
        body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
    except BatchError as exc:
        metrics.inc("kiosk_batches_total", status=str(exc.status))
        return error(exc.status, exc.message)
    slots = _slots(request)
    if not slots.take():
        # shed load (e.g. a whole fleet uploading its backlog after an outage) instead of queueing
        metrics.inc("kiosk_batches_total", status="503")
        return error(503, "busy: too many batches in progress, retry later",
                     headers={"Retry-After": str(slots.retry_after())})
    try:
        return await _process(request, dev, body, received_at)
    finally:
        slots.release()


async def _process(request: Request, dev: DeviceIdentity, body: bytes, received_at: datetime):
    t_total = time.perf_counter()
    settings = get_settings(request)
    metrics = request.app.state.metrics
    try:
        batch = await run_in_threadpool(parse_batch, body, settings.max_batch_events)
    except BatchError as exc:
        metrics.inc("kiosk_batches_total", status=str(exc.status))
        return error(exc.status, exc.message)
    if batch["device_id"] != dev.device_id:
        metrics.inc("kiosk_batches_total", status="403")
        return error(403, f"device_id {batch['device_id']!r} is not the device of this token")
    t_ingest = time.perf_counter()
    results = await run_in_threadpool(ingest_with_retry, get_engine(request), dev, batch, received_at=received_at,
                                      tz=settings.tz, rectify_days=settings.deadlines)
    t_ingest = time.perf_counter() - t_ingest
    metrics.inc("kiosk_batches_total", status="200")
    for status, n in count_statuses(results).items():
        if n:
            metrics.inc("kiosk_events_total", n, status=status)
    for r in results:
        if r.status == "rejected" and r.error:
            metrics.inc("kiosk_events_rejected_total", reason=r.error.split(":", 1)[0][:32])
    return ORJSONResponse({"server_time": rfc3339(received_at), "results": [r.to_json() for r in results]},
                        headers={"Server-Timing": f"ingest;dur={t_ingest * 1000:.1f}, "
                                                  f"total;dur={(time.perf_counter() - t_total) * 1000:.1f}"})
