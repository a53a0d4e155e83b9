"""Who may do what: device tokens, enrolment codes, users, roles and sessions.

Device tokens and session tokens are random 32-byte values; only their sha256
is stored. Passwords are hashed with scrypt (``hashlib.scrypt``). Roles:

* ``admin``: everything, and may see phone numbers;
* ``supervisor``: reads everything, acts on bad-rating cases;
* ``viewer``: reads;
* ``clerk`` (录入员): enters ratings from paper forms, calls and the 办不成事 window, and reads them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import CentralError
from .db import devices, enroll_codes, sessions, users, write_tx

ROLES = ("admin", "supervisor", "viewer", "clerk")
DEVICE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
USERNAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")

DEVICE_TOKEN_PREFIX = "kd_"
SESSION_TOKEN_PREFIX = "ks_"

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class AuthError(CentralError, ValueError):
    """A bad device id, username, role, password or code."""


def utcnow() -> datetime:
    """Now, as naive UTC (the form every time column holds)."""
    return datetime.now(UTC).replace(tzinfo=None)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


# --- passwords ---------------------------------------------------------------

def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# --- devices -----------------------------------------------------------------

def check_device_id(device_id: str) -> str:
    if not isinstance(device_id, str) or not DEVICE_ID_RE.fullmatch(device_id):
        raise AuthError(f"device id {device_id!r} is not valid: expected 1-64 letters, digits, '.', '_' or '-'")
    return device_id


def upsert_device(conn: Connection, device_id: str, *, window: str | None = None,
                  section: str | None = None, staff_no: str | None = None) -> None:
    """Create the device row, or update the given fields of an existing one."""
    check_device_id(device_id)
    row = conn.execute(sa.select(devices.c.device_id).where(devices.c.device_id == device_id)).first()
    values = {k: v for k, v in (("window_no", window), ("section", section), ("staff_no", staff_no))
              if v is not None}
    if row is None:
        conn.execute(devices.insert().values(device_id=device_id, created_at=utcnow(), **values))
    elif values:
        conn.execute(devices.update().where(devices.c.device_id == device_id).values(**values))


def issue_device_token(conn: Connection, device_id: str) -> str:
    """A fresh token for the device (the old one stops working); shown once."""
    token = new_token(DEVICE_TOKEN_PREFIX)
    conn.execute(devices.update().where(devices.c.device_id == device_id).values(
        token_hash=token_hash(token), token_issued_at=utcnow(), revoked_at=None))
    return token


def add_device(engine: Engine, device_id: str, *, window: str | None = None,
               section: str | None = None, staff_no: str | None = None) -> str:
    """Register (or re-key) a device and return its new bearer token."""
    with write_tx(engine) as conn:
        upsert_device(conn, device_id, window=window, section=section, staff_no=staff_no)
        return issue_device_token(conn, device_id)


def revoke_device(engine: Engine, device_id: str) -> bool:
    """Revoke the device's token; False when there is no such device."""
    with write_tx(engine) as conn:
        res = conn.execute(devices.update().where(devices.c.device_id == device_id).values(
            revoked_at=utcnow(), token_hash=None))
        return res.rowcount > 0


@dataclass
class DeviceIdentity:
    device_id: str
    window_no: str
    section: str
    staff_no: str


