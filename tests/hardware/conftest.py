"""Fixtures for the button panels: gpiozero mock pins, pty pairs standing in
for a serial panel, and a real Device with a real Buffer in tmp_path."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from gpiozero import Device as GpioDevice
from gpiozero.pins.mock import MockFactory

from kiosk.buffer import Buffer
from kiosk.device import Device, buffer_path
from kiosk.hardware.panel_sim import PtyLink
from kiosk.hardware.serial import SerialSource


def pytest_collection_modifyitems(items):
    """A panel thread that dies of an exception fails the test that ran it."""
    for item in items:
        if "tests/hardware/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"))


@pytest.fixture
def mock_factory():
    """gpiozero's MockFactory as the pin factory, reset afterwards (pins, callbacks)."""
    saved = GpioDevice.pin_factory
    factory = MockFactory()
    GpioDevice.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        GpioDevice.pin_factory = saved


class PtyPanel(PtyLink):
    """The panel end of a pseudo-terminal pair; the kiosk opens :attr:`path`."""

    def __init__(self):
        super().__init__()
        self._buf = b""
        self.closed = False

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("ascii")
        self.write(data)

    def _fill(self, timeout: float) -> bool:
        chunk = self.read(max(0.0, timeout))
        self._buf += chunk
        return bool(chunk)

    def line(self, timeout: float = 5.0) -> str | None:
        """The next line the kiosk sent (without ``\\r\\n``), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or (not self._fill(left) and time.monotonic() >= deadline):
                return None
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("ascii")

    def expect(self, text: str, timeout: float = 5.0) -> list[str]:
        """Read lines until ``text``; returns the lines skipped before it."""
        skipped = []
        deadline = time.monotonic() + timeout
        while True:
            got = self.line(max(0.0, deadline - time.monotonic()))
            if got is None:
                raise AssertionError(f"no {text!r} from the kiosk within {timeout} s (got {skipped})")
            if got == text:
                return skipped
            skipped.append(got)

    def quiet(self, seconds: float = 0.3) -> list[str]:
        """Every line that arrives within ``seconds`` (to show that nothing did)."""
        out = []
        deadline = time.monotonic() + seconds
        while (got := self.line(max(0.0, deadline - time.monotonic()))) is not None:
            out.append(got)
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            super().close()


@pytest.fixture
def pty_pair():
    """pty_pair() → a new :class:`PtyPanel`; all are closed at the end."""
    made: list[PtyPanel] = []

    def make() -> PtyPanel:
        panel = PtyPanel()
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.close()


@pytest.fixture
def device_factory(make_cfg, clock):
    """device_factory(cfg=None, buffer=None, **sections) → a real Device on a real Buffer
    in tmp_path, stamped by the test's FakeClock; closed at the end."""
    made: list[Device] = []

    def make(cfg=None, *, buffer=None, **sections) -> Device:
        cfg = cfg or make_cfg(**sections)
        dev = Device(cfg, buffer=buffer, clock=clock)
        made.append(dev)
        return dev

    yield make
    for dev in made:
        dev.close()


def ratings(cfg) -> list[dict]:
    """Every rating in the buffer file, read through a separate connection
    (what is there is what was committed)."""
    with Buffer(buffer_path(cfg)) as buf:
        rows = buf.conn.execute("SELECT payload FROM events WHERE type = 'rating' ORDER BY seq").fetchall()
    return [json.loads(r[0]) for r in rows]


class WriteLock:
    """Another process's write transaction on the buffer file: while it is held,
    the device's commits fail for real inside SQLite ("database is locked")
    once the buffer's busy timeout runs out."""

    def __init__(self, path):
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=5)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (threads at work)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def serial_kiosk(device_factory, pty_pair, make_cfg):
    """serial_kiosk(serial={...}, ui={...}, buffer=None) → (device, source, panel, cfg),
    started, with the panel having received the initial state line."""

    def make(*, serial=None, buffer=None, expect_initial=True, **sections):
        panel = pty_pair()
        serial_cfg = {"enabled": True, "port": panel.path, **(serial or {})}
        sections.setdefault("ui", {}).setdefault("cooldown_seconds", 0)
        cfg = make_cfg(hardware={"serial": serial_cfg}, **sections)
        dev = device_factory(cfg, buffer=buffer)
        src = SerialSource(cfg.hardware.serial, retry_seconds=0.05)
        dev.add_source(src)
        dev.start()
        if expect_initial:
            first = panel.line()
            assert first in ("IDLE", "PROMPT") or (first or "").startswith(("IDLE*", "PROMPT*")), first
        return dev, src, panel, cfg

    return make
