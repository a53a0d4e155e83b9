"""Remote settings and the staff roster (server side).

A supervisor sets, per device, the window, section, staff member on duty,
mode, language and the reasons to offer; the device picks them up from its
next heartbeat answer and applies them without a restart (see
:mod:`kiosk.remote`, which also validates them: one definition for both
sides). The staff roster gives each 工号 a name and a photo; when a device's
settings name a staff member, the roster fills in the name and the photo.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response
from sqlalchemy.engine import Connection, Engine

from kiosk import remote as device_remote

from .db import devices, write_tx

metadata = sa.MetaData()

device_settings = sa.Table(
    "device_settings", metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
)

staff = sa.Table(
    "staff", metadata,
    sa.Column("staff_no", sa.String(32), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("photo", sa.LargeBinary),
    sa.Column("photo_type", sa.String(32)),
    sa.Column("photo_sha256", sa.String(64)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

MAX_PHOTO = 512 * 1024
PHOTO_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


class NotFound(LookupError):
    pass


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def get_settings(conn: Connection, device_id: str) -> dict[str, Any]:
    """``{"device_id", "version", "values"}``; version 0 and no values when never set."""
    row = conn.execute(sa.select(device_settings).where(device_settings.c.device_id == device_id)).first()
    if row is None:
        return {"device_id": device_id, "version": 0, "values": {}}
    return {"device_id": device_id, "version": row.version, "values": json.loads(row.settings),
            "updated_at": row.updated_at.isoformat(timespec="seconds") + "Z", "updated_by": row.updated_by}


def put_settings(engine: Engine, device_id: str, values: Any, actor: str) -> dict[str, Any]:
    """Replace a device's settings (validated); the version goes up by one."""
    values = device_remote.validate(values)
    with write_tx(engine) as conn:
        if conn.execute(sa.select(devices.c.device_id).where(devices.c.device_id == device_id)).first() is None:
            raise NotFound(f"no device {device_id}")
        current = conn.execute(sa.select(device_settings.c.version)
                               .where(device_settings.c.device_id == device_id)).scalar()
        row = {"version": (current or 0) + 1, "settings": json.dumps(values, ensure_ascii=False),
               "updated_at": _now(), "updated_by": actor}
        if current is None:
            conn.execute(device_settings.insert().values(device_id=device_id, **row))
        else:
            conn.execute(device_settings.update().where(device_settings.c.device_id == device_id).values(**row))
    with engine.connect() as conn:
        return get_settings(conn, device_id)


def for_heartbeat(conn: Connection, device_id: str) -> dict[str, Any]:
    """What a heartbeat answer carries: the device's settings, the roster's name
    for the staff member on duty, and the photo's checksum and address."""
    current = get_settings(conn, device_id)
    if not current["version"]:
        return {}
    values = dict(current["values"])
    out: dict[str, Any] = {"version": current["version"], "values": values}
    if values.get("staff_no"):
        person = conn.execute(sa.select(staff.c.name, staff.c.photo_sha256)
                              .where(staff.c.staff_no == values["staff_no"])).first()
        if person is not None:
            values.setdefault("staff_name", person.name)
            if person.photo_sha256:
                out["staff_photo"] = {"staff_no": values["staff_no"], "sha256": person.photo_sha256,
                                      "url": f"/api/v1/staff/{values['staff_no']}/photo"}
            # the photo changes the answer, so a device re-applies when only the photo changed
            out["version"] = f"{current['version']}-{(person.photo_sha256 or '')[:12]}-{person.name}"
    return out


def put_staff(engine: Engine, staff_no: str, name: str) -> None:
    if not name.strip() or len(name) > 64:
        raise ValueError("name: expected 1 to 64 characters")
    with write_tx(engine) as conn:
        exists = conn.execute(sa.select(staff.c.staff_no).where(staff.c.staff_no == staff_no)).first()
        if exists:
            conn.execute(staff.update().where(staff.c.staff_no == staff_no).values(name=name, updated_at=_now()))
        else:
            conn.execute(staff.insert().values(staff_no=staff_no, name=name, updated_at=_now()))


