"""The rating screen: layout (docs/screenshots/README.md) and real touches → the right level in the buffer."""

import colorsys

import pytest

from kiosk.levels import LEVELS, Level
from kiosk.screens.rating import RatingScreen
from kiosk.screens.widgets import FaceIcon, Text


@pytest.mark.parametrize("size", ["1024x600", "800x480"])
def test_five_buttons_in_one_row_spanning_width_and_middle(make_kiosk, size):
    """One row, left→right 非常满意 → 非常不满意, across the width and covering at
    least 35 %–85 % of the height measured from the top (Kivy's y grows upwards)."""
    k = make_kiosk(size=size)
    assert k.screen == "rating"
    w, h = k.root.size
    assert (w, h) == tuple(int(v) for v in size.split("x"))
    buttons = k.app.screens["rating"].buttons
    assert [b.level for b in buttons] == list(LEVELS)
    boxes = [(*b.to_window(b.x, b.y), b.width, b.height) for b in buttons]
    for _x, y, _bw, bh in boxes:
        assert y <= 0.15 * h, "buttons must reach down to 85 % of the height (from the top)"
        assert y + bh >= 0.65 * h, "buttons must reach up to 35 % of the height (from the top)"
    assert len({round(y) for _, y, _, _ in boxes}) == 1 and len({round(bh) for *_, bh in boxes}) == 1
    xs = [x for x, *_ in boxes]
    assert xs == sorted(xs)
    for (x1, _, w1, _), (x2, _, _, _) in zip(boxes, boxes[1:]):
        assert x1 + w1 <= x2, "buttons overlap"
    assert boxes[0][0] <= 0.03 * w and boxes[-1][0] + boxes[-1][2] >= 0.97 * w
    assert sum(bw for _, _, bw, _ in boxes) >= 0.9 * w


def test_buttons_are_green_to_red_with_face_and_label(make_kiosk):
    k = make_kiosk()
    buttons = k.app.screens["rating"].buttons
    hues = []
    for b in buttons:
        h, _, s = colorsys.rgb_to_hls(*b.bg[:3])
        assert s > 0.5, "a clear colour, not grey"
        hue = h * 360
        hues.append(hue - 360 if hue > 300 else hue)
    assert hues == sorted(hues, reverse=True), f"green → red, got hues {hues}"
    assert hues[0] >= 100 and hues[-1] <= 10
    moods = []
    for b in buttons:
        faces = [c for c in b.children if isinstance(c, FaceIcon)]
        labels = [c for c in b.children if isinstance(c, Text)]
        assert len(faces) == 1 and len(labels) == 1
        assert labels[0].text == b.level.zh
        moods.append(faces[0].mood)
    assert moods == [2, 1, 0, -1, -2]


def test_header_shows_window_staff_and_prompt(make_kiosk):
    k = make_kiosk()
    screen: RatingScreen = k.app.screens["rating"]
    assert screen.header.message.text == "请您对本次服务进行评价"
    assert screen.header.window_label.text == "7 号窗口"
    assert screen.header.card.name_label.text == "张敏"
    assert screen.header.card.no_label.text == "工号 0231"
    assert screen.header.card.photo_box.children, "a placeholder stands in for a missing photo"


def test_touch_at_each_button_stores_its_level(make_kiosk):
    k = make_kiosk()
    expected = {str(n): 0 for n in range(1, 6)}
    for position, level in enumerate(LEVELS):
        assert k.screen == "rating"
        k.tap(k.button(position))
        expected[str(level.wire)] += 1
        assert k.levels() == expected, level
        if level.is_bad:
            assert k.screen == "reasons"
            k.tap(k.app.screens["reasons"].skip)
        assert k.screen == "thanks"
        assert k.app.screens["thanks"].title.text == "感谢您的评价"
        k.advance(k.cfg.ui.thanks_seconds)
    ratings = k.events("rating")
    assert [e["satisfaction"] for e in ratings] == [5, 4, 3, 2, 1]
    assert {e["source"] for e in ratings} == {"touch"}
    assert all(e["channel"] == 4 and e["window_no"] == "7" and e["staff_no"] == "0231" for e in ratings)


