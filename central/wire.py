"""The upload's wire format (docs/api.md): what a batch and each event may hold.

Built from the constants the device makes its events with
(:mod:`kiosk.events`): the event types, the rating sources. A batch is checked
as a whole (:class:`BatchError`: 400 / 413), then every event on its own
(:class:`EventError` names the field); the stored payload hash is the sha256 of
the event's canonical JSON. :data:`BATCH_SCHEMA` is the same rules as a JSON
schema, for the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from kiosk.events import RATING, RATING_DETAIL, SOURCES, TYPES, UNRATED
from kiosk.levels import REASON_BY_CODE

from . import CentralError

MAX_EVENTS = 500
MAX_DEPTH = 32
_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_PHONE_RE = re.compile(r"[0-9+() -]{3,24}")
_MAX_MONO = 2**62


class BatchError(CentralError, ValueError):
    """The whole batch (or body) is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class EventError(CentralError, ValueError):
    """One event is invalid; the message names the field."""


# --- JSON ---------------------------------------------------------------------

_NOT_MARKS = bytes(range(256)).translate(None, b'"[]{}')
_FLAT = bytes.maketrans(b"{}", b"[]")


def nesting_within(body: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects at most ``max_depth``
    deep (brackets inside strings do not count). Byte-string operations only,
    so a hostile body costs a few passes over it, never a deep recursion."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return True
    marks = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_MARKS)
    marks = b"".join(marks.split(b'"')[::2]).translate(_FLAT)  # drop what is inside strings
    for _ in range(max_depth):
        shorter = marks.replace(b"[]", b"")  # one level of nesting per pass
        if shorter == marks:
            return True  # unbalanced: the JSON parser says what is wrong
        marks = shorter
    return not marks


