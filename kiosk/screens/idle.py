"""The idle screen (transaction mode): "欢迎" and the staff card until a prompt opens.

It is also the 暂停服务 screen (either mode) while the staff have paused the
window: the card stays, and the title tells citizens to go to another window.
"""

from __future__ import annotations

from .base import KioskScreen
from .qr import QrPanel
from .rating import HeaderBand
from .widgets import INK, MUTED, RED, StaffCard, Text


class IdleScreen(KioskScreen):
    screen_name = "idle"

    def build(self) -> None:
        self.header = HeaderBand(self.app, message_size=0.05, with_card=False, size_hint=(1, 0.2),
                                 pos_hint={"x": 0, "top": 1})
        self.layout.add_widget(self.header)
        self.wait = Text(rel_size=0.1, bold=True, size_hint=(0.9, 0.17), pos_hint={"center_x": 0.5, "y": 0.62})
        self.layout.add_widget(self.wait)
        self.card = StaffCard(rel_size=0.075, size_hint=(0.72, 0.4), pos_hint={"center_x": 0.5, "y": 0.19})
        self.layout.add_widget(self.card)
        self.hint = Text(rel_size=0.04, color=MUTED, size_hint=(0.9, 0.13), pos_hint={"center_x": 0.5, "y": 0.03})
        self.layout.add_widget(self.hint)
        # right of the staff card, which moves left while the code is shown
        self.qr = QrPanel(size_hint=(0.235, 0.45), pos_hint={"right": 0.985, "y": 0.165})
        self.layout.add_widget(self.qr)
        self.paused = False

    def relabel(self) -> None:
        self.wait.text = self.tr("paused" if self.paused else "welcome")
        self.hint.text = self.tr("paused_hint" if self.paused else "idle_hint")
        self.wait.color = RED if self.paused else INK
        self.qr.caption.text = self.tr("scan_to_rate")

    def show(self, view) -> None:
        self.header.show(view)
        self.header.message.text = view.window.section
        self.app.show_staff(self.card, view)
        url = None if view.paused else self.app.qr_url()
        if url != self.qr.url:
            self.qr.show_url(url)
            self.card.size_hint_x = 0.6 if url else 0.72
            self.card.pos_hint = {"center_x": 0.4 if url else 0.5, "y": 0.19}
        if view.paused != self.paused:
            self.paused = view.paused
            self.relabel()
