"""The rating screen: five buttons in one row, 非常满意 → 非常不满意 (docs/screenshots/README.md).

Above the buttons a band shows the window, the prompt and the staff card.
The buttons span the width and the vertical middle of the screen (from 32 %
to 89 % of the height, measured from the top).

Free mode, during the cooldown after a counted rating (only when the screen
comes back early, e.g. from out of order: the thanks screen normally lasts
until the cooldown is over): the buttons are pale and take no touch, and the
prompt line counts down to when a press counts again.
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
#: The prompt, the staff name and 工号 share this size (fraction of the window height).
BAND_TEXT = 0.056


class HeaderBand(Panel):
    """Window number and a message on the left, the staff card on the right, on a coloured band.

    The message is never larger than the staff name or 工号 (``max_size``):
    the card must read from the citizen's chair at least as well as the prompt.
    """

    def __init__(self, app, message_size: float = BAND_TEXT, with_card: bool = True, **kwargs):
        super().__init__(orientation="horizontal", bg=HEADER, padding=("12dp", "8dp"), spacing="12dp",
                         **kwargs)
        self.app = app
        left = BoxLayout(orientation="vertical", size_hint_x=0.56 if with_card else 1)
        self.window_label = Text(rel_size=0.05, color=WHITE, bold=True, halign="left", size_hint_y=0.4)
        self.message = Text(rel_size=message_size, color=WHITE, bold=True, halign="left", size_hint_y=0.6)
        left.add_widget(self.window_label)
        left.add_widget(self.message)
        self.add_widget(left)
        self.card = None
        if with_card:
            self.card = StaffCard(size_hint_x=0.44, rel_size=BAND_TEXT)
            self.add_widget(self.card)
            for label in (self.card.name_label, self.card.no_label):
                label.bind(font_size=self._cap_message)

    def _cap_message(self, *_) -> None:
        assert self.card is not None, "bound only when the band has a staff card"
        sizes = [lb.font_size for lb in (self.card.name_label, self.card.no_label) if lb.text]
        self.message.max_size = min(sizes) if sizes else 0

    def show(self, view) -> None:
        self.window_label.text = self.app.tr("window", window=view.window.window_no)
        if self.card is not None:
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
        if button.ready:
            self.app.press(button.level.position, "touch")

    @property
    def ready(self) -> bool:
        """Whether the buttons take presses (False during a free-mode cooldown)."""
        return all(b.ready for b in self.buttons)

    def relabel(self) -> None:
        for button in self.buttons:
            button.label = level_label(button.level, self.app.language)
        self.header.message.text = ""

    def show(self, view) -> None:
        self.header.show(view)
        self.tick(view)

    def tick(self, view) -> None:
        wait = countdown(view.cooldown_left) if view.state is State.RATING else None
        for button in self.buttons:
            if button.ready != (wait is None):
                button.ready = wait is None
        message = self.tr("not_ready", n=wait) if wait is not None else self.tr("prompt")
        if self.header.message.text != message:
            self.header.message.text = message
        n = countdown(view.seconds_left) if view.state is State.RATING and view.prompt else None
        if view.misuse_notice:
            text = self.tr("misuse_notice")
        else:
            text = self.tr("countdown", n=n) if n is not None else view.window.section
        if self.footer.text != text:
            self.footer.text = text