def device_for_token(conn: Connection, token: str) -> DeviceIdentity | None:
    """The device a bearer token belongs to, or None (unknown or revoked)."""
    if not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    row = conn.execute(sa.select(devices.c.device_id, devices.c.window_no, devices.c.section,
                                 devices.c.staff_no, devices.c.revoked_at)
                       .where(devices.c.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return DeviceIdentity(row.device_id, row.window_no, row.section, row.staff_no)


def make_enroll_code(engine: Engine, device_id: str, *, hours: float = 24.0,
                     window: str | None = None, section: str | None = None,
                     staff_no: str | None = None) -> tuple[str, datetime]:
    """A one-time code that ``POST /api/v1/enroll`` turns into a device token.

    Returns ``(code, expires_at)``; the code is shown once, stored hashed.
    """
    code = "-".join(secrets.token_hex(2).upper() for _ in range(4))
    expires = utcnow() + timedelta(hours=hours)
    with write_tx(engine) as conn:
        upsert_device(conn, device_id, window=window, section=section, staff_no=staff_no)
        conn.execute(enroll_codes.insert().values(code_hash=token_hash(_norm_code(code)),
                                                  device_id=device_id, created_at=utcnow(),
                                                  expires_at=expires))
    return code, expires


def _norm_code(code: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", code.upper())


def redeem_enroll_code(engine: Engine, code: str) -> tuple[DeviceIdentity, str] | None:
    """Use a code once: returns the device and its new token, or None when the
    code is unknown, used or expired."""
    now = utcnow()
    with write_tx(engine) as conn:
        res = conn.execute(enroll_codes.update()
                           .where(enroll_codes.c.code_hash == token_hash(_norm_code(code)),
                                  enroll_codes.c.used_at.is_(None),
                                  enroll_codes.c.expires_at > now)
                           .values(used_at=now)
                           .returning(enroll_codes.c.device_id))
        row = res.first()
        if row is None:
            return None
        token = issue_device_token(conn, row.device_id)
        # make_enroll_code registered the device and devices are never deleted: exactly one row
        dev = conn.execute(sa.select(devices).where(devices.c.device_id == row.device_id)).one()
        return DeviceIdentity(dev.device_id, dev.window_no, dev.section, dev.staff_no), token


# --- users and sessions ------------------------------------------------------

@dataclass
class User:
    id: int
    username: str
    role: str

    def may(self, action: str) -> bool:
        """``read`` (every role), ``act`` (cases: admin, supervisor), ``enter`` (ratings:
        admin, supervisor, clerk), ``admin``, ``see_phone``."""
        if action == "read":
            return True
        if action == "enter":
            return self.role in ("admin", "supervisor", "clerk")
        if action == "act":
            return self.role in ("admin", "supervisor")
        return self.role == "admin"


def add_user(engine: Engine, username: str, password: str, role: str) -> None:
    """Create a user, or reset the password and role of an existing one."""
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise AuthError(f"username {username!r} is not valid: expected 1-64 letters, digits or ._@-")
    if role not in ROLES:
        raise AuthError(f"role {role!r} is not valid: expected one of {', '.join(ROLES)}")
    if not password or len(password) < 8:
        raise AuthError("the password is too short: expected at least 8 characters")
    hashed = hash_password(password)
    with write_tx(engine) as conn:
        row = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
        if row is None:
            conn.execute(users.insert().values(username=username, password_hash=hashed, role=role,
                                               created_at=utcnow(), disabled=False))
        else:
            conn.execute(users.update().where(users.c.id == row.id).values(
                password_hash=hashed, role=role, disabled=False))


def login(engine: Engine, username: str, password: str, hours: float) -> tuple[User, str, datetime] | None:
    """Check a password; returns the user, a new session token and its expiry."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None or row.disabled or not check_password(password, row.password_hash):
        return None
    token = new_token(SESSION_TOKEN_PREFIX)
    expires = utcnow() + timedelta(hours=hours)
    with write_tx(engine) as conn:
        conn.execute(sessions.delete().where(sessions.c.expires_at <= utcnow()))  # keep the table small
        conn.execute(sessions.insert().values(token_hash=token_hash(token), user_id=row.id,
                                              created_at=utcnow(), expires_at=expires))
    return User(row.id, row.username, row.role), token, expires


def user_for_token(conn: Connection, token: str) -> User | None:
    if not token.startswith(SESSION_TOKEN_PREFIX):
        return None
    row = conn.execute(sa.select(users.c.id, users.c.username, users.c.role, users.c.disabled,
                                 sessions.c.expires_at)
                       .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
                       .where(sessions.c.token_hash == token_hash(token))).first()
    if row is None or row.disabled or row.expires_at <= utcnow():
        return None
    return User(row.id, row.username, row.role)


def logout(engine: Engine, token: str) -> None:
    with write_tx(engine) as conn:
        conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash(token)))
