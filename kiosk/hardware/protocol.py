"""Serial panel protocol v1 (docs/hardware.md): framing, parsing and checksums.

Pure functions and a byte-fed line assembler, no port: the serial source, the
panel simulator, the tests and the benchmark all speak through this module.

* Lines are ASCII, ended by ``\\n``; a ``\\r`` before it (or stray ``\\r`` at
  either end) is ignored. A line holds at most :data:`MAX_LINE` bytes, not
  counting its line ending.
* Optional NMEA-style suffix ``*HH``: two hex digits, the XOR of every byte
  before the ``*``. A wrong checksum always drops the line; with
  ``require_checksum`` a line without one is dropped too.
* Panel → kiosk: ``KEY <n>`` (n = 1..5), ``TRIG [<project_no> [<ticket_no>]]``,
  ``HB``. Words are separated by spaces.
* Kiosk → panel: ``ACK <n>``, ``NAK <n> <reason>``, ``PROMPT``, ``IDLE``.

Anything else is a :class:`BadFrame` (counted by the caller, never a rating).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 80
NAK_REASONS = ("cooldown", "no_prompt", "error")

_HEX2 = re.compile(rb"[0-9A-Fa-f]{2}")
_KEY_N = re.compile(r"[1-5]")


@dataclass(frozen=True)
class Key:
    """``KEY n``: panel button ``n`` (1..5, before ``key_map``) was pressed."""

    n: int
    checksum: bool = False


@dataclass(frozen=True)
class Trig:
    """``TRIG [project_no [ticket_no]]``: open a prompt (一事一评)."""

    project_no: str | None = None
    ticket_no: str | None = None
    checksum: bool = False


@dataclass(frozen=True)
class Hb:
    """``HB``: the panel is alive."""

    checksum: bool = False


@dataclass(frozen=True)
class BadFrame:
    """A line that is not a valid frame; ``why`` says what was wrong."""

    line: bytes
    why: str


Frame = Key | Trig | Hb


def checksum(data: bytes | str) -> str:
    """The two upper-case hex digits of the XOR of every byte of ``data``."""
    if isinstance(data, str):
        data = data.encode("ascii")
    x = 0
    for b in data:
        x ^= b
    return f"{x:02X}"


def encode(text: str, *, with_checksum: bool = False) -> bytes:
    """One outgoing line: ``text`` (+ ``*HH``) + ``\\r\\n``."""
    raw = text.encode("ascii")
    if with_checksum:
        raw += b"*" + checksum(raw).encode("ascii")
    if len(raw) > MAX_LINE:
        raise ValueError(f"frame longer than {MAX_LINE} bytes: {text!r}")
    return raw + b"\r\n"


def ack(n: int, *, with_checksum: bool = False) -> bytes:
    return encode(f"ACK {n}", with_checksum=with_checksum)


def nak(n: int, reason: str, *, with_checksum: bool = False) -> bytes:
    if reason not in NAK_REASONS:
        raise ValueError(f"NAK reason must be one of {', '.join(NAK_REASONS)}, got {reason!r}")
    return encode(f"NAK {n} {reason}", with_checksum=with_checksum)


def parse(line: bytes, *, require_checksum: bool = False) -> Frame | BadFrame:
    """Parse one line (without its ``\\n``) sent by a panel."""
    body = line.strip(b"\r")
    if len(body) > MAX_LINE:
        return BadFrame(line, f"longer than {MAX_LINE} bytes")
    has_sum = False
    star = body.rfind(b"*")
    if star >= 0:
        given = body[star + 1:]
        if not _HEX2.fullmatch(given):
            return BadFrame(line, "malformed checksum (expected *HH)")
        body = body[:star]
        if checksum(body) != given.decode("ascii").upper():
            return BadFrame(line, f"checksum mismatch (expected *{checksum(body)})")
        has_sum = True
    elif require_checksum:
        return BadFrame(line, "checksum required")
    if not body or any(b < 0x20 or b > 0x7E for b in body) or b"*" in body:
        return BadFrame(line, "not a printable ASCII command")
    words = body.decode("ascii").split()
    if not words:
        return BadFrame(line, "empty command")
    cmd, args = words[0], words[1:]
    if cmd == "KEY":
        if len(args) != 1 or not _KEY_N.fullmatch(args[0]):
            return BadFrame(line, "KEY needs one button number 1..5")
        return Key(int(args[0]), checksum=has_sum)
    if cmd == "TRIG":
        if len(args) > 2:
            return BadFrame(line, "TRIG takes at most project_no and ticket_no")
        return Trig(args[0] if args else None, args[1] if len(args) > 1 else None, checksum=has_sum)
    if cmd == "HB":
        if args:
            return BadFrame(line, "HB takes no arguments")
        return Hb(checksum=has_sum)
    return BadFrame(line, f"unknown command {cmd[:16]!r}")


def key_position(n: int, key_map: list[int] | tuple[int, ...] | None) -> int:
    """The button position (0 = leftmost = 非常满意) of ``KEY n``.

    ``key_map[n-1]`` is the 1-based position of KEY n; empty = identity.
    """
    if not 1 <= n <= 5:
        raise ValueError(f"KEY number must be 1..5, got {n!r}")
    return (key_map[n - 1] if key_map else n) - 1


class LineReader:
    """Assembles bytes into lines and parses them.

    An over-long line is dropped as one bad frame (the bytes up to its ``\\n``
    are discarded), so a chattering line cannot grow memory or run into the
    next frame. Empty lines are ignored.
    """

    def __init__(self, *, require_checksum: bool = False):
        self.require_checksum = require_checksum
        self._buf = bytearray()
        self._overflow = False
        self._head = b""

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        out: list[Frame | BadFrame] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            chunk = data[start:] if nl < 0 else data[start:nl]
            if not self._overflow:
                self._buf += chunk
                if len(self._buf) > MAX_LINE + 2:  # room for stray \r at the ends
                    self._overflow = True
                    self._head = bytes(self._buf[:MAX_LINE])
                    self._buf.clear()
            if nl < 0:
                break
            if self._overflow:
                out.append(BadFrame(self._head, f"longer than {MAX_LINE} bytes"))
                self._overflow = False
            elif self._buf.strip(b"\r"):
                out.append(parse(bytes(self._buf), require_checksum=self.require_checksum))
            self._buf.clear()
            start = nl + 1
        return out

    def reset(self) -> BadFrame | None:
        """Forget a partial line (the port was closed); returns it as a bad frame, if any."""
        partial = bytes(self._buf)
        overflow = self._overflow
        self._buf.clear()
        self._overflow = False
        if overflow or partial.strip(b"\r"):
            return BadFrame((self._head if overflow else partial)[:MAX_LINE], "line cut off (port closed)")
        return None
