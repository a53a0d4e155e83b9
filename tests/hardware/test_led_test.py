"""The technician's LED test: every LED lights in turn, without blocking the caller."""

import pytest

from . import test_gpio
from .test_gpio import LEDS, on_count, pin

gpio_kiosk = test_gpio.gpio_kiosk  # the fixture, shared


def test_led_test_cycles_every_led_in_the_background(gpio_kiosk, mock_factory):
    dev, src, cfg = gpio_kiosk()
    before = [on_count(pin(mock_factory, n)) for n in LEDS]
    thread = src.test_leds(seconds=0.01)
    thread.join(5)
    after = [on_count(pin(mock_factory, n)) for n in LEDS]
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1, 1, 1]
    assert not any(pin(mock_factory, n).state for n in LEDS)


def test_led_test_without_leds_says_so(gpio_kiosk):
    dev, src, cfg = gpio_kiosk(gpio={"leds": []})
    with pytest.raises(RuntimeError, match="no LEDs configured"):
        src.test_leds()
