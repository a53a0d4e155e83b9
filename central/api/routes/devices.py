"""Devices: the heartbeat, enrolment with a one-time code, the registry listing."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ... import auth, remote
from ...auth import User, utcnow
from ...db import devices, is_sqlite, write_tx
from ...timefmt import rfc3339
from ...wire import BatchError, loads
from ..body import JSONRoute, read_body
from ..deps import EngineDep, device_from, get_engine, get_settings, need
from ..errors import error
from ..models import AUTH_ERRORS, Text, errors

router = APIRouter(tags=["devices"], route_class=JSONRoute)
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
    """Store the device's latest state and its last-seen time."""
    dev = await run_in_threadpool(device_from, request)
    try:
        state = loads(await read_body(request, MAX_HEARTBEAT, get_settings(request).body_timeout_seconds))
    except BatchError as exc:
        return error(exc.status, exc.message)
    if not isinstance(state, dict):
        return error(400, "the body must be a JSON object")
    if "device_id" in state and state["device_id"] != dev.device_id:
        return error(403, "device_id is not the device of this token")
    now = utcnow()
    engine = get_engine(request)

    def store_and_answer():
        with write_tx(engine) as conn:
            if not is_sqlite(engine):  # a lost heartbeat is harmless: no fsync wait for it
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            conn.execute(devices.update().where(devices.c.device_id == dev.device_id).values(
                last_seen_at=now, last_state=json.dumps(state, ensure_ascii=True)))
            return remote.for_heartbeat(conn, dev.device_id, get_settings(request).hall_settings,
                                        public_url=get_settings(request).public_url)
    device_settings = await run_in_threadpool(store_and_answer)
    request.app.state.metrics.inc("kiosk_heartbeats_total")
    return {"server_time": rfc3339(now), "settings": device_settings}


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
def list_devices(user: Annotated[User, Depends(need("read"))], engine: EngineDep) -> list[dict[str, Any]]:
    """Registered devices with their last heartbeat state."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(devices).order_by(devices.c.device_id)).all()
    return [{"device_id": r.device_id, "window": r.window_no, "section": r.section,
             "staff_no": r.staff_no, "revoked": r.revoked_at is not None or r.token_hash is None,
             "last_seen_at": rfc3339(r.last_seen_at),
             "state": json.loads(r.last_state) if r.last_state else None} for r in rows]