def loads(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """UTF-8 JSON nested at most ``max_depth`` deep; :class:`BatchError` (400) otherwise."""
    if not nesting_within(body, max_depth):
        raise BatchError(400, f"the JSON body nests deeper than {max_depth} levels")
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise BatchError(400, f"the JSON body nests deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BatchError(400, f"the body is not UTF-8 JSON: {exc}") from None


# --- the batch ----------------------------------------------------------------

def parse_batch(body: bytes, max_events: int) -> dict[str, Any]:
    """Decode and check the batch envelope; events are checked later, one by one."""
    batch = loads(body)
    if not isinstance(batch, dict):
        raise BatchError(400, "the body must be a JSON object")
    if batch.get("schema") != 1 or isinstance(batch.get("schema"), bool):
        raise BatchError(400, f"schema: expected 1, got {_show(batch.get('schema'))}")
    for name in ("device_id", "boot_id", "sent_at"):
        if not isinstance(batch.get(name), str) or not batch[name] or "\x00" in batch[name]:
            raise BatchError(400, f"{name}: expected a non-empty string")
    mono = batch.get("sent_mono_ms")
    if not _is_int(mono) or not 0 <= mono < _MAX_MONO:
        raise BatchError(400, f"sent_mono_ms: expected an integer >= 0, got {_show(mono)}")
    evs = batch.get("events")
    if not isinstance(evs, list):
        raise BatchError(400, "events: expected a list")
    if len(evs) > max_events:
        raise BatchError(413, f"events: {len(evs)} events, at most {max_events} per batch: split the batch")
    return batch


# --- events -------------------------------------------------------------------

def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _show(v: Any) -> str:
    try:
        text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    except (RecursionError, ValueError):
        text = type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


_MISSING = object()
#: a rating's text fields: (name, longest, may be null)
RATING_TEXT = (("window_no", 32, False), ("section", 64, False), ("staff_no", 32, False),
               ("staff_name", 64, False), ("project_no", 64, True), ("ticket_no", 64, True),
               ("prompt_id", 64, True))
#: an unrated event's text fields: (name, longest, may be null, may be missing)
UNRATED_TEXT = (("prompt_id", 64, True, False), ("project_no", 64, True, False), ("ticket_no", 64, True, False),
                ("staff_no", 32, False, False), ("staff_name", 64, False, True), ("window_no", 32, False, True),
                ("section", 64, False, True))


def _str(ev: dict, name: str, *, max_len: int, nullable: bool = False, optional: bool = False,
         default: str | None = None) -> str | None:
    v = ev.get(name, _MISSING)
    if v.__class__ is str and len(v) <= max_len and v.isascii() and "\x00" not in v:
        return v  # the common case, checked first
    if v is _MISSING:
        if optional or nullable:
            return default
        raise EventError(f"{name}: missing")
    if v is None and nullable:
        return None
    if not isinstance(v, str):
        raise EventError(f"{name}: expected a string{' or null' if nullable else ''}, got {_show(v)}")
    if len(v) > max_len:
        raise EventError(f"{name}: longer than {max_len} characters")
    if "\x00" in v:
        raise EventError(f"{name}: contains a NUL character")
    if not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(f"{name}: not valid Unicode text (a lone surrogate)") from None
    return v


_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def parse_time(value: Any, name: str = "created_at") -> datetime:
    """An RFC 3339 time with an offset (``2026-12-01T08:15:02.123Z``) as naive UTC."""
    m = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise EventError(f"{name}: expected an RFC 3339 UTC time like \"2026-12-01T08:15:02.123Z\", "
                         f"got {_show(value)}")
    text = value
    fraction = m.group(1)
    if fraction and len(fraction) > 7:  # datetime keeps microseconds: cut the rest
        text = value.replace(fraction, fraction[:7])
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise EventError(f"{name}: not a valid date/time: {_show(value)}") from None
    t = t.replace(tzinfo=None) if m.group(2) == "Z" else t.astimezone(UTC).replace(tzinfo=None)
    if not 2000 <= t.year <= 2200:
        raise EventError(f"{name}: year {t.year} is out of range 2000..2200")
    return t


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, check_circular=False)
_sha256 = hashlib.sha256


def canonical_hash(ev: dict) -> str:
    """sha256 of the event's canonical JSON (sorted keys, no spaces, ASCII)."""
    return _sha256(_CANONICAL.encode(ev).encode("ascii")).hexdigest()


@dataclass(slots=True)
class Event:
    """A validated event, ready to store."""

    id: str
    type: str
    hash: str
    created_at: datetime
    clock_synced: bool
    boot_id: str
    mono_ms: int
    fields: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    repaired_at: datetime | None = None


def validate_event(ev: Any) -> Event:
    """Check one wire event (docs/api.md); raises :class:`EventError` naming the field."""
    if not isinstance(ev, dict):
        raise EventError(f"event: expected a JSON object, got {_show(ev)}")
    ev_id = ev.get("id")
    if not isinstance(ev_id, str) or not _ID_RE.fullmatch(ev_id):
        raise EventError(f"id: expected a UUID string, got {_show(ev_id)}")
    kind = ev.get("type")
    if kind not in TYPES:
        raise EventError(f"type: expected one of {', '.join(TYPES)}, got {_show(kind)}")
    created = parse_time(ev.get("created_at"))
    synced = ev.get("clock_synced")
    if not isinstance(synced, bool):
        raise EventError(f"clock_synced: expected true or false, got {_show(synced)}")
    boot_id = _str(ev, "boot_id", max_len=64)
    assert boot_id is not None, "boot_id is neither nullable nor optional: _str raised"
    mono = ev.get("mono_ms")
    if mono.__class__ is not int or not 0 <= mono < _MAX_MONO:  # exactly int: not a bool
        raise EventError(f"mono_ms: expected an integer >= 0, got {_show(mono)}")
    check = {RATING: _rating_fields, RATING_DETAIL: _detail_fields, UNRATED: _unrated_fields}[kind]
    return Event(ev_id, kind, canonical_hash(ev), created, synced, boot_id, mono, check(ev))


def _rating_fields(ev: dict) -> dict[str, Any]:
    f: dict[str, Any] = {}
    sat = ev.get("satisfaction")
    if sat.__class__ is not int or not 1 <= sat <= 5:
        raise EventError(f"satisfaction: expected an integer 1..5 (wire order, 5 = 非常满意), got {_show(sat)}")
    f["satisfaction"] = sat
    src = ev.get("source")
    if src not in SOURCES:
        raise EventError(f"source: expected one of {', '.join(SOURCES)}, got {_show(src)}")
    f["source"] = src
    ch = ev.get("channel")
    f["channel"] = ch if ch.__class__ is int and 1 <= ch <= 7 else _channel(ev, optional=False)
    for name, max_len, nullable in RATING_TEXT:
        f[name] = _str(ev, name, max_len=max_len, nullable=nullable)
    misuse = ev.get("misuse")
    if not isinstance(misuse, bool):
        raise EventError(f"misuse: expected true or false, got {_show(misuse)}")
    f["misuse"] = misuse
    f["project"] = project_fields(ev, f["project_no"])
    return f


def _detail_fields(ev: dict) -> dict[str, Any]:
    f: dict[str, Any] = {}
    rid = ev.get("rating_id")
    if not isinstance(rid, str) or not _ID_RE.fullmatch(rid):
        raise EventError(f"rating_id: expected the id of a rating, got {_show(rid)}")
    f["rating_id"] = rid
    reasons = ev.get("reasons")
    if not isinstance(reasons, list) or len(reasons) > 20 or not all(
            isinstance(c, str) or _is_int(c) for c in reasons):
        raise EventError(f"reasons: expected a list of reason codes like [\"207\"], got {_show(reasons)}")
    for code in reasons:
        if str(code) not in REASON_BY_CODE:
            raise EventError(f"reasons: {str(code)!r} is not in the national dictionary")
    f["reasons"] = [str(c) for c in dict.fromkeys(str(c) for c in reasons)]
    f["comment"] = _str(ev, "comment", max_len=2000, nullable=True)
    phone = ev.get("phone")
    if phone is not None and (not isinstance(phone, str) or not _PHONE_RE.fullmatch(phone)):
        raise EventError("phone: expected a phone number (digits, +, -, spaces) or null")
    f["phone"] = phone
    return f


def _unrated_fields(ev: dict) -> dict[str, Any]:
    f: dict[str, Any] = {name: _str(ev, name, max_len=max_len, nullable=nullable, optional=optional,
                                    default="" if optional else None)
                         for name, max_len, nullable, optional in UNRATED_TEXT}
    f["channel"] = _channel(ev, optional=True)
    f["project"] = project_fields(ev, f["project_no"])
    return f


#: the 办件 object's text fields (name, longest); ``user_prop`` is 1 个人 or 2 法人
PROJECT_TEXT = (("project_no", 64), ("task_code", 64), ("task_name", 256), ("dept_code", 64),
                ("dept_name", 256), ("user_name", 128), ("accept_date", 32), ("promise_date", 32))
PROJECT_KEYS = tuple(name for name, _ in PROJECT_TEXT) + ("user_prop",)


def project_fields(ev: dict, project_no: str | None) -> dict[str, Any]:
    """The event's ``project`` (办件) as a dict of the columns it fills (empty when
    absent); ``project_no`` is the top-level one, which must agree."""
    p = ev.get("project")
    if p is None:
        return {}
    if not isinstance(p, dict):
        raise EventError(f"project: expected an object (the 办件) or null, got {_show(p)}")
    unknown = sorted(set(p) - set(PROJECT_KEYS))
    if unknown:
        raise EventError(f"project.{unknown[0]}: not a 办件 field (expected {', '.join(PROJECT_KEYS)})")
    out: dict[str, Any] = {}
    for name, max_len in PROJECT_TEXT:
        v = p.get(name)
        if v is None:
            continue
        if not isinstance(v, str):
            raise EventError(f"project.{name}: expected a string or null, got {_show(v)}")
        if len(v) > max_len:
            raise EventError(f"project.{name}: longer than {max_len} characters")
        if any(ord(ch) < 32 for ch in v):
            raise EventError(f"project.{name}: contains control characters")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(f"project.{name}: not valid Unicode text (a lone surrogate)") from None
        out[name] = v
    prop = p.get("user_prop")
    if prop is not None:
        if not _is_int(prop) or prop not in (1, 2):
            raise EventError(f"project.user_prop: expected 1 (个人) or 2 (法人), got {_show(prop)}")
        out["user_prop"] = prop
    inner = out.get("project_no")
    if inner is not None and project_no is not None and inner != project_no:
        raise EventError(f"project.project_no: {inner!r} differs from project_no {project_no!r}")
    return out


def _channel(ev: dict, optional: bool) -> int:
    if "channel" not in ev and optional:
        return 4
    ch = ev.get("channel")
    if not _is_int(ch) or not 1 <= ch <= 7:
        raise EventError(f"channel: expected an integer 1..7 (评价渠道), got {_show(ch)}")
    return ch


# --- the answer ------------------------------------------------------------------

@dataclass
class Result:
    """What happened to one event: ``accepted``, ``duplicate`` or ``rejected`` (with why)."""

    id: Any
    status: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "status": self.status}
        if self.error is not None:
            out["error"] = self.error
        return out


