"""``kiosk run``, ``kiosk status`` and ``kiosk hash-pin``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time


def register(sub) -> None:
    p = sub.add_parser("run", help="run the device (touch screen, or --headless)",
                       description="Run the rating device: the touch app, or with --headless the "
                                   "device without a screen (no Kivy import).")
    p.add_argument("--config", metavar="P", help="config file (default $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    p.add_argument("--headless", action="store_true", help="no screen and no Kivy: buttons, panels and the local API only")
    p.add_argument("--console", action="store_true",
                   help="read presses from stdin: 1..5 left→right, 't [project_no [ticket_no]]' opens a prompt")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="buffer and sync state of this device",
                       description="Show the device's buffer and sync state.")
    p.add_argument("--config", metavar="P", help="config file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("hash-pin", help="hash a technician PIN for [ui] technician_pin",
                       description="Read a PIN (4-12 digits) from stdin and print the value for "
                                   "[ui] technician_pin.")
    p.set_defaults(func=cmd_hash_pin)


def setup_logging() -> None:
    level = logging.DEBUG if os.environ.get("KIOSK_DEBUG") else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .device import Device
    from .hardware import build_sources

    cfg = load_config(args.config)
    setup_logging()
    log = logging.getLogger("kiosk")
    device = Device(cfg)
    for source in build_sources(cfg, console=args.console):
        device.add_source(source)
    api = None
    if cfg.local_api.enabled:
        from .local_api import LocalApi
        api = LocalApi(device, cfg.local_api.bind, cfg.local_api.token)
        api.start()
        log.info("local API on %s", api.address)
    try:
        if args.headless:
            return _run_headless(device, log)
        from .screens.app import run_app  # imports Kivy
        from .systemd import watch_loop
        watch_loop(lambda: device.last_pump, "touch app")
        return run_app(cfg, device)
    finally:
        if api is not None:
            api.stop()
        device.close()


def _run_headless(device, log) -> int:
    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("signal %s: stopping", signum)
        stop.set()
        device.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("device %s (window %s, %s mode) running headless; buffer %s",
             device.cfg.device.id, device.cfg.device.window, device.cfg.ui.mode, device.buffer.path)
    from . import systemd

    device.start()
    watchdog = systemd.Watchdog()
    systemd.ready(f"device {device.cfg.device.id} rating")
    while device._thread.is_alive():
        device.wait_stopped(0.5)
        if time.monotonic() - device.last_pump < watchdog.stale_after():
            watchdog.kick()
    systemd.stopping()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .config import load_config
    from .status import local_status

    cfg = load_config(args.config)
    st = local_status(cfg)
    if args.json:
        print(json.dumps(st, ensure_ascii=False, indent=2))
        return 0
    levels = st["ratings_by_level"]
    lines = [
        f"device      {st['device_id']}  (window {st['window']}, {st['section']}, {st['mode']} mode)",
        f"buffer      {st['buffer']}",
        f"events      {st['events_total']} total, {st['pending']} pending, {st['rejected']} rejected",
        "ratings     " + "  ".join(f"{name} {levels[k]}" for k, name in
                                   zip("54321", ("非常满意", "满意", "基本满意", "不满意", "非常不满意"))),
        f"server      {st['server'] or '(none configured)'}",
        f"last sync   {st['last_sync_ok_at'] or 'never'}",
    ]
    if st.get("last_sync_error"):
        lines.append(f"sync error  {st['last_sync_error']} ({st.get('last_sync_error_at')})")
    if st.get("sync_stopped"):
        lines.append(f"SYNC STOPPED {st['sync_stopped']}")
    if st.get("oldest_pending_age_seconds") is not None:
        lines.append(f"oldest pending {st['oldest_pending_age_seconds']:.0f} s")
    for inc in st.get("incidents") or []:
        lines.append(f"INCIDENT    {inc['at']} {inc['kind']}: {json.dumps(inc['detail'], ensure_ascii=False)}")
    for rej in st.get("rejected_events") or []:
        lines.append(f"rejected    {rej['id']} ({rej['type']}): {rej['error']}")
    if st.get("note"):
        lines.append(st["note"])
    print("\n".join(lines))
    return 0


def cmd_hash_pin(args: argparse.Namespace) -> int:
    from .passcode import hash_pin

    pin = sys.stdin.readline().strip()
    print(hash_pin(pin))
    return 0
