"""A serial/RS-485/USB "evaluator" panel speaking protocol v1 (docs/hardware.md).

The source owns two threads: a reader (opens the port, reconnects, parses
lines with :mod:`kiosk.hardware.protocol` and hands presses and triggers to the
device) and a writer (``PROMPT``/``IDLE``, and any reply the port cannot take
at once), so neither a slow port nor an unplugged cable ever blocks the
session's thread. An ``ACK``/``NAK`` is written straight from the session's
thread when the port's (non-blocking) descriptor takes it whole and nothing is
queued before it; otherwise it goes to the writer, in order.

* ``KEY n`` → ``device.press(position, "serial")``; the answer goes back only
  when the session has answered: ``ACK n`` once the rating is durable in the
  buffer (:attr:`Outcome.ack`), otherwise ``NAK n cooldown|no_prompt|error``.
* ``TRIG [project_no [ticket_no]]`` → ``device.trigger(...)``; the panel sees
  ``PROMPT`` when the prompt is open and ``IDLE`` when the window is back home.
* ``HB`` → the link is alive (``last_hb`` in :meth:`SerialSource.health`).
* The port may be missing at start, unplugged and plugged back: the reader
  retries about every ``retry_seconds`` (2 s) and the kiosk keeps running.
  On every (re)connect the panel is told the current state.

Replies carry a checksum when ``require_checksum`` is set or when the panel's
last valid frame carried one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import threading
import time
from typing import Any

import serial

from ..clock import rfc3339
from . import protocol
from .base import Source

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
READ_TIMEOUT = 0.5
WRITE_TIMEOUT = 1.0

_CONNECTED = object()  # writer marker: the port was (re)opened, send the state
_STOP = object()


class SerialSource(Source):
    """Button presses and prompt triggers from a serial panel."""

    name = "serial"

    def __init__(self, cfg, *, retry_seconds: float = RETRY_SECONDS, read_timeout: float = READ_TIMEOUT):
        self.port = cfg.port
        self.baudrate = int(cfg.baudrate)
        self.require_checksum = bool(cfg.require_checksum)
        self.key_map = list(cfg.key_map or [])
        if self.key_map and sorted(self.key_map) != [1, 2, 3, 4, 5]:
            raise ValueError(f"[hardware.serial] key_map must hold 1..5 once each, got {self.key_map!r}")
        self.retry_seconds = retry_seconds
        self.read_timeout = read_timeout
        self.reader = protocol.LineReader(require_checksum=self.require_checksum)
        self.connected = False
        self.frames = 0
        self.bad_frames = 0
        self.keys = 0
        self.acks = 0
        self.naks = 0
        self.connects = 0
        self.last_hb: float | None = None
        self.last_error: str | None = None
        self.device = None
        self._ser: serial.Serial | None = None
        self._panel_checksum = self.require_checksum
        self._state_text: str | None = None
        self._announced: str | None = None
        self._stop = threading.Event()
        self._out: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()  # a write never races the port being closed
        self._queued = 0                  # items handed to the writer and not yet written
        self._qlock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------

    def start(self, device) -> None:
        super().start(device)
        self._stop.clear()
        view = getattr(device, "view", None)
        if view is not None:
            view().add_done_callback(self._initial_view)
        for target, name in ((self._read_loop, "serial-reader"), (self._write_loop, "serial-writer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        ser = self._ser
        if ser is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                ser.cancel_read()
        self._out.put(_STOP)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        self._threads = []
        self._disconnect(None)

    # --- feedback (session's thread) -------------------------------------------

    def on_view(self, view) -> None:
        """Tell the panel ``PROMPT`` when a prompt opens and ``IDLE`` when back home."""
        from ..session import State

        if view.state is State.RATING and view.prompt is not None:
            text = "PROMPT"
            key = f"PROMPT {view.prompt.id}"
        elif view.state is State.IDLE or (view.state is State.RATING and view.prompt is None):
            text = key = "IDLE"
        else:
            return
        with self._lock:
            if key == self._announced:
                return
            self._announced = key
            self._state_text = text
        self._put(("state", key, text))

    def _initial_view(self, fut) -> None:
        if fut.exception() is None:
            self.on_view(fut.result())

    def _answer(self, n: int, with_sum: bool, fut) -> None:
        """Reply to ``KEY n`` once the session has decided (ACK only when durable)."""
        exc = fut.exception()
        if exc is not None:
            log.error("press from serial KEY %s failed: %s", n, exc)
            reason = "error"
        else:
            outcome = fut.result()
            if outcome.ack:
                self.acks += 1
                self._send(f"ACK {n}", with_sum)
                return
            reason = outcome.reason if outcome.reason in protocol.NAK_REASONS else "error"
        self.naks += 1
        self._send(f"NAK {n} {reason}", with_sum)

    def _send(self, text: str, with_sum: bool | None = None) -> None:
        """Send a reply: written at once when the port takes it without waiting and
        nothing is queued before it, else handed to the writer thread (in order)."""
        if with_sum is None:
            with_sum = self._panel_checksum
        data = protocol.encode(text, with_checksum=with_sum)
        if self._io_lock.acquire(blocking=False):
            try:
                with self._qlock:
                    idle = self._queued == 0
                ser = self._ser
                fd = getattr(ser, "fd", None)
                if idle and ser is not None and fd is not None and ser.is_open:
                    data = data[os.write(fd, data):]  # the port's fd is non-blocking
                    if not data:
                        return
            except BlockingIOError:
                pass
            except OSError as exc:  # the reader notices a lost port and reconnects
                log.debug("serial panel: write of %r failed: %s", data, exc)
                return
            finally:
                self._io_lock.release()
        self._put(data)

    def _put(self, item) -> None:
        with self._qlock:
            self._queued += 1
        self._out.put(item)

    # --- reader thread ----------------------------------------------------------

    def _read_loop(self) -> None:
        failing: str | None = None
        while not self._stop.is_set():
            ser = self._ser
            if ser is None:
                try:
                    ser = serial.Serial(self.port, self.baudrate, timeout=self.read_timeout,
                                        write_timeout=WRITE_TIMEOUT, exclusive=True)
                except (serial.SerialException, OSError, ValueError) as exc:
                    msg = f"cannot open {self.port}: {exc}"
                    self.last_error = msg
                    if msg != failing:
                        log.warning("serial panel: %s; retrying every %.0f s", msg, self.retry_seconds)
                        failing = msg
                    self._stop.wait(self.retry_seconds)
                    continue
                failing = None
                self.last_error = None
                self.connects += 1
                with self._lock:
                    self._ser = ser
                    self.connected = True
                log.info("serial panel connected on %s (%d baud)", self.port, self.baudrate)
                self._put(_CONNECTED)
            try:
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError, ValueError) as exc:
                if self._stop.is_set():
                    break
                self._disconnect(f"{self.port} lost: {exc}")
                self._stop.wait(min(self.retry_seconds, 0.2))
                continue
            if data:
                for item in self.reader.feed(data):
                    try:
                        self.handle(item)
                    except Exception:  # noqa: BLE001 - one bad frame must never stop the panel
                        log.exception("serial panel: handling %r failed", item)

    def _disconnect(self, why: str | None) -> None:
        cut = self.reader.reset()
        if cut is not None:
            self._bad(cut)
        with self._lock:
            was = self.connected
            if why and was:
                self.last_error = why
            ser, self._ser = self._ser, None
            self.connected = False
        if ser is not None:
            with self._io_lock, contextlib.suppress(OSError, serial.SerialException):
                ser.close()
        if why and was:
            log.warning("serial panel: %s; reconnecting", why)

    def handle(self, item: protocol.Frame | protocol.BadFrame) -> None:
        """Act on one parsed line (reader thread)."""
        if isinstance(item, protocol.BadFrame):
            self._bad(item)
            return
        self.frames += 1
        self._panel_checksum = self.require_checksum or item.checksum
        if isinstance(item, protocol.Key):
            self.keys += 1
            position = protocol.key_position(item.n, self.key_map)
            fut = self.device.press(position, self.name)
            fut.add_done_callback(functools.partial(self._answer, item.n, self.require_checksum or item.checksum))
        elif isinstance(item, protocol.Trig):
            fut = self.device.trigger(item.project_no, item.ticket_no)
            fut.add_done_callback(_log_trigger_failure)
        elif isinstance(item, protocol.Hb):
            self.last_hb = time.time()

    def _bad(self, bad: protocol.BadFrame) -> None:
        self.bad_frames += 1
        log.debug("serial panel: bad frame %r (%s)", bad.line[:protocol.MAX_LINE], bad.why)

    # --- writer thread ------------------------------------------------------------

    def _write_loop(self) -> None:
        state = {"sent": None, "on": None}  # the state line last sent, and on which connection
        while True:
            item = self._out.get()
            if item is _STOP:
                return
            try:
                self._write_item(item, state)
            finally:
                with self._qlock:
                    self._queued -= 1

    def _write_item(self, item, state: dict) -> None:
        ser = self._ser
        if item is _CONNECTED or isinstance(item, tuple):
            # The state: once per change, and once per (re)connect.
            if isinstance(item, tuple):
                _, key, text = item
            else:
                with self._lock:
                    key, text = self._announced, self._state_text
            if text is None or ser is None or (key == state["sent"] and state["on"] is ser):
                return
            state["sent"], state["on"] = key, ser
            item = protocol.encode(text, with_checksum=self._panel_checksum)
        if ser is None:
            log.debug("serial panel not connected; dropped %r", item)
            return
        try:
            with self._io_lock:
                if ser.is_open:
                    ser.write(item)
        except Exception as exc:  # noqa: BLE001 - the reader notices a lost port and reconnects
            log.debug("serial panel: write of %r failed: %s", item, exc)

    # --- state ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.connected,
            "port": self.port,
            "connected": self.connected,
            "bad_frames": self.bad_frames,
            "frames": self.frames,
            "keys": self.keys,
            "acks": self.acks,
            "naks": self.naks,
            "connects": self.connects,
            "last_hb": rfc3339(self.last_hb) if self.last_hb else None,
            "last_error": self.last_error,
        }


def _log_trigger_failure(fut) -> None:
    exc = fut.exception()
    if exc is not None:
        log.warning("serial panel TRIG refused: %s", exc)
