#!/usr/bin/env python3
"""Touch app benchmark: cold start, touch → thanks latency, and many presses.

1. Cold start to the first drawn frame and peak RSS of the kiosk app, beside a
   bare Kivy window (one label), each in fresh subprocesses, alternating
   (targets: ≤ 1.5× the bare start, ≤ bare + 40 MB). A third child, the bare
   window plus the device core (config, buffer, session; no screens), shows
   what the screens themselves add.
2. A real touch (``UnitTestTouch``) on a rating button until the thanks screen
   is drawn (frame flipped), beside a bare Kivy button that switches a screen
   (target: median ≤ 50 ms).
3. Many presses through the app (real touches, the session, the durable
   buffer on tmpfs, the screen switches; one frame drawn every 50 presses) and
   the RSS growth after a warm-up (target < 5 MB).

    python bench/ui.py [--presses 100000] [--starts 5] [--touches 200]

Offscreen Kivy (SDL offscreen driver, Mesa llvmpipe single-threaded: its
threaded mode grows memory with every frame, bare Kivy included), window 1024x600.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = "1024x600"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- child processes: one cold start each ---------------------------------------

def child(kind: str, spawned_at: float) -> None:
    sys.path.insert(0, str(ROOT))
    from kiosk.screens.harness import offscreen

    offscreen(SIZE)
    from kivy.app import App
    from kivy.clock import Clock

    def report(app):
        from kivy.core.window import Window

        def flipped(*_):
            Window.unbind(on_flip=flipped)
            first = time.time() - spawned_at
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if hasattr(app, "prepare"):  # then every screen, as a few seconds into a real run
                app.prepare()
            print(json.dumps({"first_frame_s": first, "first_frame_rss_mb": rss}), flush=True)
            Clock.schedule_once(lambda _dt: app.stop(), 0)

        Window.bind(on_flip=flipped)

    if kind in ("bare", "core"):
        from kivy.uix.label import Label

        if kind == "core":  # the device core any screen needs: config, buffer, session
            from kiosk.config import DEVICE_SCHEMA, parse
            from kiosk.device import Device

            cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": tempfile.mkdtemp(prefix="bench-ui-")}})
            Device(cfg)

        class Bare(App):
            def build(self):
                return Label(text="bare Kivy window")

            def on_start(self):
                report(self)

        Bare().run()
        return
    from kiosk.config import DEVICE_SCHEMA, parse
    from kiosk.device import Device
    from kiosk.screens.app import KioskApp, configure_kivy

    tmp = tempfile.mkdtemp(prefix="bench-ui-")
    cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": tmp}, "staff": {"no": "0231", "name": "张敏"},
                                "ui": {"fullscreen": False, "size": SIZE}, "local_api": {"enabled": False}})
    configure_kivy(cfg)
    from kivy.config import Config

    Config.set("graphics", "fullscreen", "0")
    device = Device(cfg)

    class Timed(KioskApp):
        def on_start(self):
            super().on_start()
            report(self)

    Timed(cfg, device).run()
    device.close()


def cold_start(kind: str) -> tuple[float, float, float]:
    """(seconds from spawn to the first drawn frame, RSS then, peak RSS in MB) of one fresh process.

    The app child makes its remaining screens right after the first frame, so
    its peak RSS includes every screen.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    spawned = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, "--spawned", repr(spawned)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{kind} child drew no frame (status {status})")
    got = json.loads(lines[-1])
    return got["first_frame_s"], got["first_frame_rss_mb"], usage.ru_maxrss / 1024


# --- in-process measurements ----------------------------------------------------

def frame_latency(touch_at, drawn, reset, n: int) -> list[float]:
    """ms from a touch until the frame showing its result has been flipped."""
    from kivy.base import EventLoop
    from kivy.core.window import Window

    flips = []
    Window.bind(on_flip=lambda *_: flips.append(time.perf_counter()))
    out = []
    for _ in range(n):
        reset()
        EventLoop.idle()
        flips.clear()
        t0 = time.perf_counter()
        touch_at()
        for _ in range(10):
            EventLoop.idle()
            if drawn() and flips:
                break
        if not drawn():
            raise RuntimeError("the expected screen was not shown")
        out.append((flips[-1] - t0) * 1000)
    return out


