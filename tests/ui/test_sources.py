"""Presses from panels on other threads reach the same session; the screen follows."""

import threading

from kiosk.hardware.base import Source
from kiosk.screens.harness import settle


class ThreadedPanel(Source):
    """Like the GPIO and serial sources: input arrives on its own thread."""

    name = "gpio"

    def __init__(self):
        self.started = False
        self.views = []

    def start(self, device):
        super().start(device)
        self.started = True

    def on_view(self, view):
        self.views.append(view.state.value)

    def from_thread(self, fn, *args):
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("future", fn(*args)))
        t.start()
        t.join()
        return box["future"]


def test_gpio_press_shows_the_thanks_screen(make_kiosk):
    panel = ThreadedPanel()
    k = make_kiosk(sources=[panel])
    assert panel.started, "the app starts the panels"
    future = panel.from_thread(k.device.press, 2, "gpio")
    assert not future.done(), "handed to the Kivy thread, not run on the panel's"
    settle(2)
    assert future.result(timeout=0).accepted
    assert k.screen == "thanks"
    assert k.app.screens["thanks"].detail.text == "您的评价：基本满意"
    (rating,) = k.events("rating")
    assert rating["source"] == "gpio" and rating["satisfaction"] == 3
    assert "thanks" in panel.views


def test_prompt_from_the_queue_system_thread_opens_the_rating_screen(make_kiosk):
    panel = ThreadedPanel()
    k = make_kiosk(mode="transaction", sources=[panel])
    assert k.screen == "idle"
    future = panel.from_thread(k.device.trigger, "P-77", "B003")
    settle(2)
    assert future.result(timeout=0).project_no == "P-77"
    assert k.screen == "rating"
    k.tap(k.button(0))
    assert k.screen == "thanks"
    assert k.events("rating")[0]["project_no"] == "P-77"


def test_touch_and_panel_presses_share_the_cooldown(make_kiosk):
    panel = ThreadedPanel()
    k = make_kiosk(sources=[panel], ui={"cooldown_seconds": 5, "thanks_seconds": 1})
    k.tap(k.button(0))
    k.advance(1.5)
    panel.from_thread(k.device.press, 0, "gpio")
    settle(2)
    assert [(e["source"], e["misuse"]) for e in k.events("rating")] == [("touch", False), ("gpio", True)]
