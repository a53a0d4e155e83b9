"""Offscreen Kivy for the screen tests: set up before anything imports Kivy."""

import os
import tempfile

_KIVY_HOME = tempfile.mkdtemp(prefix="kivy-home-tests-")
os.environ["SDL_VIDEODRIVER"] = "offscreen"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ["KIVY_NO_ARGS"] = "1"
os.environ["KIVY_HOME"] = _KIVY_HOME
os.environ["KIVY_LOG_MODE"] = "PYTHON"
os.environ["KIVY_NO_CONSOLELOG"] = "1"
os.environ["KIVY_NO_FILELOG"] = "1"

from kiosk.screens.harness import offscreen  # noqa: E402  (after the environment)

offscreen("1024x600", kivy_home=_KIVY_HOME)

import pytest  # noqa: E402

from kiosk.buffer import Buffer  # noqa: E402
from kiosk.clock import FakeClock  # noqa: E402
from kiosk.config import DEVICE_SCHEMA, parse  # noqa: E402
from kiosk.device import Device  # noqa: E402
from kiosk.exceptions import BufferWriteError  # noqa: E402
from kiosk.screens.harness import resize, settle, window  # noqa: E402

DEFAULT_SIZE = "1024x600"


class Kiosk:
    """One device with the real app mounted in the offscreen window."""

    def __init__(self, cfg, clock, buffer, device, app, root):
        self.cfg, self.clock, self.buffer, self.device, self.app, self.root = cfg, clock, buffer, device, app, root

    @property
    def screen(self) -> str:
        return self.app.current

    def tap(self, widget, hold: float = 0.0) -> None:
        """A real touch at the centre of ``widget`` (window coordinates)."""

        x, y = widget.to_window(widget.x + widget.width / 2, widget.y + widget.height / 2)
        self.tap_at(x, y, hold)

    def tap_at(self, x: float, y: float, hold: float = 0.0) -> None:
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(x, y)
        touch.touch_down()
        if hold:
            self.clock.advance(hold)
            self.app.tick()
        touch.touch_up()
        settle(1)

    def advance(self, seconds: float) -> None:
        """Move the device clock and let the session and Kivy run their timers."""
        self.clock.advance(seconds)
        self.device.pump()
        self.app.tick()
        settle(1)

    def key(self, key: int, codepoint: str = "") -> bool:
        from kivy.core.window import Window

        handled = Window.dispatch("on_key_down", key, 0, codepoint, [])
        Window.dispatch("on_key_up", key, 0)
        settle(1)
        return handled

    def levels(self) -> dict[str, int]:
        return self.buffer.counts()["ratings_by_level"]

    def events(self, type_: str | None = None) -> list[dict]:
        return [e for e in self.buffer.pending_batch(10_000) if type_ is None or e["type"] == type_]

    def button(self, position: int):
        return self.app.screens["rating"].buttons[position]


class SwitchableBuffer(Buffer):
    """A real buffer that can be made to fail like a full or broken disk."""

    broken = False

    def append(self, event):
        if self.broken:
            raise BufferWriteError(f"database or disk is full ({self.path})")
        return super().append(event)

    def probe(self):
        if self.broken:
            raise BufferWriteError(f"database or disk is full ({self.path})")
        super().probe()


def make_config(tmp_path, mode: str = "free", ui: dict | None = None, **sections):
    data = {
        "device": {"id": "test-kiosk", "window": "7", "section": "综合服务区", "data_dir": str(tmp_path)},
        "staff": {"no": "0231", "name": "张敏"},
        "ui": {"mode": mode, "cooldown_seconds": 0, "fullscreen": False, **(ui or {})},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse(DEVICE_SCHEMA, data)


@pytest.fixture
def failing_buffer():
    """A :class:`Buffer` class whose writes fail while ``broken`` is set."""
    return SwitchableBuffer


@pytest.fixture(scope="session")
def kivy_window():
    win = window()
    yield win


@pytest.fixture
def make_kiosk(tmp_path, kivy_window):
    """``make_kiosk(mode=..., ui={...}, buffer_cls=..., sources=[...], size=...)`` → :class:`Kiosk`."""
    from kiosk.screens.app import KioskApp

    made = []

    def make(mode: str = "free", ui: dict | None = None, buffer_cls=Buffer, sources=(), size=DEFAULT_SIZE,
             voice=None, **sections) -> Kiosk:
        if tuple(kivy_window.size) != tuple(int(v) for v in size.split("x")):
            resize(size)
        cfg = make_config(tmp_path, mode, ui, **sections)
        clock = FakeClock()
        buffer = buffer_cls(tmp_path / f"buffer-{len(made)}.db")
        device = Device(cfg, buffer=buffer, clock=clock)
        for source in sources:
            device.add_source(source)
        app = KioskApp(cfg, device, voice=voice)
        root = app.mount()
        settle(3)
        kiosk = Kiosk(cfg, clock, buffer, device, app, root)
        made.append(kiosk)
        return kiosk

    yield make
    for kiosk in made:
        kiosk.app.unmount()
        kiosk.device.close()
    settle(1)
