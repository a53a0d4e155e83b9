"""On a real Raspberry Pi only: the GPIO panel through the default pin library.

Skipped everywhere else. To run it on a Pi, wire a jumper from BCM 16 (header
pin 36) to BCM 5 (header pin 29, button 1) and run::

    KIOSK_TEST_REAL_PINS=1 python -m pytest tests/hardware/test_real_pins.py

BCM 16 then plays the switch: driven low it "presses" button 1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kiosk.hardware.gpio import GpioSource

from .conftest import ratings, wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("KIOSK_TEST_REAL_PINS") != "1" or not Path("/dev/gpiochip0").exists(),
    reason="needs a Raspberry Pi with BCM 16 jumpered to BCM 5 and KIOSK_TEST_REAL_PINS=1")


def test_jumpered_pin_presses_button_one(device_factory, make_cfg):
    from gpiozero import DigitalOutputDevice

    switch = DigitalOutputDevice(16, initial_value=True)  # idle high, like an open switch with pull-up
    try:
        cfg = make_cfg(hardware={"gpio": {"enabled": True, "buttons": [5, 6, 13, 19, 26], "trigger": 0}},
                       ui={"cooldown_seconds": 0})
        dev = device_factory(cfg)
        src = GpioSource(cfg.hardware.gpio)
        dev.add_source(src)
        dev.start()
        assert src.health()["error"] is None, src.health()
        switch.off()  # closes the "switch": pin low
        time.sleep(0.1)
        switch.on()
        wait_for(lambda: len(ratings(cfg)) == 1, what="a rating from a real pin")
        assert ratings(cfg)[0]["satisfaction"] == 5 and ratings(cfg)[0]["source"] == "gpio"
    finally:
        switch.close()
