"""The events a device appends to its buffer and uploads (docs/api.md, ``POST /api/v1/batches``).

Events are plain dicts in their wire form. They are made here and nowhere
else, so every event carries the same time facts (``created_at``,
``clock_synced``, ``boot_id``, ``mono_ms``) and every field has one spelling.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .clock import Clock, rfc3339
from .levels import Level, check_reasons

RATING = "rating"
RATING_DETAIL = "rating_detail"
UNRATED = "unrated"
TYPES = (RATING, RATING_DETAIL, UNRATED)

SOURCES = ("touch", "gpio", "serial", "keyboard", "api", "console", "simulated")

MAX_COMMENT = 500
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")

#: The 办件 a prompt may carry (the queue or business system's case), in wire
#: order, with the longest text each may be. ``user_name`` (申请人) is personal data.
PROJECT_TEXT = {"project_no": 64, "task_code": 64, "task_name": 200, "dept_code": 64,
                "dept_name": 200, "user_name": 100}
PROJECT_DATES = ("accept_date", "promise_date")
PROJECT_FIELDS = ("project_no", "task_code", "task_name", "dept_code", "dept_name", "user_name",
                  "user_prop", "accept_date", "promise_date")
USER_PROPS = {1: "个人", 2: "法人"}
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Window:
    """Who and where a rating is about: the window's identity at the moment."""

    window_no: str
    section: str
    staff_no: str
    staff_name: str
    channel: int


def event_id(unix_time: float) -> str:
    """A UUID version 7 (RFC 9562): the Unix time in milliseconds, then 74
    random bits. Ids made one after another sort next to each other, so the
    server's indexes on event ids grow at one edge instead of at random
    places all over (far fewer pages written per batch)."""
    ms = max(0, int(unix_time * 1000)) & 0xFFFF_FFFF_FFFF
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64)
             | (0b10 << 62) | (rand & 0x3FFF_FFFF_FFFF_FFFF))
    return str(uuid.UUID(int=value))


def _base(type_: str, clock: Clock) -> dict[str, Any]:
    now = clock.time()
    return {
        "id": event_id(now),
        "type": type_,
        "created_at": rfc3339(now),
        "clock_synced": bool(clock.synced()),
        "boot_id": clock.boot_id,
        "mono_ms": int(clock.mono_ms()),
    }


def rating(clock: Clock, level: Level, source: str, window: Window, *, misuse: bool = False,
           project_no: str | None = None, ticket_no: str | None = None,
           prompt_id: str | None = None, project: dict[str, Any] | None = None) -> dict[str, Any]:
    if source not in SOURCES:
        raise ValueError(f"unknown rating source {source!r}; expected one of {', '.join(SOURCES)}")
    ev = _base(RATING, clock)
    ev.update({
        "satisfaction": level.wire,
        "source": source,
        "channel": window.channel,
        "window_no": window.window_no,
        "section": window.section,
        "staff_no": window.staff_no,
        "staff_name": window.staff_name,
        "project_no": project_no,
        "ticket_no": ticket_no,
        "prompt_id": prompt_id,
        "misuse": bool(misuse),
    })
    if project:
        ev["project"] = dict(project)
    return ev


def rating_detail(clock: Clock, rating_event: dict[str, Any], reasons, *,
                  comment: str | None = None, phone: str | None = None) -> dict[str, Any]:
    """The reasons (and optional comment/phone) a citizen gave for a rating.

    Raises ValueError for a reason code that does not belong to the rated level,
    an over-long comment or a malformed phone number.
    """
    codes = check_reasons(rating_event["satisfaction"], reasons)
    if comment is not None:
        comment = comment.strip() or None
        if comment and len(comment) > MAX_COMMENT:
            raise ValueError(f"comment is {len(comment)} characters; at most {MAX_COMMENT} are kept")
    if phone is not None:
        phone = phone.strip() or None
        if phone and not _PHONE.match(phone):
            raise ValueError("phone must be digits (optionally +, spaces or -), 6 to 20 characters")
    ev = _base(RATING_DETAIL, clock)
    ev.update({"rating_id": rating_event["id"], "reasons": codes, "comment": comment, "phone": phone})
    return ev


def unrated(clock: Clock, window: Window, *, prompt_id: str, project_no: str | None = None,
            ticket_no: str | None = None, project: dict[str, Any] | None = None) -> dict[str, Any]:
    ev = _base(UNRATED, clock)
    ev.update({
        "prompt_id": prompt_id,
        "project_no": project_no,
        "ticket_no": ticket_no,
        "staff_no": window.staff_no,
        "staff_name": window.staff_name,
        "window_no": window.window_no,
        "section": window.section,
        "channel": window.channel,
    })
    if project:
        ev["project"] = dict(project)
    return ev


def check_project(values: dict[str, Any]) -> dict[str, Any] | None:
    """The 办件 object for an event from the fields in ``values`` (other keys
    ignored), or None when it names no 办件. Texts are trimmed, empty ones left
    out; ``user_prop`` becomes 1 (个人) or 2 (法人); dates stay as given
    (``YYYY-MM-DD`` or an RFC 3339 time).

    Raises ValueError naming the first bad field.
    """
    out: dict[str, Any] = {}
    for key in PROJECT_FIELDS:
        value = values.get(key)
        if value is None:
            continue
        if key == "user_prop":
            out[key] = _user_prop(value)
            continue
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError(f"{key} must be a string")
        text = str(value).strip()
        if not text:
            continue
        if key in PROJECT_DATES:
            out[key] = _project_date(key, text)
        elif len(text) > PROJECT_TEXT[key]:
            raise ValueError(f"{key} is longer than {PROJECT_TEXT[key]} characters")
        else:
            out[key] = text
    return out or None


def _user_prop(value: Any) -> int:
    if isinstance(value, str) and value.strip() in ("1", "2"):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in USER_PROPS:
        return value
    raise ValueError(f"user_prop must be 1 (个人) or 2 (法人), got {value!r}")


def _project_date(key: str, text: str) -> str:
    try:
        if len(text) == 10:
            date.fromisoformat(text)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return text
        elif _RFC3339.fullmatch(text):
            datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            return text
    except ValueError:
        pass
    raise ValueError(f"{key} must be a date YYYY-MM-DD or an RFC 3339 time, got {text[:40]!r}")


def mask_phone(phone: str | None) -> str | None:
    """The form in which a phone number may be shown (everywhere: device, API, pages):
    ``13812345678`` → ``138****5678``; shorter numbers keep only their last two digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    return "*" * max(len(digits) - 2, 1) + digits[-2:]