def in_process(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from kiosk.screens.harness import offscreen

    offscreen(SIZE)
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

    from kiosk.buffer import Buffer
    from kiosk.clock import FakeClock
    from kiosk.config import DEVICE_SCHEMA, parse
    from kiosk.device import Device
    from kiosk.screens.app import KioskApp
    from kiosk.screens.harness import settle, window

    win = window()

    # baseline: a bare Kivy button that switches to another screen
    sm = ScreenManager(transition=NoTransition())
    first, second = Screen(name="first"), Screen(name="second")
    button = Button(text="press", size_hint=(0.3, 0.5), pos_hint={"x": 0.1, "y": 0.2})
    button.bind(on_release=lambda *_: setattr(sm, "current", "second"))
    first.add_widget(button)
    second.add_widget(Label(text="thanks"))
    sm.add_widget(first)
    sm.add_widget(second)
    win.add_widget(sm)
    settle(3)
    bx, by = button.center

    def bare_touch():
        t = UnitTestTouch(bx, by)
        t.touch_down()
        t.touch_up()

    bare = frame_latency(bare_touch, lambda: sm.current == "second",
                         lambda: setattr(sm, "current", "first"), args.touches)
    win.remove_widget(sm)

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": str(tmp)}, "staff": {"no": "0231", "name": "张敏"},
                                "ui": {"cooldown_seconds": 0, "fullscreen": False}})
    clock = FakeClock()
    device = Device(cfg, buffer=Buffer(tmp / "buffer.db"), clock=clock)
    app = KioskApp(cfg, device)
    app.mount()
    settle(3)
    buttons = app.screens["rating"].buttons
    centres = [b.to_window(b.x + b.width / 2, b.y + b.height / 2) for b in buttons]
    good = [0, 1, 2]  # levels that go straight to thanks (reasons only after a 差评)
    state = {"i": 0}

    def back_to_rating():
        clock.advance(cfg.ui.thanks_seconds + 0.1)
        device.pump()

    def app_touch():
        x, y = centres[good[state["i"] % 3]]
        state["i"] += 1
        t = UnitTestTouch(x, y)
        t.touch_down()
        t.touch_up()

    touch = frame_latency(app_touch, lambda: app.current == "thanks", back_to_rating, args.touches)

    app.unmount()
    device.close()

    # Many presses: every level in turn, a frame drawn every 50 presses. The
    # buffer lives on tmpfs here so the figure is the app's, not the disk's
    # (bench/press_latency.py measures the durable write).
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp
    many = Path(tempfile.mkdtemp(prefix="bench-ui-", dir=shm))
    cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": str(many)}, "staff": {"no": "0231", "name": "张敏"},
                                "ui": {"cooldown_seconds": 0, "fullscreen": False}})
    clock = FakeClock()
    device = Device(cfg, buffer=Buffer(many / "buffer.db"), clock=clock)
    app = KioskApp(cfg, device)
    app.mount()
    settle(3)
    app.prepare()
    settle(2)
    buttons = app.screens["rating"].buttons
    centres = [b.to_window(b.x + b.width / 2, b.y + b.height / 2) for b in buttons]
    from kivy.base import EventLoop

    def presses(n: int) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            x, y = centres[i % 5]
            if app.current != "rating":
                back_to_rating()
                if app.current == "reasons":
                    device.skip_reasons().result()
                    back_to_rating()
            t = UnitTestTouch(x, y)
            t.touch_down()
            t.touch_up()
            if i % 50 == 0:
                EventLoop.idle()
        return time.perf_counter() - t0

    warm = min(2000, args.presses // 10)
    before_total = device.buffer.counts()["ratings_by_level"]
    presses(warm)
    import gc

    gc.collect()
    rss_before = rss_mb()
    seconds = presses(args.presses)
    gc.collect()
    rss_after = rss_mb()
    after_total = device.buffer.counts()["ratings_by_level"]
    stored = sum(after_total.values()) - sum(before_total.values()) - warm
    app.unmount()
    device.close()
    for f in many.iterdir():
        f.unlink()
    many.rmdir()
    return {"bare": bare, "touch": touch, "presses": args.presses, "stored": stored,
            "presses_seconds": seconds, "rss_before": rss_before, "rss_after": rss_after}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--touches", type=int, default=200)
    parser.add_argument("--child", choices=["bare", "core", "app"], help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.spawned)
        return 0

    starts = {"bare": [], "core": [], "app": []}
    for _ in range(args.starts):
        for kind in ("bare", "core", "app"):
            starts[kind].append(cold_start(kind))
    bare_start = statistics.median(s for s, _, _ in starts["bare"]) * 1000
    app_start = statistics.median(s for s, _, _ in starts["app"]) * 1000
    core_start = statistics.median(s for s, _, _ in starts["core"]) * 1000
    bare_rss = statistics.median(r for _, _, r in starts["bare"])
    core_rss = statistics.median(r for _, _, r in starts["core"])
    app_rss = statistics.median(r for _, _, r in starts["app"])
    app_first_rss = statistics.median(r for _, r, _ in starts["app"])

    r = in_process(args)
    touch_med, bare_med = statistics.median(r["touch"]), statistics.median(r["bare"])
    growth = r["rss_after"] - r["rss_before"]
    rows = [
        ("cold start → first frame", f"{app_start:.0f} ms", f"{bare_start:.0f} ms", f"{app_start / bare_start:.2f}×",
         "≤ 1.5×"),
        ("peak RSS, all screens made", f"{app_rss:.1f} MB", f"{bare_rss:.1f} MB", f"+{app_rss - bare_rss:.1f} MB",
         "≤ +40 MB"),
        ("  RSS at the first frame", f"{app_first_rss:.1f} MB", "", f"+{app_first_rss - bare_rss:.1f} MB", ""),
        ("  bare Kivy + device core", f"{core_start:.0f} ms", f"{core_rss:.1f} MB",
         f"app {app_start / core_start:.2f}×, +{app_rss - core_rss:.1f} MB", ""),
        ("touch → screen drawn, median", f"{touch_med:.1f} ms", f"{bare_med:.1f} ms", f"{touch_med / bare_med:.2f}×",
         "≤ 50 ms"),
        ("touch → screen drawn, p95", f"{pct(r['touch'], 95):.1f} ms", f"{pct(r['bare'], 95):.1f} ms", "", ""),
        (f"{r['presses']:,} presses", f"{r['presses_seconds']:.1f} s "
         f"({r['presses_seconds'] / r['presses'] * 1e6:.0f} µs each)", "", f"{r['stored']:,} stored", ""),
        ("RSS growth over the presses", f"{growth:+.2f} MB", "", f"{r['rss_before']:.1f} → {r['rss_after']:.1f} MB",
         "< 5 MB"),
    ]
    print(f"{'':32} {'kiosk app':>24} {'bare Kivy':>12} {'':>18} {'target':>9}")
    for name, a, b, c, t in rows:
        print(f"{name:32} {a:>24} {b:>12} {c:>18} {t:>9}")
    print(json.dumps({
        "bench": "ui",
        "median_ms": round(touch_med, 2), "p95_ms": round(pct(r["touch"], 95), 2),
        "baseline_median_ms": round(bare_med, 2), "ratio": round(touch_med / bare_med, 2),
        "target_median_ms": 50,
        "start_ms": round(app_start, 1), "bare_start_ms": round(bare_start, 1),
        "start_ratio": round(app_start / bare_start, 2), "target_start_ratio": 1.5,
        "peak_rss_mb": round(app_rss, 1), "bare_peak_rss_mb": round(bare_rss, 1),
        "first_frame_rss_mb": round(app_first_rss, 1),
        "rss_over_bare_mb": round(app_rss - bare_rss, 1), "target_rss_over_bare_mb": 40,
        "core_start_ms": round(core_start, 1), "core_peak_rss_mb": round(core_rss, 1),
        "start_ratio_over_core": round(app_start / core_start, 2), "rss_over_core_mb": round(app_rss - core_rss, 1),
        "presses": r["presses"], "presses_stored": r["stored"], "presses_seconds": round(r["presses_seconds"], 1),
        "press_rss_growth_mb": round(growth, 2), "target_rss_growth_mb": 5,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
