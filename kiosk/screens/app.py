"""The Kivy app: the screens, wired to the device.

The app decides nothing about ratings. A touch on a rating button, a keypad
key 1-5 or a reasons chip becomes a call on :class:`kiosk.device.Device`; the
screen shown follows the session's :class:`~kiosk.session.View`, which the
device delivers to :meth:`KioskApp.on_view` on the Kivy main thread (the app
adopts the device: it IS the session's thread). Presses from GPIO or serial
panels therefore show the same thanks screen as a touch.

``run_app`` configures Kivy for a kiosk (fullscreen, no cursor, no escape)
before the window exists; tests and the screenshot tool use
:meth:`KioskApp.mount` on an already open offscreen window instead.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import sqlite3
import time
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.config import Config
from kivy.uix.floatlayout import FloatLayout

from .. import __version__, status
from ..clock import rfc3339
from ..config import data_dir
from ..exceptions import KioskError
from ..levels import LEVELS
from ..passcode import check_pin
from ..session import State
from .audio import Voice
from .base import KioskScreen
from .fonts import find_cjk_font, missing_chars, register_default_font, required_text
from .i18n import check_language, tr
from .idle import IdleScreen
from .out_of_order import OutOfOrderScreen
from .rating import RatingScreen
from .reasons import ReasonsScreen
from .technician import PinScreen, TechnicianScreen, sync_error_words
from .thanks import ThanksScreen

log = logging.getLogger(__name__)

SCREEN_FOR_STATE = {
    State.IDLE: "idle",
    State.RATING: "rating",
    State.REASONS: "reasons",
    State.THANKS: "thanks",
    State.OUT_OF_ORDER: "out_of_order",
}
MAINTENANCE = ("pin", "technician")


def screen_for(view) -> str:
    """The screen that shows ``view``: a paused window at home shows the idle screen's 暂停服务."""
    if view.paused and view.state in (State.RATING, State.IDLE) and view.prompt is None:
        return "idle"
    return SCREEN_FOR_STATE[view.state]
STATE_KEYS = {state: f"state_{state.value}" for state in State}
SCREEN_CLASSES = {cls.screen_name: cls for cls in (RatingScreen, IdleScreen, ReasonsScreen, ThanksScreen,
                                                   OutOfOrderScreen, PinScreen, TechnicianScreen)}
#: Seconds after the first frame at which the screens not yet shown are made.
PREPARE_AFTER = 0.5

#: The hidden gesture: a press this long in the top-left corner opens the PIN pad.
LONG_PRESS_SECONDS = 3.0
CORNER = (0.12, 0.15)  # fraction of the width and height, from the top-left
#: The technician screens close by themselves after this long without a touch.
MAINTENANCE_TIMEOUT = 120.0
NOT_SET_TIMEOUT = 5.0
PIN_ATTEMPTS = 5
PIN_LOCK_SECONDS = 60.0
PUMP_INTERVAL = 0.1

#: Keyboard codes of the digits 1-5: the top row and the numeric keypad (HID panels).
KEY_POSITIONS = {49 + i: i for i in range(5)} | {257 + i: i for i in range(5)}
ESCAPE = 27


def configure_kivy(cfg) -> None:
    """Kiosk settings that Kivy reads when the window is created."""
    import sys

    if "kivy.core.window" in sys.modules:
        log.warning("the Kivy window already exists: fullscreen/size settings come too late")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "pause_on_minimize", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    width, height = cfg.ui.size.split("x")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("graphics", "fullscreen", "auto" if cfg.ui.fullscreen else "0")
    Config.set("graphics", "borderless", "1" if cfg.ui.fullscreen else "0")
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "show_cursor", "0")


class Screens(dict):
    """The app's screens by name, each made on first use."""

    def __init__(self, app: KioskApp):
        super().__init__()
        self.app = app

    def __missing__(self, name: str) -> KioskScreen:
        screen = SCREEN_CLASSES[name](self.app)
        self[name] = screen
        self.app.root.add_screen(screen)
        return screen


