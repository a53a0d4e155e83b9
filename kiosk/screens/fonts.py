"""Finding a font that has Chinese glyphs.

Kivy's bundled Roboto has no CJK glyphs: without a CJK font every label would
show boxes. The app therefore refuses to start when none is found, and says
which Debian package to install.
"""

from __future__ import annotations

import logging
import os
import shutil
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


class FontError(KioskError, FileNotFoundError):
    """No usable CJK font: the screens would show boxes instead of characters."""


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


def find_cjk_font(configured: str = "", *, known_paths: Iterable[str] = KNOWN_PATHS,
                  use_fontconfig: bool = True) -> str:
    """The font file the screens use: ``[ui] font``, else a known path, else fontconfig.

    The known Debian paths come before asking fontconfig: the same package gives
    the same font (and layout) on every device, and a stat is much quicker
    than running ``fc-match`` at every start. Raises :class:`FontError` naming
    the key or the package to install.
    """
    if configured:
        path = os.path.expanduser(configured)
        if not os.path.isfile(path):
            raise FontError(f"[ui] font: {configured!r} is not a font file; set the path of a "
                            f"CJK font (.ttf/.ttc/.otf) or leave it empty to find one automatically")
        if not path.lower().endswith(_KIVY_FONT_SUFFIXES):
            raise FontError(f"[ui] font: {configured!r} is not a .ttf, .ttc or .otf file")
        return path
    for path in known_paths:
        if os.path.isfile(path):
            return path
    if use_fontconfig:
        found = fontconfig_cjk()
        if found and found.lower().endswith(_KIVY_FONT_SUFFIXES):
            return found
    raise FontError(f"no Chinese (CJK) font found; install one with "
                    f"'apt install {DEBIAN_PACKAGE}' or set [ui] font to a .ttf/.ttc file")


def register_default_font(path: str) -> None:
    """Make ``path`` Kivy's default font, so every label and input can show Chinese."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    LabelBase.register(DEFAULT_FONT, path)
