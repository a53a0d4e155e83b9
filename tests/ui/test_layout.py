"""Nothing is cut off: every text fits its box, every widget is on the screen,
at 800x480 and 1024x600, in Chinese and in English."""

import pytest

from kiosk.levels import LEVELS
from kiosk.passcode import hash_pin
from kiosk.screens.harness import settle
from kiosk.screens.widgets import Text

MIN_READABLE = {"800x480": 12, "1024x600": 14}


def shown(widget, screen) -> bool:
    while widget is not None and widget is not screen:
        if widget.opacity == 0:
            return False
        widget = widget.parent
    return True


def check_screen(k, size: str, where: str) -> int:
    settle(2)
    w, h = k.root.size
    screen = k.app.screens[k.screen]
    checked = 0
    for widget in screen.walk(restrict=True):
        if widget is screen or not shown(widget, screen):
            continue
        x, y = widget.to_window(widget.x, widget.y)
        assert x >= -0.5 and y >= -0.5 and x + widget.width <= w + 0.5 and y + widget.height <= h + 0.5, \
            f"{where}: {widget!r} off screen"
        if isinstance(widget, Text) and widget.text:
            assert not widget.overflows(), f"{where}: {widget.text!r} does not fit {widget.size}"
            assert widget.font_size >= MIN_READABLE[size], f"{where}: {widget.text!r} shrank to {widget.font_size}"
            checked += 1
    return checked


@pytest.mark.parametrize("size", ["800x480", "1024x600"])
@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_screen_fits(make_kiosk, size, language):
    pin = hash_pin("2468")
    k = make_kiosk(mode="transaction", size=size,
                   ui={"language": language, "reasons_for": "all", "technician_pin": pin},
                   device={"section": "不动产登记与税务综合服务区"}, staff={"name": "欧阳明月"})
    checked = check_screen(k, size, "idle")
    for level in LEVELS:
        k.device.trigger("P-1").result()
        k.advance(0)
        checked += check_screen(k, size, "rating")
        k.tap(k.button(level.position))
        assert k.screen == "reasons"
        k.app.select_reasons([r.code for r in level.reasons]).result()
        checked += check_screen(k, size, f"reasons {level.name}")
        k.tap(k.app.screens["reasons"].submit)
        assert k.screen == "thanks"
        checked += check_screen(k, size, "thanks")
        k.advance(k.cfg.ui.thanks_seconds)
    k.app.open_pin()
    checked += check_screen(k, size, "pin")
    k.app.enter_pin("2468")
    checked += check_screen(k, size, "technician")
    k.app.screens["technician"].open_staff_form()
    checked += check_screen(k, size, "technician staff form")
    k.app.close_maintenance()
    assert checked > 60