def test_thanks_goes_back_after_thanks_seconds(make_kiosk):
    k = make_kiosk(ui={"thanks_seconds": 4})
    k.tap(k.button(1))
    assert k.screen == "thanks"
    assert k.app.screens["thanks"].detail.text == "您的评价：满意"
    k.advance(3.9)
    assert k.screen == "thanks"
    k.advance(0.2)
    assert k.screen == "rating"


def test_thanks_lasts_until_the_cooldown_is_over(make_kiosk):
    """The cooldown trap: thanks_seconds (1 s) shorter than the cooldown (5 s) must
    not bring back live buttons whose press would only be stored as misuse."""
    k = make_kiosk(ui={"cooldown_seconds": 5, "thanks_seconds": 1})
    k.tap(k.button(0))
    k.advance(4.9)
    assert k.screen == "thanks"
    k.tap(k.button(4))  # where 非常不满意 was: the thanks screen is up, nothing is stored
    k.advance(0.1)
    assert k.screen == "rating" and k.app.screens["rating"].ready
    k.tap(k.button(4))
    assert k.screen == "reasons", "the first touch on the rating screen counts"
    assert [e["misuse"] for e in k.events("rating")] == [False, False]


def test_buttons_not_ready_during_a_cooldown_take_no_touch(make_kiosk, failing_buffer):
    """The rating screen back early (after out of order): pale buttons, a countdown,
    and a tap stores nothing; a keypad press is stored as misuse and never thanked."""
    k = make_kiosk(buffer_cls=failing_buffer, ui={"cooldown_seconds": 10, "thanks_seconds": 1})
    screen = k.app.screens["rating"]
    k.tap(k.button(0))
    k.advance(1)
    k.buffer.broken = True
    k.key(49, "1")
    assert k.screen == "out_of_order"
    k.buffer.broken = False
    k.advance(2.1)
    assert k.screen == "rating" and not screen.ready
    assert screen.header.message.text == "请稍候，7 秒后可以评价"
    assert all(b.disabled for b in screen.buttons)
    k.tap(k.button(4))
    assert k.screen == "rating" and len(k.events("rating")) == 1, "a tap on a not-ready button is no press"
    k.key(53, "5")
    assert k.screen == "rating", "a misuse press is not thanked"
    assert screen.footer.text == "按键过快，本次按键未计入评价"
    assert [e["misuse"] for e in k.events("rating")] == [False, True]
    k.advance(3.5)
    assert screen.header.message.text == "请稍候，4 秒后可以评价"
    k.advance(3.5)
    assert screen.ready and screen.header.message.text == "请您对本次服务进行评价"
    assert screen.footer.text == "综合服务区"
    k.tap(k.button(1))
    assert k.screen == "thanks"
    assert [e["misuse"] for e in k.events("rating")] == [False, True, False]


def test_misuse_press_on_the_thanks_screen_stops_the_smile(make_kiosk):
    k = make_kiosk(ui={"cooldown_seconds": 5, "thanks_seconds": 1})
    thanks = k.app.screens["thanks"]
    k.tap(k.button(0))
    assert thanks.face.mood == 2
    k.key(49, "1")
    assert k.screen == "thanks"
    assert thanks.detail.text == "按键过快，本次按键未计入评价"
    assert thanks.face.mood == 0, "a misuse press is never answered with a smile"
    assert [e["misuse"] for e in k.events("rating")] == [False, True]
    k.advance(5)
    assert k.screen == "rating"


def test_touch_between_buttons_stores_nothing(make_kiosk):
    k = make_kiosk()
    b0, b1 = k.button(0), k.button(1)
    x = (b0.to_window(b0.right, 0)[0] + b1.to_window(b1.x, 0)[0]) / 2
    y = b0.to_window(0, b0.center_y)[1]
    k.tap_at(x, y)
    k.tap_at(k.root.width / 2, k.root.height * 0.02)
    assert k.screen == "rating"
    assert k.buffer.counts()["events_total"] == 0
    assert Level.from_position(0) is LEVELS[0]
