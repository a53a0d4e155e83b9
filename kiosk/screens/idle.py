"""The idle screen (transaction mode): the staff card and "请稍候" until a prompt opens."""

from __future__ import annotations

from .base import KioskScreen
from .rating import HeaderBand
from .widgets import MUTED, StaffCard, Text


class IdleScreen(KioskScreen):
    screen_name = "idle"

    def build(self) -> None:
        self.header = HeaderBand(self.app, message_size=0.05, size_hint=(1, 0.2), pos_hint={"x": 0, "top": 1})
        self.header.remove_widget(self.header.card)
        self.header.message.size_hint_x = 0.8
        self.layout.add_widget(self.header)
        self.card = StaffCard(rel_size=0.07, size_hint=(0.62, 0.34), pos_hint={"center_x": 0.5, "y": 0.4})
        self.layout.add_widget(self.card)
        self.wait = Text(rel_size=0.1, bold=True, size_hint=(0.9, 0.17), pos_hint={"center_x": 0.5, "y": 0.19})
        self.layout.add_widget(self.wait)
        self.hint = Text(rel_size=0.038, color=MUTED, size_hint=(0.9, 0.12), pos_hint={"center_x": 0.5, "y": 0.04})
        self.layout.add_widget(self.hint)

    def relabel(self) -> None:
        self.wait.text = self.tr("please_wait")
        self.hint.text = self.tr("idle_hint")

    def show(self, view) -> None:
        self.header.show(view)
        self.header.message.text = view.window.section
        self.app.show_staff(self.card, view)
