"""The thanks screen: "感谢您的评价", shown only after the rating is durable.

After a 差评 it also says what happens next (the deadline the server's
settings give) and, when set, the hall's supervision phone. A press stored as
misuse (free mode, within the cooldown) is never thanked: the line under the
title then says the press was not counted, and the face stops smiling.
"""

from __future__ import annotations

from ..levels import LEVELS, Level
from .base import KioskScreen, park, unpark
from .i18n import level_label
from .qr import QrPanel
from .widgets import HEADER, INK, LEVEL_COLOURS, LEVEL_MOODS, MUTED, RED, WHITE, FaceIcon, Text

NEUTRAL = HEADER


class ThanksScreen(KioskScreen):
    screen_name = "thanks"

    def build(self) -> None:
        self.face = FaceIcon(mood=2, face=NEUTRAL, ink=WHITE, size_hint=(0.5, 0.32),
                             pos_hint={"center_x": 0.5, "y": 0.6})
        self.layout.add_widget(self.face)
        self.title = Text(rel_size=0.11, bold=True, size_hint=(0.94, 0.18), pos_hint={"center_x": 0.5, "y": 0.4})
        self.layout.add_widget(self.title)
        # One ready-made line per level: showing the thanks screen swaps widgets
        # and never renders text, so it is drawn in the very next frame.
        self.details = {level: Text(rel_size=0.05, color=MUTED, size_hint=(0.9, 0.11),
                                    pos_hint={"center_x": 0.5, "y": 0.28}) for level in LEVELS}
        self.misuse = Text(rel_size=0.05, color=RED, bold=True, size_hint=(0.9, 0.11),
                           pos_hint={"center_x": 0.5, "y": 0.28})
        self.followup = Text(rel_size=0.048, color=INK, size_hint=(0.9, 0.22), pos_hint={"center_x": 0.5, "y": 0.03})
        for text in (*self.details.values(), self.misuse, self.followup):
            self.layout.add_widget(text)
            park(text)
        # top right, beside the face: the citizen may rate the window again on their phone
        self.qr = QrPanel(size_hint=(0.235, 0.45), pos_hint={"right": 0.985, "top": 0.985})
        self.layout.add_widget(self.qr)
        self.level: Level | None = None
        self.notice = False

    @property
    def detail(self) -> Text | None:
        """The line shown under the title (the misuse notice after a press within the cooldown)."""
        return self.misuse if self.notice else (self.details.get(self.level) if self.level is not None else None)

    def relabel(self) -> None:
        self.title.text = self.tr("thanks")
        self.misuse.text = self.tr("misuse_notice")
        for level, text in self.details.items():
            text.text = self.tr("your_rating", level=level_label(level, self.app.language))
        self.followup.text = self.app.followup_text()
        self.qr.caption.text = self.tr("scan_to_rate")

    def show(self, view) -> None:
        self.qr.show_url(self.app.qr_url())
        level, notice = view.level, view.misuse_notice
        if level is self.level and notice == self.notice:
            return
        if self.detail is not None:
            park(self.detail)
        park(self.followup)
        self.level, self.notice = level, notice
        if self.detail is not None:
            unpark(self.detail)
        if level is not None and level.is_bad and self.followup.text:
            unpark(self.followup)
        smile = level is not None and not notice
        self.face.mood = LEVEL_MOODS[level] if smile else 0
        self.face.face = LEVEL_COLOURS[level] if smile else NEUTRAL
