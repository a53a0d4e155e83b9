"""Every channel into one system: ratings that do not come from a device.

Staff enter paper forms, phone calls and the 办不成事 window's registrations
(``POST /api/v1/entries``, the ``/entry`` page); a citizen's phone rates a window
through its QR code (``/r/{code}``, :mod:`central.qr`); other systems (an SMS
gateway, an app) post with an integration key (``POST /api/v1/channel-ratings``).
Each becomes one row of ``ratings`` like a device rating, with its ``source``, the
``channel`` of that source (``[server] channel_for``), the window's registered
section and staff, its reasons in ``rating_details``, its 差评 case and its rollup
cells, all in one transaction (the same helpers as :mod:`central.ingest`).
``channel_entries`` keeps who entered it, the form number or external id that
makes a repeat a duplicate, and for a QR rating the browser it came from.

Each rating also gets its 评价次数 and its push record for the provincial platform
(:func:`central.province.number_and_enqueue`) in the same transaction.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kiosk.levels import BAD_WIRE, check_reasons

from . import CentralError, province
from .auth import token_hash, utcnow
from .db import devices, rating_details, ratings, write_tx
from .ingest import case_row, open_cases
from .remote import device_settings, staff
from .rollups import local_day, rollup_add, slots_add
from .wire import EventError, parse_time
from .workdays import Deadlines

metadata = sa.MetaData()

#: One row per rating that came through a channel other than a device.
channel_entries = sa.Table(
    "channel_entries", metadata,
    sa.Column("rating_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("dedup_key", sa.Text, unique=True),
    sa.Column("form_no", sa.Text),
    sa.Column("external_id", sa.Text),
    sa.Column("integration_id", sa.Integer),
    sa.Column("entered_by_id", sa.Integer),
    sa.Column("entered_by", sa.Text, nullable=False),
    sa.Column("client_hash", sa.String(64)),
    sa.Column("client_ip", sa.Text),
    sa.Column("entered_at", sa.DateTime, nullable=False),
)

#: Other systems allowed to post ratings; ``key_hash`` is sha256 of the key.
integrations = sa.Table(
    "integrations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
)

#: The sources of this module and how the pages and alerts name them.
SOURCE_ZH = {"paper": "纸质评价表", "phone": "电话", "counter": "办不成事窗口", "qr": "扫码",
             "sms": "短信", "app": "APP"}
ENTRY_SOURCES = ("paper", "phone", "counter")
INTEGRATION_SOURCES = ("sms", "app")
INTEGRATION_KEY_PREFIX = "ki_"
_PHONE_RE = re.compile(r"\+?[0-9][0-9 -]{2,30}")
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ChannelError(CentralError, ValueError):
    """A bad rating from a channel: ``status`` is the HTTP answer, the message names the field."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Rating:
    """A checked rating from a channel (satisfaction in wire order: 5 = 非常满意)."""

    window_no: str
    staff_no: str
    satisfaction: int
    reasons: list[str]
    comment: str | None
    phone: str | None
    project_no: str | None
    rated_at: datetime


@dataclass
class Origin:
    """Where a rating came from: its source, who entered it, what makes a repeat a duplicate."""

    source: str
    device_id: str
    entered_by: str
    entered_by_id: int | None = None
    integration_id: int | None = None
    form_no: str | None = None
    external_id: str | None = None
    client_hash: str | None = None
    client_ip: str | None = None

    @property
    def dedup_key(self) -> str | None:
        if self.external_id is not None:
            return f"{self.source}:{self.integration_id}:{self.external_id}"
        if self.form_no is not None:
            return f"{self.source}:form:{self.form_no}"
        return None


# --- checking a body --------------------------------------------------------------

