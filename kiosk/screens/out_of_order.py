"""The out-of-order screen: shown while the buffer cannot store ratings.

The app never pretends to accept a press it could not make durable; the
session leaves this state by itself when a write succeeds again. Citizens see
a plain message and what they can do; the technical detail (the error) goes
to the log and to the technician screen, never here.
"""

from __future__ import annotations

from .base import KioskScreen
from .widgets import WHITE, Text, rgb


class OutOfOrderScreen(KioskScreen):
    screen_name = "out_of_order"
    background = rgb("#37474f")

    def build(self) -> None:
        self.title = Text(rel_size=0.085, bold=True, color=WHITE, size_hint=(0.9, 0.24),
                          pos_hint={"center_x": 0.5, "y": 0.52})
        self.detail = Text(rel_size=0.06, color=rgb("#e3e9ec"), size_hint=(0.9, 0.2),
                           pos_hint={"center_x": 0.5, "y": 0.28})
        self.note = Text(rel_size=0.04, color=rgb("#cfd8dc"), size_hint=(0.9, 0.12),
                         pos_hint={"center_x": 0.5, "y": 0.08})
        for w in (self.title, self.detail, self.note):
            self.layout.add_widget(w)

    def relabel(self) -> None:
        self.title.text = self.tr("out_of_order")
        self.detail.text = self.tr("out_of_order_sub")
        self.note.text = self.tr("out_of_order_note")
