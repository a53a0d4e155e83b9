#!/usr/bin/env python3
"""Make docs/screenshots/*.png from the real app, offscreen.

Every screen in Chinese and in English, at 1024x600 and at 800x480 (each size
in its own process: the window size is fixed when Kivy creates it). Files are
named ``<screen>_<zh|en>_<size>.png``; ``optipng`` shrinks them when installed.

    python tools/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("1024x600", "800x480")
LANGUAGES = {"zh": "zh_CN", "en": "en"}
#: Every screen shot, in the order they are made.
SCREENS = ("idle", "rating", "reasons", "thanks", "out_of_order", "pin", "technician", "paused",
           "rating_not_ready", "thanks_misuse", "rating_long_name")
#: A 差评 opens a case with this deadline; the hall's supervision phone (shown on thanks).
FOLLOWUP = {"rectify_days": 5, "rectify_day_kind": "working", "supervision_phone": "0531-12345"}


def shoot(size: str, out: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from kiosk.screens.harness import offscreen

    offscreen(size)
    from kiosk.buffer import Buffer
    from kiosk.clock import FakeClock
    from kiosk.config import DEVICE_SCHEMA, parse
    from kiosk.device import Device
    from kiosk.exceptions import BufferWriteError
    from kiosk.passcode import hash_pin
    from kiosk.screens.app import KioskApp
    from kiosk.screens.harness import settle, window

    class SwitchableBuffer(Buffer):
        broken = False

        def append(self, event):
            if self.broken:
                raise BufferWriteError("database or disk is full (buffer.db)")
            return super().append(event)

        def probe(self):
            if self.broken:
                raise BufferWriteError("database or disk is full (buffer.db)")
            super().probe()

    window()
    made = []

    def kiosk(mode: str, language: str, name: str = "张敏", section: str = "社保医保综合服务区"):
        tmp = Path(tempfile.mkdtemp(prefix="kiosk-shots-"))
        cfg = parse(DEVICE_SCHEMA, {
            "device": {"id": "hall-a-12", "window": "12", "section": section, "data_dir": str(tmp)},
            "staff": {"no": "0231", "name": name},
            "ui": {"mode": mode, "technician_pin": hash_pin("2468"), "fullscreen": False, "size": size,
                   "language": language, "cooldown_seconds": 10, "thanks_seconds": 3},
            "sync": {"server": "https://rating.example.gov.cn"},
        })
        clock = FakeClock()
        buf = SwitchableBuffer(tmp / "buffer.db")
        device = Device(cfg, buffer=buf, clock=clock)
        device.extras.update(FOLLOWUP)
        app = KioskApp(cfg, device)
        root = app.mount()

        def advance(seconds: float) -> None:
            clock.advance(seconds)
            device.pump()
            app.tick()

        def snap(screen: str, lang: str) -> None:
            settle(4)
            path = out / f"{screen}_{lang}_{size}.png"
            root.export_to_png(str(path))
            made.append(path)

        def close() -> None:
            app.unmount()
            device.close()

        return device, app, buf, advance, snap, close

    for lang, language in LANGUAGES.items():
        device, app, buf, advance, snap, close = kiosk("transaction", language)
        snap("idle", lang)
        device.trigger("2026120100123", "A012").result()
        advance(12.2)
        snap("rating", lang)
        device.press(3, "touch").result()
        device.select_reasons(["207", "213"]).result()
        snap("reasons", lang)
        device.skip_reasons().result()
        snap("thanks", lang)
        advance(10)
        buf.broken = True
        device.trigger(None, None)
        device.press(0, "touch")
        snap("out_of_order", lang)
        buf.broken = False
        advance(3)
        app.open_pin()
        for key in "24":
            app.screens["pin"].type(key)
        snap("pin", lang)
        app.open_technician()
        snap("technician", lang)
        app.close_maintenance()
        device.set_paused(True).result()
        snap("paused", lang)
        close()

        device, app, buf, advance, snap, close = kiosk("free", language)
        device.press(1, "touch").result()
        device.press(1, "keyboard").result()  # within the cooldown: stored as misuse, not thanked
        snap("thanks_misuse", lang)
        advance(1)
        buf.broken = True
        device.press(0, "keyboard")
        buf.broken = False
        advance(2.1)  # back from out of order within the cooldown: not ready yet
        snap("rating_not_ready", lang)
        close()

        device, app, buf, advance, snap, close = kiosk("free", language, name="欧阳木合塔尔·买买提",
                                                       section="不动产登记与税务综合服务区（二楼东侧）")
        snap("rating_long_name", lang)
        close()
    optipng = shutil.which("optipng")
    if optipng:
        subprocess.run([optipng, "-quiet", "-o2", *map(str, made)], check=False)
    return [p.name for p in made]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.size:
        for name in shoot(args.size, out):
            print(name)
        return 0
    for size in SIZES:
        subprocess.run([sys.executable, __file__, "--out", str(out), "--size", size], check=True,
                       env=dict(os.environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
