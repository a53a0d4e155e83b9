"""Finding a font that has a glyph for every character the screens draw.

Kivy draws every label with one font file and no fallback: a character the
font lacks shows as a box. Kivy's bundled Roboto has no Chinese; Droid Sans
Fallback (which ghostscript, CUPS and ImageMagick bring along) has Chinese but
no digits or Latin letters, so "12 号窗口" would read "□□ 号窗口" and the
English screens would be all boxes. A font is therefore used only when its
character map covers everything the screens will draw (:func:`required_text`:
the digits, A–Z a–z, the punctuation, the Chinese and English of the screens,
the staff name and the section); otherwise the app refuses to start and says
which font lacks what and which Debian package to install. ``kiosk doctor``
runs the same check.

The character map is read from the font file itself (TrueType/OpenType and
collections, ``cmap`` formats 4 and 12): no font library is needed.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import string
import struct
import subprocess
from collections.abc import Iterable

from ..exceptions import KioskError

log = logging.getLogger(__name__)

DEBIAN_PACKAGE = "fonts-wqy-microhei"

#: Places where Debian/Raspberry Pi OS packages put CJK fonts, best first.
KNOWN_PATHS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

_KIVY_FONT_SUFFIXES = (".ttf", ".ttc", ".otf")
#: Characters drawn by the screens themselves, beyond their texts: PIN dots, separators.
_DRAWN = "●·—…→/()：，、（）"


class FontError(KioskError, FileNotFoundError):
    """No usable font: the screens would show boxes instead of characters."""


# --- the character map ---------------------------------------------------------

def _table(f, tag: bytes) -> bytes | None:
    """The bytes of table ``tag`` of the first font in the file (a .ttc holds several)."""
    head = f.read(12)
    if len(head) < 12:
        raise ValueError("too short for a font file")
    base = 0
    if head[:4] == b"ttcf":
        (base,) = struct.unpack(">I", f.read(4))
        f.seek(base)
        head = f.read(12)
    if head[:4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise ValueError("not a TrueType/OpenType font")
    (count,) = struct.unpack(">H", head[4:6])
    records = f.read(16 * count)
    for i in range(count):
        name, _checksum, offset, length = struct.unpack(">4sIII", records[16 * i:16 * i + 16])
        if name == tag:
            f.seek(offset)
            return f.read(length)
    return None


def _format4(t: bytes) -> set[int]:
    seg_x2 = struct.unpack(">H", t[6:8])[0]
    n = seg_x2 // 2
    ends = struct.unpack(f">{n}H", t[14:14 + seg_x2])
    starts = struct.unpack(f">{n}H", t[16 + seg_x2:16 + 2 * seg_x2])
    deltas = struct.unpack(f">{n}h", t[16 + 2 * seg_x2:16 + 3 * seg_x2])
    range_at = 16 + 3 * seg_x2
    ranges = struct.unpack(f">{n}H", t[range_at:range_at + seg_x2])
    out: set[int] = set()
    for i in range(n):
        start, end, delta, ro = starts[i], ends[i], deltas[i], ranges[i]
        if start == 0xFFFF:
            continue
        for c in range(start, end + 1):
            if ro == 0:
                glyph = (c + delta) & 0xFFFF
            else:
                at = range_at + 2 * i + ro + 2 * (c - start)
                glyph = struct.unpack(">H", t[at:at + 2])[0] if at + 2 <= len(t) else 0
                glyph = (glyph + delta) & 0xFFFF if glyph else 0
            if glyph:
                out.add(c)
    return out


def _format12(t: bytes) -> set[int]:
    (groups,) = struct.unpack(">I", t[12:16])
    out: set[int] = set()
    for i in range(groups):
        start, end, glyph = struct.unpack(">III", t[16 + 12 * i:28 + 12 * i])
        out.update(range(start + (1 if glyph == 0 else 0), end + 1))
    return out


@functools.lru_cache(maxsize=16)
def _codepoints(path: str, _mtime: float) -> frozenset[int]:
    with open(path, "rb") as f:
        cmap = _table(f, b"cmap")
    if cmap is None:
        raise ValueError("the font has no character map (cmap table)")
    (count,) = struct.unpack(">H", cmap[2:4])
    out: set[int] = set()
    for i in range(count):
        platform, encoding, offset = struct.unpack(">HHI", cmap[4 + 8 * i:12 + 8 * i])
        if not (platform == 0 or (platform == 3 and encoding in (1, 10))):
            continue  # not a Unicode map
        (fmt,) = struct.unpack(">H", cmap[offset:offset + 2])
        if fmt == 4:
            (length,) = struct.unpack(">H", cmap[offset + 2:offset + 4])
            out |= _format4(cmap[offset:offset + length])
        elif fmt == 12:
            (length,) = struct.unpack(">I", cmap[offset + 4:offset + 8])
            out |= _format12(cmap[offset:offset + length])
    return frozenset(c for c in out if c >= 0x20)  # control characters are never drawn


def font_codepoints(path: str) -> frozenset[int]:
    """Every Unicode code point the font (the first face of a collection) has a glyph for.

    Raises ValueError when the file is not a font whose map can be read.
    """
    return _codepoints(path, os.stat(path).st_mtime)


def missing_chars(path: str, text: str) -> str:
    """The characters of ``text`` (not whitespace) that the font cannot draw, each once, in order."""
    try:
        have = font_codepoints(path)
    except (OSError, ValueError):
        return ""  # not readable here: the start-up check has already vouched for it
    seen: dict[str, None] = {}
    for ch in text:
        if not ch.isspace() and ord(ch) not in have:
            seen[ch] = None
    return "".join(seen)


def describe_missing(missing: str) -> str:
    """``missing`` in a technician's words: "digits 0-9, Latin A-Z a-z, and '№'"."""
    parts = []
    rest = missing
    for name, chars in (("digits 0-9", string.digits), ("Latin letters A-Z a-z", string.ascii_letters)):
        if any(c in missing for c in chars):
            parts.append(name if all(c in missing for c in chars) else
                         f"{name} (some: {''.join(c for c in chars if c in missing)})")
            rest = "".join(c for c in rest if c not in chars)
    if rest:
        shown = rest[:24] + ("…" if len(rest) > 24 else "")
        parts.append(f"{len(rest)} other characters: {shown}")
    return ", ".join(parts)


