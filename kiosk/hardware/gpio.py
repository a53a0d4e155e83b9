"""A GPIO button panel: five buttons, an optional trigger button and LEDs.

Pins are BCM numbers (``[hardware.gpio]``), buttons left → right (1st =
非常满意). gpiozero picks the pin library (lgpio on Raspberry Pi 5 / Bookworm,
RPi.GPIO elsewhere; ``GPIOZERO_PIN_FACTORY=mock`` for tests and demos).

Debouncing is the kiosk's own (:mod:`kiosk.hardware.debounce`): gpiozero only
reports raw edges here; a worker thread owns the debouncers, so a pin
library's callback thread does nothing but queue the edge with its time. The
worker hands presses to the device with ``device.press`` / ``device.trigger``,
which are safe from any thread.

LEDs (one per button, optional; active high: pin → resistor → LED → GND):

* the chosen level lights once the rating is durable (``on_outcome`` with
  ``ack``) and stays lit until the window is back home;
* a refused press (``NAK``: cooldown, no prompt) blinks that button's LED;
  a buffer failure blinks all five, fast, while the device is out of order;
* while a prompt is open all five pulse slowly (a slow blink: no PWM needed).

A button held for ``stuck_seconds`` is reported in :meth:`GpioSource.health`
(status and heartbeat) and makes no press until released.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .base import Source
from .debounce import PRESS, STUCK, UNSTUCK, Debouncer

log = logging.getLogger(__name__)

TRIGGER = 5  # line index of the trigger button
PULSE = (0.6, 0.6)
NAK_BLINK = (0.1, 0.1, 3)
ERROR_BLINK = (0.15, 0.15)


class GpioSource(Source):
    """Buttons, trigger and LEDs on the Pi's GPIO header."""

    name = "gpio"

    def __init__(self, cfg, *, clock: Callable[[], float] | None = None, threaded: bool = True):
        """``clock`` is a monotonic time function (tests inject a fake one);
        ``threaded=False`` leaves calling :meth:`service` to the caller."""
        self.button_pins = list(cfg.buttons)
        self.trigger_pin = int(cfg.trigger or 0)
        self.led_pins = list(cfg.leds or [])
        self.active_low = bool(cfg.active_low)
        self.debounce = float(cfg.debounce_ms) / 1000.0
        self.stuck_seconds = float(cfg.stuck_seconds)
        self.clock = clock or time.monotonic
        self.threaded = threaded
        self.device = None
        self.inputs: list = []
        self.debouncers: list[Debouncer] = []
        self.leds: list = []
        self.led_mode: tuple = ("off",)
        self.presses = 0
        self.triggers = 0
        self.error: str | None = None
        self._edges: list[tuple[int, bool, float]] = []
        self._cv = threading.Condition()
        self._led_lock = threading.RLock()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self, device) -> None:
        """Claim the pins and start watching them. A pin that cannot be claimed
        (not a Pi, pin busy, no permission) is logged and reported in
        :meth:`health`; the kiosk keeps running without this panel."""
        super().start(device)
        from gpiozero import LED, DigitalInputDevice
        from gpiozero.exc import GPIOZeroError

        pins = self.button_pins + ([self.trigger_pin] if self.trigger_pin else [])
        try:
            for pin in pins:
                self.inputs.append(DigitalInputDevice(pin, pull_up=self.active_low, bounce_time=None))
            for pin in self.led_pins:
                self.leds.append(LED(pin, initial_value=False))
        except (GPIOZeroError, OSError, ImportError, RuntimeError) as exc:
            self.error = f"cannot use GPIO pins {pins + self.led_pins}: {type(exc).__name__}: {exc}"
            log.error("GPIO panel disabled: %s (check [hardware.gpio] and membership of the gpio group)",
                      self.error)
            self._close_devices()
            return
        now = self.clock()
        for i, dev in enumerate(self.inputs):
            self.debouncers.append(Debouncer(self.debounce, self.stuck_seconds, pressed=bool(dev.is_active), t=now))
            dev.when_activated = self._callback(i, True)
            dev.when_deactivated = self._callback(i, False)
            if bool(dev.is_active) != self.debouncers[i].raw:  # changed while being wired up
                self._callback(i, bool(dev.is_active))()
        self._stopping = False
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="gpio", daemon=True)
            self._thread.start()
        log.info("GPIO panel on BCM %s%s%s (active %s, debounce %.0f ms)", self.button_pins,
                 f", trigger {self.trigger_pin}" if self.trigger_pin else "",
                 f", LEDs {self.led_pins}" if self.led_pins else "",
                 "low" if self.active_low else "high", self.debounce * 1000)

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self._close_devices()

    def _close_devices(self) -> None:
        for dev in self.inputs + self.leds:
            try:
                dev.close()
            except Exception as exc:  # noqa: BLE001 - closing must never stop the shutdown
                log.debug("closing %r failed: %s", dev, exc)
        self.inputs, self.leds = [], []

    # --- edges (any thread) ---------------------------------------------------------

    def _callback(self, index: int, active: bool) -> Callable[[], None]:
        def edge() -> None:
            t = self.clock()
            with self._cv:
                self._edges.append((index, active, t))
                self._cv.notify()
        return edge

    def _run(self) -> None:
        while True:
            try:
                self.service()
            except Exception:  # noqa: BLE001 - the panel must outlive one bad event
                log.exception("GPIO panel: handling an input event failed")
            with self._cv:
                if self._stopping:
                    return
                if not self._edges:
                    deadline = self._deadline()
                    timeout = 1.0 if deadline is None else min(1.0, max(0.0, deadline - self.clock()))
                    self._cv.wait(timeout)

    def _deadline(self) -> float | None:
        times = [t for t in (d.deadline() for d in self.debouncers) if t is not None]
        return min(times) if times else None

    def service(self, now: float | None = None) -> list:
        """Debounce the queued edges, act on what became certain by ``now``.

        Returns the futures of the presses and triggers handed to the device.
        """
        with self._cv:
            edges, self._edges = self._edges, []
        happened = []
        for index, active, t in edges:
            happened += [(index, ev) for ev in self.debouncers[index].edge(active, t)]
        now = self.clock() if now is None else now
        for index, d in enumerate(self.debouncers):
            happened += [(index, ev) for ev in d.poll(now)]
        happened.sort(key=lambda item: item[1].t)
        futures = []
        for index, ev in happened:
            fut = self._act(index, ev.kind)
            if fut is not None:
                futures.append(fut)
        return futures

    def _label(self, index: int) -> str:
        if index == TRIGGER:
            return f"trigger (BCM {self.trigger_pin})"
        return f"button {index + 1} (BCM {self.button_pins[index]})"

    def _act(self, index: int, kind: str):
        if kind == PRESS:
            if index == TRIGGER:
                self.triggers += 1
                fut = self.device.trigger()
            else:
                self.presses += 1
                fut = self.device.press(index, self.name)
            fut.add_done_callback(functools.partial(_log_failure, what=self._label(index)))
            return fut
        if kind == STUCK:
            log.warning("GPIO %s held for %.0f s: stuck, its presses are ignored until it is released",
                        self._label(index), self.stuck_seconds)
        elif kind == UNSTUCK:
            log.warning("GPIO %s released, no longer stuck", self._label(index))
        return None

    def stuck(self) -> list[str]:
        """Stuck lines: ``"1"``..``"5"`` for buttons, ``"trigger"``."""
        return [("trigger" if i == TRIGGER else str(i + 1)) for i, d in enumerate(self.debouncers) if d.stuck]

    # --- LEDs (session's thread) ----------------------------------------------------------

    def on_outcome(self, outcome) -> None:
        if not self.leds:
            return
        if outcome.ack:
            self._leds("level", outcome.position)
        elif outcome.reason == "error":
            self._leds("error")
        else:
            self._leds("blink", outcome.position)

    def on_view(self, view) -> None:
        from ..session import State

        if not self.leds:
            return
        if view.state is State.RATING and view.prompt is not None:
            self._leds("pulse")
        elif view.state is State.OUT_OF_ORDER:
            self._leds("error")
        elif view.state in (State.IDLE, State.RATING):
            self._leds("off")

    def _leds(self, mode: str, position: int | None = None) -> None:
        with self._led_lock:
            new = (mode,) if position is None else (mode, position)
            if new == self.led_mode and mode in ("pulse", "error", "off"):
                return  # already doing it: keep the blink phase
            self.led_mode = new
            leds = self.leds
            if mode == "level":
                for i, led in enumerate(leds):
                    led.on() if i == position else led.off()
            elif mode == "blink":
                on, off, n = NAK_BLINK
                for i, led in enumerate(leds):
                    if i == position:
                        led.blink(on_time=on, off_time=off, n=n)
                    else:
                        led.off()
            elif mode == "pulse":
                for led in leds:
                    led.blink(on_time=PULSE[0], off_time=PULSE[1])
            elif mode == "error":
                for led in leds:
                    led.blink(on_time=ERROR_BLINK[0], off_time=ERROR_BLINK[1])
            else:
                for led in leds:
                    led.off()

    def cycle_leds(self, seconds: float = 0.3, rounds: int = 1, sleep: Callable[[float], None] = time.sleep) -> int:
        """Light each LED in turn, left to right (``kiosk hw-test``); returns how many."""
        with self._led_lock:
            for _ in range(rounds):
                for led in self.leds:
                    led.on()
                    sleep(seconds)
                    led.off()
            self.led_mode = ("off",)
        return len(self.leds)

    def test_leds(self, seconds: float = 0.3) -> threading.Thread:
        """Cycle the LEDs once in the background (the technician screen must not
        freeze); raises RuntimeError when the panel has no LEDs."""
        if not self.leds:
            raise RuntimeError("no LEDs configured ([hardware.gpio] leds)")
        thread = threading.Thread(target=self.cycle_leds, args=(seconds,), name="led-test", daemon=True)
        thread.start()
        return thread

    # --- state ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        stuck = self.stuck()
        factory = None
        if self.inputs:
            factory = type(self.inputs[0].pin_factory).__name__
        return {
            "ok": self.error is None and not stuck,
            "buttons": self.button_pins,
            "trigger": self.trigger_pin or None,
            "leds": self.led_pins,
            "stuck": stuck,
            "presses": self.presses,
            "triggers": self.triggers,
            "pin_factory": factory,
            "error": self.error,
        }


def _log_failure(fut, what: str) -> None:
    exc = fut.exception()
    if exc is not None:
        log.warning("GPIO %s: %s", what, exc)