class KioskRoot(FloatLayout):
    """The window's root: shows one screen at a time, plus the hidden corner gesture.

    Switching screens swaps the child at once (no transition, no frame in
    between), so the thanks screen is up in the very next frame after a touch.
    """

    def __init__(self, app: KioskApp, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self.screens: dict[str, KioskScreen] = {}
        self._shown: KioskScreen | None = None

    def add_screen(self, screen: KioskScreen) -> None:
        self.screens[screen.name] = screen

    @property
    def current(self) -> str | None:
        return self._shown.name if self._shown is not None else None

    def show(self, name: str) -> None:
        screen = self.screens[name]
        if screen is self._shown:
            return
        if self._shown is not None:
            self.remove_widget(self._shown)
        self._shown = screen
        self.add_widget(screen)

    def in_corner(self, x: float, y: float) -> bool:
        return x <= self.width * CORNER[0] and y >= self.height * (1 - CORNER[1])

    def on_touch_down(self, touch):
        self.app.touched()
        if self.current not in MAINTENANCE and self.in_corner(*touch.pos):
            touch.grab(self)
            self.app.corner_down(touch)
            return True
        return super().on_touch_down(touch)

    def on_touch_up(self, touch):
        if touch.grab_current is self:
            touch.ungrab(self)
            self.app.corner_up(touch)
            return True
        return super().on_touch_up(touch)


class KioskApp(App):
    """The touch screen app for one device."""

    use_kivy_settings = False

    def __init__(self, cfg, device, *, font: str | None = None, voice: Voice | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.device = device
        self.clock = device.clock
        self.font = font or find_cjk_font(cfg.ui.font, required_text(cfg))
        self.language = check_language(cfg.ui.language)
        self.title = tr(self.language, "app_title")
        self.voice = voice or Voice(cfg.audio)
        self.view = None
        self.screens: Screens | dict = {}
        self._prepare_event = None
        self._corner_since: float | None = None
        self._last_touch = self.clock.monotonic()
        self._maintenance_timeout = MAINTENANCE_TIMEOUT
        self._pin_failures = 0
        self._pin_locked_until = 0.0
        self._keys_down: set[int] = set()
        self._pump_event = None
        self._attached = False
        self._checked_name: str | None = None

    # --- life cycle ------------------------------------------------------------

    def build(self):
        register_default_font(self.font)
        from kivy.core.window import Window

        Window.show_cursor = False
        self.root = KioskRoot(self)
        self.screens = Screens(self)
        first = screen_for(self.device.session.view())
        self.root.show(self.screens[first].name)
        return self.root

    def prepare(self, _dt=None) -> None:
        """Make the screens not needed for the first frame (after it is drawn)."""
        for name in SCREEN_CLASSES:
            self.screens[name]
        self.screens["reasons"].prepare()

    def on_start(self) -> None:
        self.attach()

    def on_stop(self) -> None:
        self.detach()

    def open_settings(self, *args) -> bool:
        return False  # F1 must not open Kivy's settings on a citizen's screen

    def attach(self) -> None:
        """Adopt the device (this thread becomes the session's), start the panels, follow views."""
        if self._attached:
            return
        from kivy.core.window import Window

        self._attached = True
        self.device.add_listener(self)
        self.device.adopt(wake=self._wake)
        self._pump_event = Clock.schedule_interval(self.tick, PUMP_INTERVAL)
        Window.bind(on_key_down=self._on_key_down, on_key_up=self._on_key_up,
                    on_request_close=self._on_request_close)
        self.device.start_sources()
        self.on_view(self.device.session.view())
        Window.bind(on_flip=self._first_frame)
        log.info("screens up: window %s, %s mode, %dx%d, font %s", self.cfg.device.window, self.cfg.ui.mode,
                 *Window.size, self.font)

    def _first_frame(self, *_) -> None:
        from kivy.core.window import Window

        Window.unbind(on_flip=self._first_frame)
        if self._attached:
            self._prepare_event = Clock.schedule_once(self.prepare, PREPARE_AFTER)

    def detach(self) -> None:
        if not self._attached:
            return
        from kivy.core.window import Window

        self._attached = False
        for event in (self._pump_event, self._prepare_event):
            if event is not None:
                event.cancel()
        Window.unbind(on_key_down=self._on_key_down, on_key_up=self._on_key_up,
                      on_request_close=self._on_request_close, on_flip=self._first_frame)
        if self in self.device.listeners:
            self.device.listeners.remove(self)

    def mount(self):
        """Build into the already open window and attach (tests, screenshots, benchmarks)."""
        from kivy.core.window import Window

        root = self.build()
        Window.add_widget(root)
        self.attach()
        return root

    def unmount(self) -> None:
        from kivy.core.window import Window

        self.detach()
        if self.root is not None and self.root.parent is not None:
            Window.remove_widget(self.root)

    def _wake(self) -> None:
        Clock.schedule_once(self._pump_soon, 0)

    def _pump_soon(self, _dt) -> None:
        self.device.pump()

    def _on_request_close(self, *args, **kwargs) -> bool:
        return True  # a citizen cannot close the app (Alt+F4, window manager)

    # --- following the session -----------------------------------------------

    @property
    def current(self) -> str | None:
        return self.root.current

    def tr(self, key: str, **values) -> str:
        return tr(self.language, key, **values)

    def on_view(self, view) -> None:
        """The session changed: show the matching screen (on the session's thread)."""
        previous, self.view = self.view, view
        name = screen_for(view)
        self.screens[name].show(view)
        if self.root is not None and self.current not in MAINTENANCE and self.current != name:
            log.info("screen %s", name)
            self.root.show(name)
        if view.prompt is not None and (previous is None or previous.prompt is None
                                        or previous.prompt.id != view.prompt.id):
            self.voice.play("prompt")
        if view.state is State.THANKS and (previous is None or previous.state is not State.THANKS):
            self.voice.play("thanks")

    def tick(self, _dt=None) -> None:
        """Run the session's timers, the gesture and the countdowns (every 0.1 s)."""
        self.device.pump()
        now = self.clock.monotonic()
        if self._corner_since is not None and now - self._corner_since >= LONG_PRESS_SECONDS:
            self._corner_since = None
            self.open_pin()
        if self.root is None:
            return
        current = self.current
        if current in MAINTENANCE:
            if now - self._last_touch >= self._maintenance_timeout:
                self.close_maintenance()
        elif self.view is not None and (self.view.seconds_left is not None
                                        or self.view.cooldown_left is not None):
            self.screens[current].tick(self.device.session.view())

    def show_staff(self, card, view) -> None:
        """Fill a staff card for the staff member the view is about."""
        staff_no, staff_name = view.window.staff_no, view.window.staff_name
        if view.prompt is not None and view.prompt.staff_no and view.prompt.staff_no != staff_no:
            staff_no, staff_name = view.prompt.staff_no, view.prompt.staff_name
        name = staff_name or self.tr("staff_unknown")
        if name != self._checked_name:
            self._checked_name = name
            missing = missing_chars(self.font, name + view.window.section)
            if missing:
                log.warning("the font %s has no glyph for %s in the staff name or section %r: they show as "
                            "boxes; set [ui] font to a font that covers them", self.font, missing,
                            name + " / " + view.window.section)
        card.show(name, self.tr("staff_no", no=staff_no) if staff_no else "", self.photo_for(staff_no))

    def on_settings(self, extras: dict) -> None:
        """Remote settings arrived (on the session's thread): language and staff photo."""
        if "thanks" in self.screens:
            self.screens["thanks"].relabel()  # the follow-up line after a 差评
        if extras.get("language") and extras["language"] != self.language:
            self.set_language(extras["language"])
        elif self.view is not None:
            for name in SCREEN_FOR_STATE.values():
                self.screens[name].show(self.device.session.view())

    def photo_for(self, staff_no: str) -> str | None:
        """The remote settings' photo for the staff on duty, else
        ``<data_dir>/staff/<工号>.png|jpg``, else ``[staff] photo`` for the configured staff."""
        remote_photo = self.device.extras.get("staff_photo")
        if (staff_no and staff_no == self.device.session.window.staff_no and remote_photo
                and Path(remote_photo).is_file()):
            return remote_photo
        if staff_no:
            folder = data_dir(self.cfg) / "staff"
            for ext in ("png", "jpg", "jpeg"):
                candidate = folder / f"{staff_no}.{ext}"
                if candidate.is_file():
                    return str(candidate)
        if staff_no == self.cfg.staff.no and self.cfg.staff.photo:
            return str(Path(self.cfg.staff.photo).expanduser())
        return None

    def set_language(self, language: str) -> None:
        self.language = check_language(language)
        for screen in self.screens.values():
            screen.relabel()
        if self.view is not None:
            for name in SCREEN_FOR_STATE.values():
                self.screens[name].show(self.view)

    # --- citizen input → device ---------------------------------------------

    def press(self, position: int, source: str = "touch"):
        return self.device.press(position, source)

    def select_reasons(self, codes):
        return self.device.select_reasons(codes)

    def submit_reasons(self, codes):
        return self.device.submit_reasons(codes)

    def skip_reasons(self):
        return self.device.skip_reasons()

    def _on_key_down(self, window, key, scancode=None, codepoint=None, modifiers=None, *args) -> bool:
        if key == ESCAPE:
            return True
        if self.root is None or self.current in MAINTENANCE:
            return False
        position = KEY_POSITIONS.get(key)
        if position is None or not self.cfg.hardware.keyboard.enabled:
            return False
        if key in self._keys_down:
            return True  # auto-repeat of a held key is not another press
        self._keys_down.add(key)
        self.press(position, "keyboard")
        return True

    def _on_key_up(self, window, key, *args) -> bool:
        self._keys_down.discard(key)
        return False

    # --- the technician's way in -----------------------------------------------

    def touched(self) -> None:
        self._last_touch = self.clock.monotonic()

    def corner_down(self, touch) -> None:
        self._corner_since = self.clock.monotonic()

    def corner_up(self, touch) -> None:
        if self._corner_since is not None and self.clock.monotonic() - self._corner_since >= LONG_PRESS_SECONDS:
            self.open_pin()
        self._corner_since = None

    def open_pin(self) -> None:
        pin = self.screens["pin"]
        if not self.cfg.ui.technician_pin:
            pin.reset(enabled=False)
            self._maintenance_timeout = NOT_SET_TIMEOUT
        else:
            pin.reset(enabled=True)
            self._maintenance_timeout = MAINTENANCE_TIMEOUT
        self.touched()
        self.root.show("pin")

    def enter_pin(self, digits: str) -> str | None:
        """Check a PIN; opens the technician screen or returns what to tell the user."""
        now = self.clock.monotonic()
        if now < self._pin_locked_until:
            return self.tr("pin_locked", n=int(self._pin_locked_until - now) + 1)
        if check_pin(digits, self.cfg.ui.technician_pin):
            self._pin_failures = 0
            self.open_technician()
            return None
        self._pin_failures += 1
        log.warning("wrong technician PIN (%d in a row)", self._pin_failures)
        if self._pin_failures >= PIN_ATTEMPTS:
            self._pin_failures = 0
            self._pin_locked_until = now + PIN_LOCK_SECONDS
            return self.tr("pin_locked", n=int(PIN_LOCK_SECONDS))
        return self.tr("pin_wrong")

    def open_technician(self) -> None:
        self._maintenance_timeout = MAINTENANCE_TIMEOUT
        screen = self.screens["technician"]
        screen.message.text = ""
        screen.refresh()
        self.root.show("technician")
        log.info("technician screen opened")

    def close_maintenance(self) -> None:
        self.screens["technician"].close_staff_form()
        view = self.device.session.view()
        self.view = view
        name = screen_for(view)
        self.screens[name].show(view)
        self.root.show(name)

    # --- technician chores --------------------------------------------------------

    def technician_info(self) -> list[tuple[str, str]]:
        """(catalogue key, value) rows for the technician screen."""
        cfg, device = self.cfg, self.device
        view = self.device.session.view()
        try:
            counts = status.buffer_status(device.buffer, self.clock.time())
            last_ok, last_error = counts["last_sync_ok_at"], counts["last_sync_error"]
        except (OSError, sqlite3.Error) as exc:
            counts, last_ok, last_error = None, None, str(exc)
        health = device.health()
        if not health:
            hardware = self.tr("hw_none")
        else:
            hardware = ", ".join(f"{name} {self.tr('hw_ok') if h.get('ok', True) else self.tr('hw_fault')}"
                                 for name, h in health.items())
        levels = counts["ratings_by_level"] if counts else {}
        rows = [
            ("f_device_id", cfg.device.id),
            ("f_window", f"{view.window.window_no} / {view.window.section}"),
            ("f_mode", self.tr("mode_" + cfg.ui.mode)),
            ("f_staff", f"{view.window.staff_name or '—'} ({view.window.staff_no or '—'})"),
            ("f_server", cfg.sync.server or self.tr("none")),
            ("f_pending", f"{counts['pending']} / {counts['rejected']}" if counts else "?"),
            ("f_ratings", " · ".join(str(levels.get(str(lv.wire), 0)) for lv in LEVELS) if counts else "?"),
            ("f_last_sync", (last_ok or self.tr("never"))
             + (f"; {sync_error_words(last_error, self.language)}" if last_error else "")),
            ("f_clock", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.clock.time())) + "  "
             + self.tr("clock_synced" if self.clock.synced() else "clock_unsynced")),
            ("f_hardware", hardware),
            ("f_state", self.tr(STATE_KEYS[view.state]) + (f": {view.error}" if view.error else "")),
            ("f_paused", self.tr("yes" if view.paused else "no")),
            ("f_disk", self.disk_space()),
            ("f_ip", ip_address()),
            ("f_version", __version__),
        ]
        return rows

    def level_counts(self) -> dict | None:
        """Ratings stored on this device per level (None when the buffer cannot be read)."""
        try:
            by_wire = self.device.buffer.counts()["ratings_by_level"]
        except (OSError, sqlite3.Error):
            return None
        return {level: by_wire.get(str(level.wire), 0) for level in LEVELS}

    def disk_space(self) -> str:
        from ..doctor import _size as human_size

        try:
            usage = shutil.disk_usage(data_dir(self.cfg))
        except OSError as exc:
            return self.tr("failed", error=exc.strerror or str(exc))
        return self.tr("disk_free", free=human_size(usage.free), total=human_size(usage.total))

    def set_paused(self, paused: bool) -> str:
        """暂停服务 on or off from the technician screen (the local API does the same)."""
        try:
            self.device.set_paused(paused).result(timeout=5)
        except (KioskError, TimeoutError) as exc:
            return self.tr("failed", error=str(exc))
        return self.tr("paused_on" if paused else "paused_off")

    def test_server(self, done) -> None:
        """Check that the server answers and takes this device's token, off the main
        thread (up to the sync timeout); ``done(text)`` is called on the main thread."""
        import threading

        from ..doctor import FAIL, Doctor

        def work() -> None:
            doctor = Doctor(self.cfg.path, touch=True)
            doctor.cfg = self.cfg
            try:
                token = doctor.check_server()
                if token is not None:
                    doctor.check_token(*token)
            except Exception as exc:  # noqa: BLE001 - shown to the technician, never raised on the screen
                log.exception("server test failed")
                doctor.add(FAIL, "server", str(exc))
            checks = [c for c in doctor.checks if c.name in ("server", "token")]
            ok = checks and all(c.status != FAIL for c in checks)
            text = ("OK: " if ok else "FAIL: ") + "; ".join(f"{c.name} {c.detail}" for c in checks)
            log.info("server test from the technician screen: %s", text)
            Clock.schedule_once(lambda _dt: done(text[:240]), 0)

        threading.Thread(target=work, name="server-test", daemon=True).start()

    def qr_url(self) -> str | None:
        """The window's QR page to show on the idle and thanks screens: the
        server's ``qr_url`` when ``[ui] show_qr`` is on, else None."""
        if not self.cfg.ui.show_qr:
            return None
        return self.device.extras.get("qr_url") or None

    def followup_text(self) -> str:
        """What the thanks screen says after a 差评: the server's deadline, and the
        supervision phone when one is set (remote settings, else ``[ui]``)."""
        extras = self.device.extras
        days = extras.get("rectify_days") or 5
        kind = extras.get("rectify_day_kind") or "natural"
        text = self.tr("followup" if kind == "working" else "followup_natural", n=days)
        phone = extras.get("supervision_phone") or self.cfg.ui.supervision_phone
        if phone:
            text += "\n" + self.tr("supervision_phone", phone=phone)
        return text

    def test_leds(self) -> str:
        panels = [s for s in self.device.sources if callable(getattr(s, "test_leds", None))]
        for source in panels:
            try:
                source.test_leds()
            except (OSError, RuntimeError, ValueError) as exc:
                log.warning("LED test on %s failed: %s", getattr(source, "name", source), exc)
                return self.tr("failed", error=str(exc))
        return self.tr("leds_tested", n=len(panels)) if panels else self.tr("no_leds")

    def request_sync(self) -> str:
        """Ask the uploader (a separate process) to sync now, through buffer meta ``sync.requested``."""
        try:
            self.device.buffer.set_meta(status.SYNC_REQUESTED, rfc3339(time.time()))
        except (OSError, sqlite3.Error) as exc:
            return self.tr("failed", error=str(exc))
        return self.tr("sync_requested")

    def switch_staff(self, staff_no: str, staff_name: str) -> str:
        try:
            self.device.submit(self.device.session.set_staff, staff_no, staff_name).result(timeout=5)
        except (KioskError, TimeoutError, ValueError) as exc:
            return self.tr("failed", error=str(exc))
        log.info("staff on duty switched to %s", staff_no)
        return self.tr("staff_switched", no=staff_no, name=staff_name or "—")


def ip_address() -> str:
    """The address this device uses to reach the network (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
    except OSError:
        return "—"


def run_app(cfg, device) -> int:
    """Run the touch app until it is stopped (SIGTERM/SIGINT); returns the exit code."""
    font = find_cjk_font(cfg.ui.font, required_text(cfg))  # refuse to start before any window shows boxes
    configure_kivy(cfg)
    app = KioskApp(cfg, device, font=font)

    def stop(signum, _frame):
        log.info("signal %s: stopping the app", signum)
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    app.run()
    return 0