# --- what the screens draw -------------------------------------------------------

def required_text(cfg=None) -> str:
    """Every character the screens may draw: printable ASCII (digits, A–Z a–z,
    punctuation, device ids, addresses), both languages of the screens with
    every level and reason name, and, from ``cfg``, the staff name, the section
    and the window number."""
    from ..levels import LEVELS
    from .i18n import CATALOGUE

    parts = [string.digits, string.ascii_letters, string.punctuation, _DRAWN]
    for texts in CATALOGUE.values():
        parts.extend(re.sub(r"\{[a-z_]+\}", "", text) for text in texts.values())
    for level in LEVELS:
        parts += [level.zh, level.en]
        parts += [piece for reason in level.reasons for piece in (reason.zh, reason.en)]
    if cfg is not None:
        parts += [cfg.staff.name, cfg.device.section, cfg.device.window]
    return "".join(dict.fromkeys("".join(parts)))


# --- choosing the font ----------------------------------------------------------------

def fontconfig_cjk() -> str | None:
    """The file fontconfig picks for simplified Chinese, if it really covers zh-cn.

    ``fc-match`` always answers with *some* font; its ``lang`` list tells
    whether that font has the glyphs.
    """
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-f", "%{file}|%{lang}", ":lang=zh-cn"], capture_output=True,
                             text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("fc-match failed: %s", exc)
        return None
    path, _, langs = out.partition("|")
    if path and "zh-cn" in langs.split("|") and os.path.isfile(path):
        return path
    return None


def fontconfig_candidates() -> list[str]:
    """Every font file fontconfig lists with Chinese or Japanese glyphs, its own
    zh-cn choice first (the character map decides; fontconfig's language tags
    only narrow the search: Droid Sans Fallback, for one, is tagged ja/zh-tw)."""
    found = [p for p in (fontconfig_cjk(),) if p]
    exe = shutil.which("fc-list")
    for lang in ("zh-cn", "zh-tw", "ja") if exe else ():
        assert exe is not None, "the loop runs only when fc-list was found"
        try:
            out = subprocess.run([exe, f":lang={lang}", "file"], capture_output=True, text=True, timeout=5,
                                 check=False).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("fc-list failed: %s", exc)
            break
        found += sorted(line.strip().rstrip(":") for line in out.splitlines() if line.strip())
    return [p for p in dict.fromkeys(found) if p.lower().endswith(_KIVY_FONT_SUFFIXES) and os.path.isfile(p)]


def _lacks(path: str, needed: str) -> str | None:
    """Why ``path`` cannot be used (None when it covers ``needed``)."""
    try:
        font_codepoints(path)
    except (OSError, ValueError) as exc:
        return f"cannot read its character map ({exc})"
    missing = missing_chars(path, needed)
    return f"has no glyph for {describe_missing(missing)}" if missing else None


def find_cjk_font(configured: str = "", required: str | None = None, *,
                  known_paths: Iterable[str] = KNOWN_PATHS, use_fontconfig: bool = True) -> str:
    """The font file the screens use: ``[ui] font``, else the first known path
    or fontconfig font that covers ``required`` (default: :func:`required_text`).

    The known Debian paths come before asking fontconfig: the same package gives
    the same font (and layout) on every device. Raises :class:`FontError`
    naming the key or the package to install, and what each font lacks.
    """
    needed = required_text() if required is None else required
    if configured:
        path = os.path.expanduser(configured)
        if not os.path.isfile(path):
            raise FontError(f"[ui] font: {configured!r} is not a font file; set the path of a "
                            f"CJK font (.ttf/.ttc/.otf) or leave it empty to find one automatically")
        if not path.lower().endswith(_KIVY_FONT_SUFFIXES):
            raise FontError(f"[ui] font: {configured!r} is not a .ttf, .ttc or .otf file")
        why = _lacks(path, needed)
        if why:
            raise FontError(f"[ui] font: {configured!r} {why}: the screens would show boxes; set a font that "
                            f"covers Chinese and Latin (e.g. 'apt install {DEBIAN_PACKAGE}', then leave "
                            f"[ui] font empty)")
        return path
    rejected = []
    candidates = [p for p in known_paths if os.path.isfile(p)]
    if use_fontconfig:
        candidates += [p for p in fontconfig_candidates() if p not in candidates]
    for path in candidates:
        why = _lacks(path, needed)
        if why is None:
            return path
        rejected.append(f"{path} {why}")
        log.info("not using the font %s: %s", path, why)
    if rejected:
        raise FontError(f"no installed font can draw every character of the screens ({'; '.join(rejected)}); "
                        f"install one with 'apt install {DEBIAN_PACKAGE}' or set [ui] font to a font "
                        "that covers Chinese and Latin")
    raise FontError(f"no Chinese (CJK) font found; install one with "
                    f"'apt install {DEBIAN_PACKAGE}' or set [ui] font to a .ttf/.ttc file")


def register_default_font(path: str) -> None:
    """Make ``path`` Kivy's default font, so every label and input can show Chinese."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    LabelBase.register(DEFAULT_FONT, path)
