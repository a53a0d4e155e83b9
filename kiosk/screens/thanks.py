"""The thanks screen: "感谢您的评价", shown only after the rating is durable."""

from __future__ import annotations

from ..levels import LEVELS, Level
from .base import KioskScreen, park, unpark
from .i18n import level_label
from .widgets import LEVEL_COLOURS, LEVEL_MOODS, MUTED, WHITE, FaceIcon, Text, rgb

NEUTRAL = rgb("#0b4f8a")


class ThanksScreen(KioskScreen):
    screen_name = "thanks"

    def build(self) -> None:
        self.face = FaceIcon(mood=2, face=NEUTRAL, ink=WHITE, size_hint=(0.5, 0.36),
                             pos_hint={"center_x": 0.5, "y": 0.52})
        self.layout.add_widget(self.face)
        self.title = Text(rel_size=0.11, bold=True, size_hint=(0.94, 0.2), pos_hint={"center_x": 0.5, "y": 0.28})
        self.layout.add_widget(self.title)
        # One ready-made line per level: showing the thanks screen swaps widgets
        # and never renders text, so it is drawn in the very next frame.
        self.details = {level: Text(rel_size=0.05, color=MUTED, size_hint=(0.9, 0.12),
                                    pos_hint={"center_x": 0.5, "y": 0.13}) for level in LEVELS}
        for text in self.details.values():
            self.layout.add_widget(text)
            park(text)
        self.level: Level | None = None

    @property
    def detail(self) -> Text | None:
        """The line shown under the title (None after a misuse press: no level)."""
        return self.details.get(self.level) if self.level is not None else None

    def relabel(self) -> None:
        self.title.text = self.tr("thanks")
        for level, text in self.details.items():
            text.text = self.tr("your_rating", level=level_label(level, self.app.language))

    def show(self, view) -> None:
        level = view.level
        if level is self.level:
            return
        if self.detail is not None:
            park(self.detail)
        self.level = level
        if self.detail is not None:
            unpark(self.detail)
        self.face.mood = LEVEL_MOODS[level] if level else 2
        self.face.face = LEVEL_COLOURS[level] if level else NEUTRAL
