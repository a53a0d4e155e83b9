"""Time facts stamped on every event: wall clock (UTC), whether it is
NTP-synchronised, the boot id and monotonic milliseconds since boot.

:class:`SystemClock` reads the real machine; tests inject :class:`FakeClock`.
For simulations (a device whose clock is wrong) two environment variables
shift the wall clock and force the sync state: ``KIOSK_CLOCK_OFFSET_SECONDS``
and ``KIOSK_CLOCK_SYNCED`` (``0``/``1``).
"""

from __future__ import annotations

import calendar
import ctypes
import ctypes.util
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the heart reads time from: :class:`SystemClock` on a device,
    :class:`FakeClock` in tests."""

    boot_id: str

    def time(self) -> float: ...
    def monotonic(self) -> float: ...
    def mono_ms(self) -> int: ...
    def synced(self) -> bool: ...


def rfc3339(ts: float | datetime) -> str:
    """UTC RFC 3339 with milliseconds and ``Z``: ``2026-12-01T08:15:02.123Z``.

    ``ts`` is seconds since the epoch, or a datetime (aware, or naive in UTC),
    whose milliseconds are taken exactly from its microseconds."""
    if isinstance(ts, datetime):
        t = ts.astimezone(UTC) if ts.tzinfo is not None else ts
        sec, frac = calendar.timegm(t.timetuple()), t.microsecond // 1000
    else:
        sec, frac = divmod(int(ts * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%03dZ" % frac


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp (``Z`` or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h); only ``status`` is read, the rest is padding.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_pad", ctypes.c_int * 11)]


_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


def ntp_synchronised() -> bool:
    """Whether the kernel clock is NTP-synchronised (adjtimex), False when it
    cannot be read. Never raises."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
        if state < 0:
            return os.path.exists("/run/systemd/timesync/synchronized")
        return state != _TIME_ERROR and not (tx.status & _STA_UNSYNC)
    except Exception:
        return False


def read_boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        # Not Linux: a per-process id still lets the server tell boots apart.
        return f"p-{uuid.uuid4()}"


class SystemClock:
    """The real clock. The sync state is re-read at most every ``sync_ttl`` seconds."""

    def __init__(self, sync_ttl: float = 30.0):
        self.boot_id = read_boot_id()
        self._offset = float(os.environ.get("KIOSK_CLOCK_OFFSET_SECONDS", "0") or 0)
        forced = os.environ.get("KIOSK_CLOCK_SYNCED")
        self._forced_sync = None if forced in (None, "") else forced not in ("0", "false", "no")
        self._sync_ttl = sync_ttl
        self._sync_at = -1e18
        self._sync = False

    def time(self) -> float:
        """Wall clock, seconds since the epoch (UTC)."""
        return time.time() + self._offset

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for timers)."""
        return time.monotonic()

    def mono_ms(self) -> int:
        """Milliseconds since boot (CLOCK_BOOTTIME counts suspend too)."""
        return int(time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)) * 1000)

    def synced(self) -> bool:
        if self._forced_sync is not None:
            return self._forced_sync
        now = time.monotonic()
        if now - self._sync_at > self._sync_ttl:
            self._sync = ntp_synchronised()
            self._sync_at = now
        return self._sync


class FakeClock:
    """A clock for tests: it only moves when told to (``advance``)."""

    def __init__(self, start: float = 1_796_112_000.0, synced: bool = True, boot_id: str = "test-boot"):
        self._wall = start
        self._mono = 1000.0
        self._synced = synced
        self.boot_id = boot_id

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def mono_ms(self) -> int:
        return int(self._mono * 1000)

    def synced(self) -> bool:
        return self._synced

    def set_synced(self, value: bool) -> None:
        self._synced = value