def text_field(body: dict, name: str, limit: int, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise ChannelError(f"{name}: required")
        return None
    if not isinstance(value, str):
        raise ChannelError(f"{name}: expected a string, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise ChannelError(f"{name}: required")
    if len(value) > limit or "\x00" in value:
        raise ChannelError(f"{name}: expected at most {limit} characters of text")
    return value or None


def rated_at_of(value: Any, tz: ZoneInfo, now: datetime) -> datetime:
    """``rated_at`` as naive UTC: a date (the date on a form: noon that day, local
    time) or an RFC 3339 time; not in the future."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ChannelError(f"rated_at: {value!r} is not a valid date") from None
        t = datetime.combine(day, time(12), tz).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        if day > local_day(now, tz):
            raise ChannelError(f"rated_at: {value} is in the future")
        if not 2000 <= day.year <= 2200:
            raise ChannelError(f"rated_at: year {day.year} is out of range 2000..2200")
        return min(t, now)
    try:
        t = parse_time(value, "rated_at")
    except EventError as exc:
        raise ChannelError(f"{exc} or a date like \"2026-12-01\"") from None
    if t > now + timedelta(minutes=5):
        raise ChannelError(f"rated_at: {value} is in the future")
    return t


def check_rating(body: Any, tz: ZoneInfo, now: datetime) -> Rating:
    """A request body as a :class:`Rating`, or :class:`ChannelError` naming the field."""
    if not isinstance(body, dict):
        raise ChannelError("the body must be a JSON object")
    sat = body.get("satisfaction")
    if isinstance(sat, bool) or not isinstance(sat, int) or not 1 <= sat <= 5:
        raise ChannelError(f"satisfaction: expected 1..5 in wire order (5 = 非常满意), got {sat!r}")
    reasons = body.get("reasons") or []
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ChannelError("reasons: expected a list of reason codes")
    try:
        reasons = check_reasons(sat, reasons)
    except ValueError as exc:
        raise ChannelError(f"reasons: {exc}") from None
    phone = text_field(body, "phone", 32)
    if phone is not None and not _PHONE_RE.fullmatch(phone):
        raise ChannelError("phone: expected digits (with an optional leading +)")
    return Rating(window_no=text_field(body, "window_no", 32, required=True) or "",
                  staff_no=text_field(body, "staff_no", 32) or "", satisfaction=sat, reasons=list(reasons),
                  comment=text_field(body, "comment", 500), phone=phone, project_no=text_field(body, "project_no", 64),
                  rated_at=rated_at_of(body.get("rated_at"), tz, now))


# --- the window registry ----------------------------------------------------------

def windows(conn: Connection) -> dict[str, dict[str, str]]:
    """Every registered window: ``{window_no: {"section", "staff_no"}}``, from the
    devices' remote settings where set, else their enrolment (:mod:`central.registry`)."""
    set_values = {r.device_id: json.loads(r.settings) for r in
                  conn.execute(sa.select(device_settings.c.device_id, device_settings.c.settings))}
    out: dict[str, dict[str, str]] = {}
    rows = conn.execute(sa.select(devices.c.device_id, devices.c.window_no, devices.c.section, devices.c.staff_no)
                        .where(devices.c.revoked_at.is_(None)).order_by(devices.c.device_id))
    for r in rows:
        values = set_values.get(r.device_id, {})
        window = values.get("window") or r.window_no
        if window:
            out.setdefault(window, {"section": values.get("section") or r.section or "",
                                    "staff_no": values.get("staff_no") or r.staff_no or ""})
    return out


def place(conn: Connection, rating: Rating) -> dict[str, str]:
    """The registered section and the staff (number and roster name) of a rating's window."""
    win = windows(conn).get(rating.window_no)
    if win is None:
        raise ChannelError(f"window_no: no registered window {rating.window_no!r}")
    staff_no = rating.staff_no or win["staff_no"]
    name = conn.execute(sa.select(staff.c.name).where(staff.c.staff_no == staff_no)).scalar() if staff_no else None
    if rating.staff_no and name is None and rating.staff_no != win["staff_no"]:
        raise ChannelError(f"staff_no: {rating.staff_no!r} is neither in the roster nor the window's staff")
    return {"window_no": rating.window_no, "section": win["section"], "staff_no": staff_no,
            "staff_name": name or ""}


# --- storing ----------------------------------------------------------------------

def store(engine: Engine, rating: Rating, origin: Origin, *, channel: int, tz: ZoneInfo,
          deadlines: Deadlines, misuse_within: float | None = None) -> tuple[str, str]:
    """Store a rating: ``(rating_id, "accepted")``, or ``(rating_id, "duplicate")`` when its
    form number / external id was stored before. ``misuse_within``: seconds in which a
    second rating from the same client (``origin.client_hash``) is flagged misuse."""
    for attempt in range(2):
        try:
            with write_tx(engine) as conn:
                return store_in(conn, rating, origin, channel=channel, tz=tz, deadlines=deadlines,
                                misuse_within=misuse_within)
        except sa.exc.IntegrityError:
            if attempt:  # a concurrent writer took the same form number: the retry reads it
                raise
    raise AssertionError("unreachable")


def store_in(conn: Connection, rating: Rating, origin: Origin, *, channel: int, tz: ZoneInfo,
             deadlines: Deadlines, misuse_within: float | None = None) -> tuple[str, str]:
    """:func:`store` inside the caller's transaction."""
    now = utcnow()
    key = origin.dedup_key
    if key is not None:
        old = conn.execute(sa.select(channel_entries.c.rating_id)
                           .where(channel_entries.c.dedup_key == key)).scalar()
        if old is not None:
            return old, "duplicate"
    where = place(conn, rating)
    misuse = False
    if misuse_within is not None and origin.client_hash:
        c = channel_entries.c
        misuse = conn.execute(sa.select(c.rating_id).where(
            c.client_hash == origin.client_hash, c.source == origin.source,
            c.entered_at > now - timedelta(seconds=misuse_within)).limit(1)).first() is not None
    rating_id = str(uuid.uuid4())
    day = local_day(rating.rated_at, tz)
    at = {"device_id": origin.device_id, "day": day, **where}
    conn.execute(channel_entries.insert().values(
        rating_id=rating_id, source=origin.source, dedup_key=key, form_no=origin.form_no,
        external_id=origin.external_id, integration_id=origin.integration_id, entered_by_id=origin.entered_by_id,
        entered_by=origin.entered_by, client_hash=origin.client_hash, client_ip=origin.client_ip, entered_at=now))
    row = {"event_id": rating_id, "satisfaction": rating.satisfaction, "misuse": misuse, "source": origin.source,
           "channel": channel, "project_no": rating.project_no, "ticket_no": None, "prompt_id": None,
           "rated_at": rating.rated_at, "staff_flagged": False, **at}
    told = {rating_id} if rating.reasons or rating.comment else set()
    province.number_and_enqueue(conn, [row], now, with_detail=told)
    conn.execute(ratings.insert().values(**row))
    if rating.reasons or rating.comment or rating.phone:
        conn.execute(rating_details.insert().values(
            event_id=str(uuid.uuid4()), rating_id=rating_id, reasons=json.dumps(rating.reasons),
            comment=rating.comment, phone=rating.phone, created_at=now))
    bad = rating.satisfaction in BAD_WIRE and not misuse
    if bad:
        open_cases(conn, [case_row(rating_id, rating.satisfaction, rating.rated_at, now, deadlines, at)], now)
    rollup_add(conn, {(day, where["section"], where["window_no"], where["staff_no"], rating.satisfaction, misuse):
                      [1, 1 if bad else 0]})
    slots_add(conn, [row])
    if bad and rating.phone:
        from .cases import note_phones
        note_phones(conn, [rating_id])
    return rating_id, "accepted"


def recent_entries(conn: Connection, user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` ratings a user entered, newest first (those corrected or
    withdrawn since have no window, staff, level or day here: see
    :func:`central.corrections.annotate`)."""
    c, r = channel_entries.c, ratings.c
    rows = conn.execute(sa.select(c.rating_id, c.source, c.form_no, c.entered_at, r.window_no, r.staff_no,
                                  r.satisfaction, r.day)
                        .select_from(channel_entries.outerjoin(ratings, r.event_id == c.rating_id))
                        .where(c.entered_by_id == user_id).order_by(c.entered_at.desc()).limit(limit)).all()
    return [dict(row._mapping) for row in rows]


# --- integrations -----------------------------------------------------------------

def add_integration(engine: Engine, name: str, source: str) -> str:
    """Register another system (or re-key it); returns its new key, shown once."""
    if not _NAME_RE.fullmatch(name or ""):
        raise ChannelError(f"name {name!r} is not valid: expected 1-64 letters, digits, '.', '_' or '-'")
    if source not in INTEGRATION_SOURCES:
        raise ChannelError(f"source {source!r} is not valid: expected one of {', '.join(INTEGRATION_SOURCES)}")
    key = INTEGRATION_KEY_PREFIX + secrets.token_urlsafe(32)
    with write_tx(engine) as conn:
        row = conn.execute(sa.select(integrations.c.id).where(integrations.c.name == name)).first()
        values = {"source": source, "key_hash": token_hash(key), "revoked_at": None}
        if row is None:
            conn.execute(integrations.insert().values(name=name, created_at=utcnow(), **values))
        else:
            conn.execute(integrations.update().where(integrations.c.id == row.id).values(**values))
    return key


@dataclass
class Integration:
    id: int
    name: str
    source: str


def integration_for_key(conn: Connection, key: str) -> Integration | None:
    """The integration of a bearer key, or None (unknown or revoked)."""
    if not key.startswith(INTEGRATION_KEY_PREFIX):
        return None
    row = conn.execute(sa.select(integrations).where(integrations.c.key_hash == token_hash(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Integration(row.id, row.name, row.source)
