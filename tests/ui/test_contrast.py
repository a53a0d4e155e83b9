"""Every text on the screens meets WCAG 2 AA contrast (4.5:1, large text 3:1),
computed from the theme and from the widgets actually shown, green → red kept."""

import colorsys

import pytest

from kiosk.levels import LEVELS
from kiosk.passcode import hash_pin
from kiosk.screens import widgets as theme
from kiosk.screens.harness import settle
from kiosk.screens.widgets import Text

AA, AA_LARGE = 4.5, 3.0


def luminance(colour) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(fg, bg) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_ratio_formula_matches_wcag_examples():
    assert ratio((1, 1, 1, 1), (0, 0, 0, 1)) == pytest.approx(21)
    assert ratio(theme.rgb("#777777"), (1, 1, 1, 1)) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("level", LEVELS, ids=lambda lv: lv.name)
def test_every_rating_button_label_meets_aa(level):
    assert ratio(theme.LEVEL_TEXT[level], theme.LEVEL_COLOURS[level]) >= AA
    assert ratio(theme.LEVEL_INK[level], theme.BACKGROUND) >= AA, "the level's title colour on the background"


@pytest.mark.parametrize("fg, bg", [
    ("WHITE", "HEADER"), ("WHITE", "GREY"), ("WHITE", "RED"), ("WHITE", "GREEN"),
    ("RED", "BACKGROUND"), ("HEADER", "BACKGROUND"), ("MUTED", "BACKGROUND"), ("MUTED", "WHITE"),
    ("INK", "BACKGROUND"), ("INK", "WHITE"),
])
def test_status_and_secondary_colours_meet_aa(fg, bg):
    assert ratio(getattr(theme, fg), getattr(theme, bg)) >= AA, (fg, bg)


def test_green_to_red_is_kept():
    hues = []
    for level in LEVELS:
        h, _, s = colorsys.rgb_to_hls(*theme.LEVEL_COLOURS[level][:3])
        assert s > 0.5
        hues.append(h * 360 - (360 if h * 360 > 300 else 0))
    assert hues == sorted(hues, reverse=True) and hues[0] >= 100 and hues[-1] <= 10, hues


def background_of(widget, screen):
    """The colour behind ``widget``: the nearest opaque panel, else the screen's background."""
    node = widget.parent
    while node is not None and node is not screen:
        bg = getattr(node, "bg", None)
        if bg is not None and len(bg) == 4 and bg[3] >= 0.99:
            return bg
        node = node.parent
    return screen.background


def shown(widget, screen) -> bool:
    node = widget
    while node is not None and node is not screen:
        if node.opacity == 0 or node.disabled:
            return False  # hidden, or a not-ready button (WCAG exempts inactive controls)
        node = node.parent
    return True


def check(k, where: str, found: list) -> None:
    settle(2)
    screen = k.app.screens[k.screen]
    for w in screen.walk(restrict=True):
        if isinstance(w, Text) and w.text and shown(w, screen):
            bg = background_of(w, screen)
            need = AA_LARGE if w.font_size >= 24 or (w.bold and w.font_size >= 18.66) else AA
            r = ratio(w.color, bg)
            found.append((where, w.text, round(r, 2)))
            assert r >= need, f"{where}: {w.text!r} is {r:.2f}:1 on {bg} (needs {need})"


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_text_shown_meets_aa(make_kiosk, failing_buffer, language):
    found: list = []
    k = make_kiosk(mode="transaction", buffer_cls=failing_buffer, size="800x480",
                   ui={"language": language, "reasons_for": "all", "technician_pin": hash_pin("2468")})
    check(k, "idle", found)
    for level in LEVELS:
        k.device.trigger("P-1").result()
        k.advance(0)
        check(k, "rating", found)
        k.tap(k.button(level.position))
        k.app.select_reasons([r.code for r in level.reasons[:2]]).result()
        k.advance(0)
        check(k, f"reasons {level.name}", found)
        k.tap(k.app.screens["reasons"].submit)
        check(k, f"thanks {level.name}", found)
        k.advance(k.cfg.ui.thanks_seconds)
    k.device.set_paused(True).result()
    k.advance(0)
    check(k, "paused", found)
    k.device.set_paused(False).result()
    k.device.trigger("P-2").result()
    k.buffer.broken = True
    k.tap(k.button(0))
    check(k, "out_of_order", found)
    k.buffer.broken = False
    k.advance(2.1)
    k.app.open_pin()
    k.app.screens["pin"].type("1")
    k.app.screens["pin"].type("ok")
    check(k, "pin", found)
    k.app.enter_pin("2468")
    check(k, "technician", found)
    assert len(found) > 80