def count_statuses(results: Iterable[Result]) -> dict[str, int]:
    out = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for r in results:
        out[r.status] += 1
    return out


# --- the JSON schema (OpenAPI) -----------------------------------------------------

def _text(max_len: int, nullable: bool) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_len}


_CHANNEL = {"type": "integer", "minimum": 1, "maximum": 7}
_PROJECT = {"type": ["object", "null"], "description": "the 办件 (user_name is personal data)",
            "additionalProperties": False,
            "properties": {**{name: _text(n, True) for name, n in PROJECT_TEXT},
                           "user_prop": {"type": ["integer", "null"], "enum": [1, 2, None]}}}
_COMMON = {
    "id": {"type": "string", "description": "uuid4 made on the device"},
    "created_at": {"type": "string", "description": "RFC 3339 UTC, e.g. 2026-12-01T08:15:02.123Z"},
    "clock_synced": {"type": "boolean"},
    "boot_id": {"type": "string", "maxLength": 64},
    "mono_ms": {"type": "integer", "minimum": 0},
}


def _event_schema(kind: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "title": kind, "required": list(_COMMON) + ["type"] + required,
            "properties": {**_COMMON, "type": {"type": "string", "enum": [kind]}, **properties}}


BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "device_id", "sent_at", "boot_id", "sent_mono_ms", "events"],
    "properties": {
        "schema": {"type": "integer", "enum": [1]},
        "device_id": {"type": "string"},
        "sent_at": {"type": "string"},
        "boot_id": {"type": "string"},
        "sent_mono_ms": {"type": "integer", "minimum": 0},
        "events": {"type": "array", "maxItems": MAX_EVENTS, "items": {"oneOf": [
            _event_schema(RATING, ["satisfaction", "source", "channel", "misuse"]
                          + [name for name, _, nullable in RATING_TEXT if not nullable], {
                "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5,
                                 "description": "wire order: 5 = 非常满意 … 1 = 非常不满意"},
                "source": {"type": "string", "enum": list(SOURCES)}, "channel": _CHANNEL,
                **{name: _text(n, nullable) for name, n, nullable in RATING_TEXT},
                "misuse": {"type": "boolean"}, "project": _PROJECT}),
            _event_schema(RATING_DETAIL, ["rating_id", "reasons"], {
                "rating_id": {"type": "string"},
                "reasons": {"type": "array", "maxItems": 20, "items": {"type": "string"}},
                "comment": _text(2000, True), "phone": {"type": ["string", "null"]}}),
            _event_schema(UNRATED, ["prompt_id", "staff_no"], {
                **{name: _text(n, nullable) for name, n, nullable, _ in UNRATED_TEXT}, "channel": _CHANNEL,
                "project": _PROJECT}),
        ]}},
    },
}