def put_photo(engine: Engine, staff_no: str, data: bytes, content_type: str) -> str:
    """Store a staff photo (JPEG or PNG, at most 512 KiB); returns its sha256."""
    magic = PHOTO_TYPES.get(content_type)
    if magic is None:
        raise ValueError(f"photo: Content-Type must be {' or '.join(PHOTO_TYPES)}, got {content_type!r}")
    if len(data) > MAX_PHOTO:
        raise ValueError(f"photo: {len(data)} bytes; at most {MAX_PHOTO} are accepted")
    if not data.startswith(magic):
        raise ValueError(f"photo: the bytes are not {content_type}")
    digest = hashlib.sha256(data).hexdigest()
    with write_tx(engine) as conn:
        n = conn.execute(staff.update().where(staff.c.staff_no == staff_no).values(
            photo=data, photo_type=content_type, photo_sha256=digest, updated_at=_now())).rowcount
        if not n:
            raise NotFound(f"no staff member {staff_no} (PUT /api/v1/staff/{staff_no} first)")
    return digest


def list_staff(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(staff.c.staff_no, staff.c.name, staff.c.photo_sha256)
                        .order_by(staff.c.staff_no)).all()
    return [{"staff_no": r.staff_no, "name": r.name, "has_photo": bool(r.photo_sha256)} for r in rows]


DeviceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")]
StaffNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9._-]{1,32}$")]


def build_router(engine: Engine, need, device_from) -> APIRouter:
    """The settings and roster endpoints; ``need(action)`` and ``device_from``
    are the app's user and device authentication dependencies."""
    router = APIRouter(tags=["settings"])

    @router.get("/api/v1/devices/{device_id}/settings")
    def read_settings(device_id: DeviceId, user=Depends(need("read"))) -> dict[str, Any]:
        """A device's remote settings (version 0 when never set)."""
        with engine.connect() as conn:
            return get_settings(conn, device_id)

    @router.put("/api/v1/devices/{device_id}/settings", responses={400: {}, 404: {}})
    def write_settings(device_id: DeviceId, body: Annotated[dict[str, Any], Body()],
                       user=Depends(need("act"))) -> dict[str, Any]:
        """Replace a device's settings: window, section, staff_no, staff_name, mode,
        language, reasons_for, reasons ({"1": ["115", …]}). Applied at its next heartbeat."""
        try:
            return put_settings(engine, device_id, body.get("settings", body), user.username)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/api/v1/staff")
    def read_staff(user=Depends(need("read"))) -> list[dict[str, Any]]:
        """The staff roster."""
        with engine.connect() as conn:
            return list_staff(conn)

    @router.put("/api/v1/staff/{staff_no}", status_code=204, responses={400: {}})
    def write_staff(staff_no: StaffNo, body: Annotated[dict[str, Any], Body()], user=Depends(need("act"))):
        """Add or rename a staff member: {"name": "李四"}."""
        name = body.get("name")
        if not isinstance(name, str):
            raise HTTPException(400, "name: expected a string")
        try:
            put_staff(engine, staff_no, name)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return Response(status_code=204)

    @router.put("/api/v1/staff/{staff_no}/photo", responses={400: {}, 404: {}, 413: {}})
    async def write_photo(staff_no: StaffNo, request: Request, user=Depends(need("act"))) -> dict[str, str]:
        """Upload the photo shown on the staff card (the body is the JPEG or PNG)."""
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_PHOTO:
                raise HTTPException(413, f"photo larger than {MAX_PHOTO} bytes")
        try:
            digest = put_photo(engine, staff_no, data, request.headers.get("content-type", "").split(";")[0])
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return {"sha256": digest}

    @router.get("/api/v1/staff/{staff_no}/photo", responses={404: {}})
    def read_photo(staff_no: StaffNo, request: Request):
        """The photo, for devices (device token) and logged-in users."""
        try:
            device_from(request)
        except HTTPException:
            need("read")(request)
        with engine.connect() as conn:
            row = conn.execute(sa.select(staff.c.photo, staff.c.photo_type)
                               .where(staff.c.staff_no == staff_no)).first()
        if row is None or row.photo is None:
            raise HTTPException(404, f"no photo for staff member {staff_no}")
        return Response(row.photo, media_type=row.photo_type, headers={"Cache-Control": "private, max-age=300"})

    return router
