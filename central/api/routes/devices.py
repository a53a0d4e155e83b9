"""Devices: the heartbeat, enrolment with a one-time code, the registry listing."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel, Field

from ... import auth, heartbeats
from ...auth import User, utcnow
from ...db import devices
from ...timefmt import rfc3339
from ...wire import BatchError, loads
from ..body import JSONRoute, read_body
from ..deps import EngineDep, bearer, device_from, get_engine, get_settings, need
from ..errors import error
from ..models import AUTH_ERRORS, Text, errors

router = APIRouter(tags=["devices"], route_class=JSONRoute, on_shutdown=heartbeats.ON_SHUTDOWN)
MAX_HEARTBEAT = 65536


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


@router.post("/api/v1/heartbeat", response_model=HeartbeatOut, responses=errors(400, 401, 403, 408, 413),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "additionalProperties": True,
                            "description": "device state: version, pending, rejected, oldest_pending_age_s, "
                                           "last_sync_ok_at, clock_synced, disk_free_bytes, hardware, uptime_s"}}}}})
async def heartbeat(request: Request):
    """Store the device's latest state and its last-seen time. (``kiosk server``
    answers the plainly good ones in :mod:`central.api.fastpath`, the same way.)"""
    settings = get_settings(request)
    engine = get_engine(request)
    found = await run_in_threadpool(heartbeats.lookup, engine, bearer(request), settings.hall_settings,
                                    settings.public_url)
    if found is None:
        await run_in_threadpool(device_from, request)  # the 401 that says why
        raise HTTPException(401, "unknown or revoked device token", headers={"WWW-Authenticate": "Bearer"})
    dev, device_settings = found
    try:
        state = loads(await read_body(request, MAX_HEARTBEAT, settings.body_timeout_seconds))
    except BatchError as exc:
        return error(exc.status, exc.message)
    if not isinstance(state, dict):
        return error(400, "the body must be a JSON object")
    if "device_id" in state and state["device_id"] != dev.device_id:
        return error(403, "device_id is not the device of this token")
    now = utcnow()
    await heartbeats.keep(request.app.state, engine, settings.heartbeat_flush_seconds, dev.device_id, now, state)
    request.app.state.metrics.inc("kiosk_heartbeats_total")
    return ORJSONResponse({"server_time": rfc3339(now), "settings": device_settings})


@router.post("/api/v1/enroll", response_model=EnrollOut, responses=errors(400, 403))
def enroll(body: EnrollIn, engine: EngineDep):
    """Redeem a one-time enrolment code for the device id and a fresh token."""
    got = auth.redeem_enroll_code(engine, body.code)
    if got is None:
        raise HTTPException(403, "the enrolment code is unknown, used or expired")
    dev, token = got
    return EnrollOut(device_id=dev.device_id, token=token, window=dev.window_no, section=dev.section,
                     staff_no=dev.staff_no, server_time=rfc3339(utcnow()))


@router.get("/api/v1/devices", responses=AUTH_ERRORS)
def list_devices(request: Request, user: Annotated[User, Depends(need("read"))],
                 engine: EngineDep) -> list[dict[str, Any]]:
    """Registered devices with their last heartbeat state."""
    heartbeats.flush_kept(request.app.state)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(devices).order_by(devices.c.device_id)).all()
    return [{"device_id": r.device_id, "window": r.window_no, "section": r.section,
             "staff_no": r.staff_no, "revoked": r.revoked_at is not None or r.token_hash is None,
             "last_seen_at": rfc3339(r.last_seen_at),
             "state": json.loads(r.last_state) if r.last_state else None} for r in rows]
