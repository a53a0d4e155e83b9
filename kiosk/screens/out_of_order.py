"""The out-of-order screen: shown while the buffer cannot store ratings.

The app never pretends to accept a press it could not make durable; the
session leaves this state by itself when a write succeeds again.
"""

from __future__ import annotations

from .base import KioskScreen
from .widgets import WHITE, Text, rgb


class OutOfOrderScreen(KioskScreen):
    screen_name = "out_of_order"
    background = rgb("#37474f")

    def build(self) -> None:
        self.title = Text(rel_size=0.085, bold=True, color=WHITE, size_hint=(0.9, 0.3),
                          pos_hint={"center_x": 0.5, "y": 0.48})
        self.detail = Text(rel_size=0.05, color=rgb("#cfd8dc"), size_hint=(0.9, 0.14),
                           pos_hint={"center_x": 0.5, "y": 0.32})
        self.error = Text(rel_size=0.028, color=rgb("#90a4ae"), size_hint=(0.94, 0.12),
                          pos_hint={"center_x": 0.5, "y": 0.03})
        for w in (self.title, self.detail, self.error):
            self.layout.add_widget(w)

    def relabel(self) -> None:
        self.title.text = self.tr("out_of_order")
        self.detail.text = self.tr("out_of_order_sub")

    def show(self, view) -> None:
        self.error.text = view.error or ""
