"""The GPIO panel on gpiozero's MockFactory: presses, trigger, LEDs, stuck buttons.

MockFactory callbacks fire synchronously on the thread that drives the pin;
the source is built with ``threaded=False`` and the test's FakeClock, so each
test decides when time passes and calls ``service()`` itself (one test runs
the real worker thread on the real clock).
"""

from __future__ import annotations

import sqlite3

import pytest
from gpiozero import DigitalInputDevice

from kiosk.buffer import Buffer
from kiosk.device import buffer_path
from kiosk.hardware.gpio import GpioSource
from kiosk.session import State

from .conftest import WriteLock, ratings, wait_for

BUTTONS = [5, 6, 13, 19, 26]
TRIGGER = 4
LEDS = [17, 18, 22, 23, 24]


@pytest.fixture
def gpio_kiosk(mock_factory, device_factory, make_cfg, clock):
    """gpio_kiosk(gpio={...}, ui={...}, buffer=None) → (device, source, cfg), started."""

    def make(*, gpio=None, buffer=None, threaded=False, **sections):
        gpio_cfg = {"enabled": True, "buttons": BUTTONS, "trigger": TRIGGER, "leds": LEDS, **(gpio or {})}
        sections.setdefault("ui", {}).setdefault("cooldown_seconds", 0)
        cfg = make_cfg(hardware={"gpio": gpio_cfg}, **sections)
        dev = device_factory(cfg, buffer=buffer)
        src = GpioSource(cfg.hardware.gpio, clock=None if threaded else clock.monotonic, threaded=threaded)
        dev.add_source(src)
        dev.start()
        return dev, src, cfg

    return make


def pin(factory, n):
    return factory.pin(n)


def tap(factory, clock, src, n, *, active_low=True, hold=0.1):
    """A clean press of the button on BCM ``n``; returns the futures it produced."""
    p = pin(factory, n)
    (p.drive_low if active_low else p.drive_high)()
    clock.advance(hold)
    futures = src.service()
    (p.drive_high if active_low else p.drive_low)()
    clock.advance(0.05)
    futures += src.service()
    return futures


def lit(factory):
    return [bool(pin(factory, n).state) for n in LEDS]


def on_count(p) -> int:
    """How often a mock pin was switched on (its recorded state history)."""
    states = [s.state for s in p.states]
    return sum(1 for a, b in zip(states, states[1:]) if b and not a)


