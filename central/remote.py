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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kiosk import remote as device_remote

from . import CentralError
from .auth import utcnow
from .db import devices, write_tx
from .timefmt import rfc3339

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


class NotFound(CentralError, LookupError):
    """No such device or staff member."""


def get_settings(conn: Connection, device_id: str) -> dict[str, Any]:
    """``{"device_id", "version", "values"}``; version 0 and no values when never set."""
    row = conn.execute(sa.select(device_settings).where(device_settings.c.device_id == device_id)).first()
    if row is None:
        return {"device_id": device_id, "version": 0, "values": {}}
    return {"device_id": device_id, "version": row.version, "values": json.loads(row.settings),
            "updated_at": rfc3339(row.updated_at, "seconds"), "updated_by": row.updated_by}


def put_settings(engine: Engine, device_id: str, values: Any, actor: str) -> dict[str, Any]:
    """Replace a device's settings (validated); the version goes up by one."""
    values = device_remote.validate(values)
    with write_tx(engine) as conn:
        if conn.execute(sa.select(devices.c.device_id).where(devices.c.device_id == device_id)).first() is None:
            raise NotFound(f"no device {device_id}")
        current = conn.execute(sa.select(device_settings.c.version)
                               .where(device_settings.c.device_id == device_id)).scalar()
        row = {"version": (current or 0) + 1, "settings": json.dumps(values, ensure_ascii=False),
               "updated_at": utcnow(), "updated_by": actor}
        if current is None:
            conn.execute(device_settings.insert().values(device_id=device_id, **row))
        else:
            conn.execute(device_settings.update().where(device_settings.c.device_id == device_id).values(**row))
    with engine.connect() as conn:
        return get_settings(conn, device_id)


def for_heartbeat(conn: Connection, device_id: str, hall: dict[str, Any] | None = None,
                  public_url: str = "") -> dict[str, Any]:
    """What a heartbeat answer carries: the hall's values (``hall``: the deadline
    rule and the supervision phone, the same for every device) under the device's
    own settings, the roster's name for the staff member on duty, and the photo's
    checksum and address. With ``public_url``, ``qr_url`` is the address of the
    device's window's QR code (:mod:`central.qr`; ``conn`` must then be a write
    transaction, the code is made on first use). The version changes whenever any
    of them does."""
    current = get_settings(conn, device_id)
    hall = hall or {}
    if public_url:
        hall = {**hall, **_qr_url(conn, device_id, current["values"], public_url)}
    staff_no = {**hall, **current["values"]}.get("staff_no")
    person = None
    if staff_no:
        person = conn.execute(sa.select(staff.c.name, staff.c.photo_sha256)
                              .where(staff.c.staff_no == staff_no)).first()
    return answer_for(current["version"], current["values"], hall, person)


def answer_for(version_no: int, device_values: dict[str, Any], hall: dict[str, Any] | None,
               person: Any) -> dict[str, Any]:
    """:func:`for_heartbeat`'s answer from what was read: the settings' version
    and values, and the roster row (``name``, ``photo_sha256``) or None."""
    hall = hall or {}
    if not version_no and not hall:
        return {}
    values = {**hall, **device_values}
    version = str(version_no or 0)
    if hall:
        version += "-h" + hashlib.sha256(json.dumps(hall, sort_keys=True).encode()).hexdigest()[:8]
    out: dict[str, Any] = {"version": version, "values": values}
    if values.get("staff_no") and person is not None:
        values.setdefault("staff_name", person.name)
        if person.photo_sha256:
            out["staff_photo"] = {"staff_no": values["staff_no"], "sha256": person.photo_sha256,
                                  "url": f"/api/v1/staff/{values['staff_no']}/photo"}
        # the photo changes the answer, so a device re-applies when only the photo changed
        out["version"] = f"{version}-{(person.photo_sha256 or '')[:12]}-{person.name}"
    return out


def _qr_url(conn: Connection, device_id: str, values: dict[str, Any], public_url: str) -> dict[str, str]:
    from . import qr

    window = values.get("window") or conn.execute(
        sa.select(devices.c.window_no).where(devices.c.device_id == device_id)).scalar()
    return {"qr_url": qr.url_for(public_url, qr.ensure_code(conn, window))} if window else {}


def put_staff(engine: Engine, staff_no: str, name: str) -> None:
    if not name.strip() or len(name) > 64:
        raise ValueError("name: expected 1 to 64 characters")
    with write_tx(engine) as conn:
        exists = conn.execute(sa.select(staff.c.staff_no).where(staff.c.staff_no == staff_no)).first()
        if exists:
            conn.execute(staff.update().where(staff.c.staff_no == staff_no).values(name=name, updated_at=utcnow()))
        else:
            conn.execute(staff.insert().values(staff_no=staff_no, name=name, updated_at=utcnow()))


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
            photo=data, photo_type=content_type, photo_sha256=digest, updated_at=utcnow())).rowcount
        if not n:
            raise NotFound(f"no staff member {staff_no} (PUT /api/v1/staff/{staff_no} first)")
    return digest


def list_staff(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(staff.c.staff_no, staff.c.name, staff.c.photo_sha256)
                        .order_by(staff.c.staff_no)).all()
    return [{"staff_no": r.staff_no, "name": r.name, "has_photo": bool(r.photo_sha256)} for r in rows]
