"""How the server writes a time on the wire: RFC 3339 UTC with ``Z``.

Every time column holds naive UTC; every answer shows it one way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def rfc3339(t: datetime, timespec: str = ...) -> str: ...
@overload
def rfc3339(t: None, timespec: str = ...) -> None: ...
@overload
def rfc3339(t: datetime | None, timespec: str = ...) -> str | None: ...


def rfc3339(t: datetime | None, timespec: str = "milliseconds") -> str | None:
    """Naive UTC (or an aware time) as ``2026-12-01T08:15:02.123Z``; None stays None."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
