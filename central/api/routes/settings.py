"""Remote settings per device and the staff roster (:mod:`central.remote`)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response

from ... import remote
from ...auth import User
from ...wire import BatchError
from ..body import JSONRoute, read_body
from ..deps import EngineDep, device_from, get_settings, need

router = APIRouter(tags=["settings"], route_class=JSONRoute)

DeviceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")]
StaffNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9._-]{1,32}$")]
Reader = Annotated[User, Depends(need("read"))]
Actor = Annotated[User, Depends(need("act"))]


@router.get("/api/v1/devices/{device_id}/settings")
def read_settings(device_id: DeviceId, user: Reader, engine: EngineDep) -> dict[str, Any]:
    """A device's remote settings (version 0 when never set)."""
    with engine.connect() as conn:
        return remote.get_settings(conn, device_id)


@router.put("/api/v1/devices/{device_id}/settings", responses={400: {}, 404: {}})
def write_settings(device_id: DeviceId, body: Annotated[dict[str, Any], Body()], user: Actor,
                   engine: EngineDep) -> dict[str, Any]:
    """Replace a device's settings: window, section, staff_no, staff_name, mode,
    language, reasons_for, reasons ({"1": ["115", …]}). Applied at its next heartbeat."""
    try:
        return remote.put_settings(engine, device_id, body.get("settings", body), user.username)
    except remote.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/api/v1/staff")
def read_staff(user: Reader, engine: EngineDep) -> list[dict[str, Any]]:
    """The staff roster."""
    with engine.connect() as conn:
        return remote.list_staff(conn)


@router.put("/api/v1/staff/{staff_no}", status_code=204, responses={400: {}})
def write_staff(staff_no: StaffNo, body: Annotated[dict[str, Any], Body()], user: Actor, engine: EngineDep):
    """Add or rename a staff member: {"name": "李四"}."""
    name = body.get("name")
    if not isinstance(name, str):
        raise HTTPException(400, "name: expected a string")
    try:
        remote.put_staff(engine, staff_no, name)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return Response(status_code=204)


@router.put("/api/v1/staff/{staff_no}/photo", responses={400: {}, 404: {}, 408: {}, 413: {}})
async def write_photo(staff_no: StaffNo, request: Request, user: Actor, engine: EngineDep) -> dict[str, str]:
    """Upload the photo shown on the staff card (the body is the JPEG or PNG)."""
    try:
        data = await read_body(request, remote.MAX_PHOTO, get_settings(request).body_timeout_seconds)
    except BatchError as exc:
        raise HTTPException(exc.status, f"photo larger than {remote.MAX_PHOTO} bytes" if exc.status == 413
                            else exc.message) from None
    try:
        digest = remote.put_photo(engine, staff_no, data, request.headers.get("content-type", "").split(";")[0])
    except remote.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"sha256": digest}


@router.get("/api/v1/staff/{staff_no}/photo", responses={404: {}})
def read_photo(staff_no: StaffNo, request: Request, engine: EngineDep):
    """The photo, for devices (device token) and logged-in users."""
    try:
        device_from(request)
    except HTTPException:
        need("read")(request)
    with engine.connect() as conn:
        row = conn.execute(sa.select(remote.staff.c.photo, remote.staff.c.photo_type)
                           .where(remote.staff.c.staff_no == staff_no)).first()
    if row is None or row.photo is None:
        raise HTTPException(404, f"no photo for staff member {staff_no}")
    return Response(row.photo, media_type=row.photo_type, headers={"Cache-Control": "private, max-age=300"})
