"""The rating screen: five buttons in one row, 非常满意 → 非常不满意 (docs/screenshots/README.md).

Above the buttons a band shows the window, the prompt and the staff card.
The buttons span the width and the vertical middle of the screen (from 32 %
to 89 % of the height, measured from the top).
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout

from ..levels import LEVELS
from ..session import State
from .base import KioskScreen, countdown
from .i18n import level_label
from .widgets import HEADER, MUTED, WHITE, Panel, RatingButton, StaffCard, Text

#: The button row's box as fractions of the screen (Kivy coordinates, y up).
ROW_X, ROW_Y, ROW_W, ROW_H = 0.015, 0.11, 0.97, 0.57


class HeaderBand(Panel):
    """Window number, a message and the staff card, on a coloured band."""

    def __init__(self, app, message_size: float = 0.062, **kwargs):
        super().__init__(orientation="horizontal", bg=HEADER, padding=("12dp", "10dp"), spacing="12dp",
                         **kwargs)
        self.app = app
        self.window_label = Text(rel_size=0.055, color=WHITE, bold=True, size_hint_x=0.2)
        self.message = Text(rel_size=message_size, color=WHITE, bold=True, size_hint_x=0.48)
        self.card = StaffCard(size_hint_x=0.32, rel_size=0.045)
        for w in (self.window_label, self.message, self.card):
            self.add_widget(w)

    def show(self, view) -> None:
        self.window_label.text = self.app.tr("window", window=view.window.window_no)
        self.app.show_staff(self.card, view)


class RatingScreen(KioskScreen):
    screen_name = "rating"

    def build(self) -> None:
        self.header = HeaderBand(self.app, size_hint=(1, 0.28), pos_hint={"x": 0, "top": 1})
        self.layout.add_widget(self.header)
        self.row = BoxLayout(orientation="horizontal", spacing="10dp",
                             size_hint=(ROW_W, ROW_H), pos_hint={"x": ROW_X, "y": ROW_Y})
        self.buttons: list[RatingButton] = []
        for level in LEVELS:
            button = RatingButton(level)
            button.bind(on_release=self._released)
            self.buttons.append(button)
            self.row.add_widget(button)
        self.layout.add_widget(self.row)
        self.footer = Text(rel_size=0.045, color=MUTED, bold=True, size_hint=(0.9, 0.1),
                           pos_hint={"center_x": 0.5, "y": 0})
        self.layout.add_widget(self.footer)

    def _released(self, button: RatingButton) -> None:
        self.app.press(button.level.position, "touch")

    def relabel(self) -> None:
        self.header.message.text = self.tr("prompt")
        for button in self.buttons:
            button.label = level_label(button.level, self.app.language)

    def show(self, view) -> None:
        self.header.show(view)
        self.tick(view)

    def tick(self, view) -> None:
        n = countdown(view.seconds_left) if view.state is State.RATING and view.prompt else None
        text = self.tr("countdown", n=n) if n is not None else view.window.section
        if self.footer.text != text:
            self.footer.text = text
