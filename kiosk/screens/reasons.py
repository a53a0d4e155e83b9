"""The reasons screen: the national reasons for the chosen level as toggle chips.

Always shown after a 差评 (and after the other levels when ``[ui] reasons_for
= "all"``). Chips, submit and skip only call the device; the session keeps
the draft, owns the timeout and keeps selected chips when it expires.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from ..levels import LEVELS, REASON_BY_CODE
from ..session import State
from .base import KioskScreen, countdown, park, unpark
from .i18n import reason_label
from .widgets import (
    GREY,
    LEVEL_COLOURS,
    LEVEL_INK,
    LEVEL_MOODS,
    LEVEL_TEXT,
    MUTED,
    BigButton,
    Chip,
    FaceIcon,
    Text,
)


class ReasonsScreen(KioskScreen):
    screen_name = "reasons"

    def build(self) -> None:
        top = BoxLayout(orientation="horizontal", spacing="10dp", size_hint=(0.96, 0.14),
                        pos_hint={"center_x": 0.5, "top": 0.98})
        self.face = FaceIcon(size_hint_x=None, width=60)
        top.bind(height=lambda *_: setattr(self.face, "width", top.height))
        self.title = Text(rel_size=0.055, bold=True, halign="left")
        top.add_widget(self.face)
        top.add_widget(self.title)
        self.layout.add_widget(top)
        # The chips of every level are made once (see :meth:`prepare`): opening
        # the step swaps a ready grid in, so it is drawn in the next frame.
        self.grids: dict = {}
        self.level_chips: dict = {}
        self.grid = None
        bottom = BoxLayout(orientation="horizontal", spacing="14dp", size_hint=(0.96, 0.13),
                           pos_hint={"center_x": 0.5, "y": 0.025})
        self.countdown = Text(rel_size=0.04, color=MUTED, size_hint_x=0.4, halign="left")
        self.skip = BigButton(colour=GREY, size_hint_x=0.28)
        self.submit = BigButton(size_hint_x=0.32)
        self.skip.bind(on_release=lambda *_: self.app.skip_reasons())
        self.submit.bind(on_release=lambda *_: self.app.submit_reasons(self.selected()))
        for w in (self.countdown, self.skip, self.submit):
            bottom.add_widget(w)
        self.layout.add_widget(bottom)
        self.chips: list[Chip] = []
        self.level = None

    def prepare(self, level=None, codes: tuple[str, ...] | None = None) -> None:
        """Make the chip grid of ``level`` (of every level when None) offering ``codes``
        (default: the whole national list), parked out of sight."""
        for lv in ([level] if level is not None else LEVELS):
            offered = codes or tuple(r.code for r in lv.reasons)
            key = (lv, offered)
            if key in self.grids:
                continue
            grid = GridLayout(cols=2, spacing="10dp", size_hint=(0.96, 0.64), pos_hint={"center_x": 0.5, "y": 0.18})
            chips = []
            for reason in (REASON_BY_CODE[c] for c in offered):
                chip = Chip(reason.code, reason_label(reason, self.app.language), LEVEL_COLOURS[lv],
                            LEVEL_TEXT[lv])
                chip.reason = reason
                chip.bind(on_release=self._chip_released)
                chips.append(chip)
                grid.add_widget(chip)
            self.grids[key] = grid
            self.level_chips[key] = chips
            self.layout.add_widget(grid)
            park(grid)

    def selected(self) -> list[str]:
        return [chip.code for chip in self.chips if chip.state == "down"]

    def _chip_released(self, chip: Chip) -> None:
        self.app.select_reasons(self.selected())

    def relabel(self) -> None:
        self.skip.label = self.tr("skip")
        self.submit.label = self.tr("submit")
        for chips in self.level_chips.values():
            for chip in chips:
                chip.label = reason_label(chip.reason, self.app.language)
        if self.level is not None:
            self.title.text = self.tr("reasons_bad" if self.level.is_bad else "reasons_good")

    def _set_level(self, level, codes: tuple[str, ...] = ()) -> None:
        key = (level, codes or tuple(r.code for r in level.reasons))
        if level is self.level and self.grids.get(key) is self.grid:
            return
        self.prepare(level, key[1])
        if self.grid is not None:
            park(self.grid)
        self.level = level
        self.grid = self.grids[key]
        self.chips = self.level_chips[key]
        unpark(self.grid)
        colour = LEVEL_COLOURS[level]
        self.face.mood = LEVEL_MOODS[level]
        self.face.face = colour
        self.face.ink = LEVEL_TEXT[level]
        self.title.text = self.tr("reasons_bad" if level.is_bad else "reasons_good")
        self.title.color = LEVEL_INK[level]
        self.submit.colour = colour
        self.submit.text_colour = LEVEL_TEXT[level]

    def show(self, view) -> None:
        if view.state is not State.REASONS or view.level is None:
            return
        self._set_level(view.level, tuple(view.offered_reasons))
        draft = set(view.reasons_draft)
        for chip in self.chips:
            want = "down" if chip.code in draft else "normal"
            if chip.state != want:
                chip.state = want
        self.tick(view)

    def tick(self, view) -> None:
        n = countdown(view.seconds_left)
        text = self.tr("countdown", n=n) if n is not None else ""
        if self.countdown.text != text:
            self.countdown.text = text
