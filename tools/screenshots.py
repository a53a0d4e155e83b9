#!/usr/bin/env python3
"""Make docs/screenshots/*.png from the real app, offscreen.

Every screen in Chinese and the rating and reasons screens in English, at
1024x600 and at 800x480 (each size in its own process: the window size is
fixed when Kivy creates it).

    python tools/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("1024x600", "800x480")


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

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-shots-"))
    cfg = parse(DEVICE_SCHEMA, {
        "device": {"id": "hall-a-12", "window": "12", "section": "社保医保综合服务区", "data_dir": str(tmp)},
        "staff": {"no": "0231", "name": "张敏"},
        "ui": {"mode": "transaction", "technician_pin": hash_pin("2468"), "fullscreen": False, "size": size},
        "sync": {"server": "https://rating.example.gov.cn"},
    })
    clock = FakeClock()
    buf = SwitchableBuffer(tmp / "buffer.db")
    device = Device(cfg, buffer=buf, clock=clock)
    window()
    app = KioskApp(cfg, device)
    root = app.mount()
    made = []

    def snap(name: str, language: str = "zh") -> None:
        settle(4)
        path = out / f"{name}_{language}_{size}.png"
        root.export_to_png(str(path))
        made.append(path.name)

    snap("idle")
    device.trigger("2026120100123", "A012").result()
    clock.advance(12.2)
    device.pump()
    app.tick()
    snap("rating")
    device.press(3, "touch").result()
    device.select_reasons(["207", "213"]).result()
    snap("reasons")
    device.skip_reasons().result()
    snap("thanks")
    clock.advance(10)
    device.pump()
    buf.broken = True
    device.trigger(None, None)
    device.press(0, "touch")
    snap("out_of_order")
    buf.broken = False
    clock.advance(3)
    device.pump()
    app.open_pin()
    for key in "24":
        app.screens["pin"].type(key)
    snap("pin")
    app.open_technician()
    snap("technician")
    app.close_maintenance()
    app.set_language("en")
    device.trigger("2026120100124", "A013").result()
    snap("rating", "en")
    device.press(4, "touch").result()
    device.select_reasons(["109"]).result()
    snap("reasons", "en")
    app.unmount()
    device.close()
    return made


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
