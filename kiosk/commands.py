"""``kiosk run``, ``kiosk status`` and ``kiosk hash-pin``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from typing import Any


def register(sub) -> None:
    p = sub.add_parser("run", help="run the device (touch screen, or --headless)",
                       description="Run the rating device: the touch app, or with --headless the "
                                   "device without a screen (no Kivy import). Without a config file it "
                                   "runs on built-in defaults and says so on stderr, with the buffer's "
                                   "path. A touch app that cannot open the screen (no display, a failing "
                                   "KMS/DRM backend) ends with one `kiosk: error:` line naming the SDL "
                                   "video backend. The local API for the queue system starts with the "
                                   "device (docs/local_api.md).")
    p.add_argument("--config", metavar="P", help="config file (default $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    p.add_argument("--headless", action="store_true", help="no screen and no Kivy: buttons, panels and the local API only")
    p.add_argument("--console", action="store_true",
                   help="read presses from stdin: 1..5 left→right, 't [project_no [ticket_no]]' opens a prompt")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="buffer and sync state of this device",
                       description="Show the device's buffer and sync state, and where the local "
                                   "API listens and where its token is (docs/local_api.md).")
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
    from .config import DEFAULT_PATH, ENV_VAR, load_config
    from .device import Device, buffer_path
    from .hardware import build_sources

    cfg = load_config(args.config)
    setup_logging()
    log = logging.getLogger("kiosk")
    if cfg.path is None:
        print(f"kiosk: warning: no config file (--config, ${ENV_VAR} or {DEFAULT_PATH}): running on "
              f"built-in defaults as device {cfg.device.id!r}, window {cfg.device.window}, {cfg.ui.mode} "
              f"mode, no server; buffer {buffer_path(cfg)}. Write {DEFAULT_PATH} (examples in config/) "
              f"or run `kiosk provision`.", file=sys.stderr, flush=True)
    device = Device(cfg)
    for source in build_sources(cfg, console=args.console):
        device.add_source(source)
    api = None
    if cfg.local_api.enabled:
        from .local_api import LocalApi, load_token

        token, where, created = load_token(cfg)
        if created:
            log.warning("local API: no token configured, made a new one in %s: give it to the queue "
                        "system (docs/local_api.md)", where)
        api = LocalApi(device, cfg.local_api.bind, token,
                       max_prompts_per_minute=cfg.local_api.max_prompts_per_minute,
                       require_project_no=cfg.local_api.require_project_no)
        api.start()
        log.info("local API token: %s", where)
        log.info("local API on %s", api.address)
    try:
        if args.headless:
            return _run_headless(device, log)
        return _run_touch_app(cfg, device)
    finally:
        if api is not None:
            api.stop()
        device.close()


class _NoWindow(logging.Filter):
    """Catches Kivy's "no Window provider" report, keeps its reason and drops
    the record (with its traceback) unless KIOSK_DEBUG is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "Unable to find any valuable Window provider" not in text:
            return True
        found = re.search(r"^\w+ - \w+: (.+)$", text, re.M)
        self.reason = found.group(1).strip() if found else "no window provider could start"
        self.reason = re.sub(r"^b'(.*)'$", r"\1", self.reason)
        return bool(os.environ.get("KIOSK_DEBUG"))


def _sdl_video_driver() -> str | None:
    """The video driver SDL picked (SDL_GetCurrentVideoDriver of the loaded libSDL2)."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            libs = {line.split()[-1] for line in f if "libSDL2-2" in line or "libSDL2.so" in line}
        for lib in sorted(libs):
            fn = ctypes.CDLL(lib).SDL_GetCurrentVideoDriver
            fn.restype = ctypes.c_char_p
            name = fn()
            if name:
                return name.decode()
    except (OSError, AttributeError):
        pass
    return None


def _run_touch_app(cfg, device) -> int:
    """The touch app; a screen that cannot open ends as one ``kiosk: error:`` line
    naming the video backend (the KMS/DRM device, the X display …)."""
    from .exceptions import KioskError

    # Only SDL2: Kivy's fallback X11 window provider exits the process from C
    # (status 102, "Couldn't connect to X server") when there is no display.
    os.environ.setdefault("KIVY_WINDOW", "sdl2")
    no_window = _NoWindow()
    logging.getLogger("kivy").addFilter(no_window)
    requested = os.environ.get("SDL_VIDEODRIVER") or ""
    try:
        from .screens.app import run_app  # imports Kivy
        from .systemd import watch_loop

        def check_driver(_dt) -> None:
            # With no display at all SDL quietly draws offscreen: nothing would show.
            driver = _sdl_video_driver()
            if driver in ("offscreen", "dummy") and requested != driver:
                no_window.reason = f"no display found, SDL fell back to its {driver} driver and nothing would show"
                from kivy.app import App

                App.get_running_app().stop()

        from kivy.clock import Clock

        Clock.schedule_once(check_driver, 0)
        watch_loop(lambda: device.last_pump, "touch app")
        try:
            code = run_app(cfg, device)
        except Exception:
            if no_window.reason is None:
                raise
            code = 1
    finally:
        logging.getLogger("kivy").removeFilter(no_window)
    if no_window.reason is not None:
        hint = {"kmsdrm": "is a screen connected, is /dev/dri/card* there and is the service user in the "
                          "video and render groups?",
                "x11": f"is an X server running on DISPLAY={os.environ.get('DISPLAY') or '(unset)'}?",
                "wayland": "is a Wayland compositor running?"}.get(
            requested, "set SDL_VIDEODRIVER=kmsdrm (the screen) or x11 (a desktop), or connect a screen")
        where = (f"through the SDL video backend {requested} (SDL_VIDEODRIVER={requested})" if requested
                 else "(SDL_VIDEODRIVER unset)")
        raise KioskError(f"the touch app cannot open the screen {where}: {no_window.reason}; {hint} "
                         f"(`kiosk doctor` checks the display; `kiosk run --headless` runs without one)")
    return code


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
        f"local API   {_local_api_line(st['local_api'])}",
    ]
    if st["config"] is None:
        lines.append("config      none: built-in defaults")
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


def _local_api_line(api: dict[str, Any]) -> str:
    if not api["enabled"]:
        return "disabled"
    if api["token_file"] is None:
        token = "token inline in [local_api] token"
    elif api["token_file_exists"]:
        token = f"token in {api['token_file']}"
    else:
        token = f"token: {api['token_file']} (made on the device's first start)"
    return f"http://{api['bind']}, {token}, at most {api['max_prompts_per_minute']} prompts/min"


def cmd_hash_pin(args: argparse.Namespace) -> int:
    from .passcode import hash_pin

    pin = sys.stdin.readline().strip()
    print(hash_pin(pin))
    return 0
