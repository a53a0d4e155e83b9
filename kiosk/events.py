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
           prompt_id: str | None = None) -> dict[str, Any]:
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
            ticket_no: str | None = None) -> dict[str, Any]:
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
    return ev


def mask_phone(phone: str | None) -> str | None:
    """The form in which a phone number may be shown (everywhere: device, API, pages):
    ``13812345678`` → ``138****5678``; shorter numbers keep only their last two digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    return "*" * max(len(digits) - 2, 1) + digits[-2:]
