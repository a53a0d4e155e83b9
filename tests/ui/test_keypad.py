"""USB keypads that type digits: keys 1-5 are the five buttons, left to right."""

import pytest

from kiosk.levels import LEVELS


@pytest.mark.parametrize("base", [49, 257], ids=["top-row", "numpad"])
def test_keys_1_to_5_rate_left_to_right(make_kiosk, base):
    k = make_kiosk()
    for i, _level in enumerate(LEVELS):
        assert k.key(base + i, str(i + 1))
        if k.screen == "reasons":
            k.app.skip_reasons()
        k.advance(k.cfg.ui.thanks_seconds)
    ratings = k.events("rating")
    assert [e["satisfaction"] for e in ratings] == [lv.wire for lv in LEVELS]
    assert {e["source"] for e in ratings} == {"keyboard"}


def test_held_key_auto_repeat_is_one_press(make_kiosk):
    from kivy.core.window import Window

    k = make_kiosk()
    for _ in range(5):
        Window.dispatch("on_key_down", 50, 0, "2", [])
    Window.dispatch("on_key_up", 50, 0)
    assert k.levels()["4"] == 1 and k.buffer.counts()["events_total"] == 1


def test_other_keys_and_escape_do_nothing(make_kiosk):
    k = make_kiosk()
    assert k.key(27) is True, "escape is swallowed, the app does not leave"
    k.key(54, "6")
    k.key(48, "0")
    k.key(97, "a")
    assert k.buffer.counts()["events_total"] == 0
    assert k.screen == "rating" and k.app._attached


def test_keyboard_disabled_in_config(make_kiosk):
    k = make_kiosk(hardware={"keyboard": {"enabled": False}})
    k.key(49, "1")
    assert k.buffer.counts()["events_total"] == 0


def test_window_close_request_is_refused(make_kiosk):
    from kivy.core.window import Window

    make_kiosk()
    assert Window.dispatch("on_request_close") is True