def test_each_button_rates_its_level(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk()
    outcomes = []
    for n in BUTTONS:
        futures = tap(mock_factory, clock, src, n)
        assert len(futures) == 1
        outcomes.append(futures[0].result(5))
        clock.advance(0.5)
    assert [o.position for o in outcomes] == [0, 1, 2, 3, 4]
    assert all(o.stored and o.source == "gpio" for o in outcomes)
    stored = ratings(cfg)
    assert [r["satisfaction"] for r in stored] == [5, 4, 3, 2, 1]  # wire order: leftmost = 非常满意 = 5
    assert {r["source"] for r in stored} == {"gpio"}
    assert src.health()["presses"] == 5 and src.health()["ok"]


def test_active_high_buttons(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(gpio={"active_low": False, "leds": []})
    assert pin(mock_factory, 13).state is False  # pulled down
    [fut] = tap(mock_factory, clock, src, 13, active_low=False)
    assert fut.result(5).position == 2
    assert [r["satisfaction"] for r in ratings(cfg)] == [3]


def test_contact_bounce_makes_one_rating(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk()
    p = pin(mock_factory, 19)
    for level in (0, 1, 0, 1, 0, 1, 0):  # closing bounce, 0.4 ms apart
        p.drive_low() if level == 0 else p.drive_high()
        clock.advance(0.0004)
        assert src.service() == []
    clock.advance(0.030)
    futures = src.service()
    assert len(futures) == 1 and futures[0].result(5).position == 3
    for level in (1, 0, 1):  # opening bounce
        p.drive_high() if level else p.drive_low()
        clock.advance(0.0005)
        src.service()
    clock.advance(0.1)
    assert src.service() == []
    assert len(ratings(cfg)) == 1


def test_a_glitch_shorter_than_debounce_is_no_rating(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(gpio={"debounce_ms": 50})
    p = pin(mock_factory, 5)
    p.drive_low()
    clock.advance(0.02)
    p.drive_high()
    clock.advance(1.0)
    assert src.service() == []
    assert ratings(cfg) == []


def test_trigger_opens_a_prompt_then_led_shows_the_durable_level(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(ui={"mode": "transaction"})
    assert lit(mock_factory) == [False] * 5
    [fut] = tap(mock_factory, clock, src, TRIGGER)
    prompt = fut.result(5)
    assert dev.view().result(5).state is State.RATING
    assert src.led_mode == ("pulse",)
    wait_for(lambda: all(on_count(pin(mock_factory, n)) >= 1 for n in LEDS), what="all LEDs pulsing")
    [press] = tap(mock_factory, clock, src, BUTTONS[1])
    outcome = press.result(5)
    assert outcome.ack
    # The chosen level (2nd = 满意) is lit, the others are dark, and the rating is in the file.
    assert src.led_mode == ("level", 1)
    assert lit(mock_factory) == [False, True, False, False, False]
    [r] = ratings(cfg)
    assert r["prompt_id"] == prompt.id and r["satisfaction"] == 4
    # Back home after the thanks screen: LEDs off.
    clock.advance(cfg.ui.thanks_seconds + 0.1)
    dev.submit(dev.pump).result(5)
    wait_for(lambda: src.led_mode == ("off",), what="LEDs off when idle")
    assert lit(mock_factory) == [False] * 5
    assert src.health()["triggers"] == 1


def test_press_without_prompt_blinks_and_stores_nothing(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(ui={"mode": "transaction"})
    [fut] = tap(mock_factory, clock, src, BUTTONS[4])
    out = fut.result(5)
    assert not out.stored and out.reason == "no_prompt"
    assert src.led_mode == ("blink", 4)
    led = pin(mock_factory, LEDS[4])
    wait_for(lambda: on_count(led) >= 3, what="three blinks")
    wait_for(lambda: not led.state, what="LED off after blinking")
    assert all(on_count(pin(mock_factory, n)) == 0 for n in LEDS[:4])
    assert ratings(cfg) == []


def test_cooldown_press_blinks_instead_of_lighting(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(ui={"cooldown_seconds": 5})
    [a] = tap(mock_factory, clock, src, BUTTONS[0])
    assert a.result(5).ack and src.led_mode == ("level", 0)
    [b] = tap(mock_factory, clock, src, BUTTONS[2])
    out = b.result(5)
    assert out.stored and out.reason == "cooldown"  # kept, flagged misuse, not acknowledged
    assert src.led_mode == ("blink", 2)
    assert [r["misuse"] for r in ratings(cfg)] == [False, True]


def test_buffer_failure_lights_no_level(gpio_kiosk, mock_factory, clock, make_cfg, request):
    buf = Buffer(buffer_path(make_cfg()), repair=True, busy_timeout_ms=50)
    dev, src, cfg = gpio_kiosk(buffer=buf)
    lock = WriteLock(buf.path)
    request.addfinalizer(lock.release)
    [fut] = tap(mock_factory, clock, src, BUTTONS[0])
    out = fut.result(5)
    assert not out.stored and out.reason == "error"
    assert src.led_mode == ("error",)
    # All five blink (out of order); none shows a level as if it had been taken.
    wait_for(lambda: all(on_count(pin(mock_factory, n)) >= 2 for n in LEDS), what="all LEDs blinking")
    assert sqlite3.connect(buffer_path(cfg)).execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_stuck_button_is_reported_and_ignored_until_released(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(gpio={"stuck_seconds": 10})
    p = pin(mock_factory, BUTTONS[2])
    p.drive_low()
    clock.advance(0.05)
    [first] = src.service()
    first.result(5)
    clock.advance(10.0)
    assert src.service() == []
    h = src.health()
    assert h["stuck"] == ["3"] and h["ok"] is False
    # While stuck: chatter on the contact makes no rating.
    for _ in range(5):
        p.drive_high()
        clock.advance(0.01)
        p.drive_low()
        clock.advance(0.5)
        assert src.service() == []
    assert src.health()["stuck"] == ["3"]
    # Released: fault cleared, and the button works again.
    p.drive_high()
    clock.advance(0.1)
    src.service()
    assert src.health()["stuck"] == [] and src.health()["ok"]
    [again] = tap(mock_factory, clock, src, BUTTONS[2])
    assert again.result(5).stored
    assert len(ratings(cfg)) == 2


def test_button_held_at_start_never_rates(mock_factory, gpio_kiosk, clock):
    # Jammed before the kiosk starts (or active_low is wrong): the line stays low
    # even when the pull-up is switched on, as a contact shorted to ground would.
    p = mock_factory.pin(BUTTONS[0])
    p.drive_low()
    p.drive_high = lambda: None
    dev, src, cfg = gpio_kiosk(gpio={"stuck_seconds": 2})
    del p.drive_high
    assert p.state is False and src.debouncers[0].pressed
    clock.advance(1.0)
    assert src.service() == []
    clock.advance(1.5)
    assert src.service() == []
    assert src.health()["stuck"] == ["1"]
    assert ratings(cfg) == []


def test_stuck_trigger_is_reported(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(ui={"mode": "transaction"}, gpio={"stuck_seconds": 3})
    mock_factory.pin(TRIGGER).drive_low()
    clock.advance(0.05)
    [fut] = src.service()
    fut.result(5)
    clock.advance(3.0)
    src.service()
    assert src.health()["stuck"] == ["trigger"]


def test_no_trigger_and_no_leds(gpio_kiosk, mock_factory, clock):
    dev, src, cfg = gpio_kiosk(gpio={"trigger": 0, "leds": []})
    [fut] = tap(mock_factory, clock, src, BUTTONS[0])
    assert fut.result(5).ack
    assert src.leds == [] and src.health()["trigger"] is None
    assert len(src.inputs) == 5


def test_busy_pin_disables_the_panel_but_not_the_kiosk(mock_factory, gpio_kiosk):
    squatter = DigitalInputDevice(BUTTONS[3])
    try:
        dev, src, cfg = gpio_kiosk()
        h = src.health()
        assert h["ok"] is False and "GPIOPinInUse" in h["error"]
        assert dev.view().result(5).state is State.RATING  # the device runs on
        assert src.inputs == [] and src.leds == []
    finally:
        squatter.close()


def test_worker_thread_on_the_real_clock(gpio_kiosk, mock_factory):
    dev, src, cfg = gpio_kiosk(threaded=True, gpio={"debounce_ms": 5})
    p = pin(mock_factory, BUTTONS[4])
    p.drive_low()
    wait_for(lambda: len(ratings(cfg)) == 1, what="a rating from the worker thread")
    p.drive_high()
    assert ratings(cfg)[0]["satisfaction"] == 1
    wait_for(lambda: src.led_mode == ("level", 4), what="the level LED")
    dev.stop()
    src.stop()  # twice is fine
    assert src._thread is None and src.inputs == []
