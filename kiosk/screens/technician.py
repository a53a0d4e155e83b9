"""The hidden technician screens: a PIN pad, then the device's state and chores.

Reached by a 3-second press in the top-left corner (see :mod:`.app`). The PIN
is stored hashed in ``[ui] technician_pin`` (``kiosk hash-pin``); with none
configured the screen refuses to open.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from .base import KioskScreen
from .widgets import HEADER, INK, MUTED, WHITE, BigButton, Panel, Text, rgb

PIN_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok")


class PinScreen(KioskScreen):
    screen_name = "pin"

    def build(self) -> None:
        self.title = Text(rel_size=0.06, bold=True, size_hint=(0.9, 0.12), pos_hint={"center_x": 0.5, "top": 0.98})
        self.dots = Text(rel_size=0.07, size_hint=(0.5, 0.1), pos_hint={"center_x": 0.5, "top": 0.86})
        self.message = Text(rel_size=0.04, color=rgb("#c8102e"), size_hint=(0.9, 0.08),
                            pos_hint={"center_x": 0.5, "top": 0.76})
        self.pad = GridLayout(cols=3, spacing="8dp", size_hint=(0.42, 0.64), pos_hint={"center_x": 0.5, "y": 0.03})
        self.keys: dict[str, BigButton] = {}
        for key in PIN_KEYS:
            colour = rgb("#7b8794") if key == "clear" else (rgb("#1e8e3e") if key == "ok" else HEADER)
            button = BigButton(colour=colour, rel_size=0.06)
            button.key = key
            button.bind(on_release=self._key)
            self.keys[key] = button
            self.pad.add_widget(button)
        self.cancel = BigButton(colour=rgb("#7b8794"), size_hint=(0.2, 0.13), pos_hint={"right": 0.97, "y": 0.03})
        self.cancel.bind(on_release=lambda *_: self.app.close_maintenance())
        for w in (self.title, self.dots, self.message, self.pad, self.cancel):
            self.layout.add_widget(w)
        self.digits = ""
        self.enabled = True

    def relabel(self) -> None:
        for key, button in self.keys.items():
            button.label = self.tr(key) if key in ("clear", "ok") else key
        self.cancel.label = self.tr("cancel")
        self.title.text = self.tr("pin_title") if self.enabled else self.tr("pin_not_set")

    def reset(self, enabled: bool, message: str = "") -> None:
        """Start a fresh entry; ``enabled=False`` shows why the screen cannot open."""
        self.enabled = enabled
        self.digits = ""
        self.dots.text = ""
        self.message.text = message
        self.pad.opacity = 1 if enabled else 0
        self.pad.disabled = not enabled
        self.relabel()

    def _key(self, button) -> None:
        self.type(button.key)

    def type(self, key: str) -> None:
        """One key of the pad: a digit, ``clear`` or ``ok``."""
        if not self.enabled:
            return
        if key == "clear":
            self.digits = ""
        elif key == "ok":
            digits, self.digits = self.digits, ""
            self.message.text = self.app.enter_pin(digits) or ""
        elif len(self.digits) < 12:
            self.digits += key
            self.message.text = ""
        self.dots.text = "●" * len(self.digits)


class TechnicianScreen(KioskScreen):
    screen_name = "technician"

    def build(self) -> None:
        band = Panel(bg=HEADER, size_hint=(1, 0.11), pos_hint={"x": 0, "top": 1}, padding=("12dp", "4dp"))
        self.title = Text(rel_size=0.05, bold=True, color=WHITE, halign="left")
        band.add_widget(self.title)
        self.layout.add_widget(band)
        self.info = GridLayout(cols=2, spacing=("10dp", "0dp"), size_hint=(0.64, 0.78),
                               pos_hint={"x": 0.02, "y": 0.1})
        self.layout.add_widget(self.info)
        self.rows: dict[str, tuple[Text, Text]] = {}
        side = BoxLayout(orientation="vertical", spacing="8dp", size_hint=(0.3, 0.78),
                         pos_hint={"right": 0.98, "y": 0.1})
        self.actions: dict[str, BigButton] = {}
        for key, colour in (("test_leds", HEADER), ("sync_now", HEADER), ("switch_staff", HEADER),
                            ("language", rgb("#5b6776")), ("close", rgb("#c8102e"))):
            button = BigButton(colour=colour, rel_size=0.04)
            button.action = key
            button.bind(on_release=self._action)
            self.actions[key] = button
            side.add_widget(button)
        self.layout.add_widget(side)
        self.message = Text(rel_size=0.035, color=HEADER, bold=True, size_hint=(0.96, 0.08),
                            pos_hint={"center_x": 0.5, "y": 0.01})
        self.layout.add_widget(self.message)
        self.staff_form: StaffForm | None = None

    def relabel(self) -> None:
        self.title.text = self.tr("tech_title")
        for key, button in self.actions.items():
            button.label = self.tr(key)
        if self.staff_form is not None:
            self.staff_form.relabel()

    def refresh(self) -> None:
        """Re-read the device state into the info table."""
        rows = self.app.technician_info()
        if list(self.rows) != [k for k, _ in rows]:
            self.info.clear_widgets()
            self.rows = {}
            for key, _ in rows:
                name = Text(rel_size=0.032, color=MUTED, halign="left", size_hint_x=0.36)
                value = Text(rel_size=0.032, color=INK, halign="left", size_hint_x=0.64)
                self.info.add_widget(name)
                self.info.add_widget(value)
                self.rows[key] = (name, value)
        for key, value in rows:
            name_label, value_label = self.rows[key]
            name_label.text = self.tr(key)
            value_label.text = value

    def _action(self, button) -> None:
        self.run(button.action)

    def run(self, action: str) -> None:
        """Do one of the side buttons' chores and show what came of it."""
        if action == "close":
            self.close_staff_form()
            self.app.close_maintenance()
            return
        if action == "switch_staff":
            self.open_staff_form()
            return
        if action == "test_leds":
            self.message.text = self.app.test_leds()
        elif action == "sync_now":
            self.message.text = self.app.request_sync()
        elif action == "language":
            self.app.set_language("en" if self.app.language == "zh_CN" else "zh_CN")
        self.refresh()

    def open_staff_form(self) -> None:
        if self.staff_form is None:
            self.staff_form = StaffForm(self, size_hint=(0.64, 0.5), pos_hint={"x": 0.02, "y": 0.3})
        if self.staff_form.parent is None:
            self.layout.add_widget(self.staff_form)
        self.staff_form.open()

    def close_staff_form(self) -> None:
        if self.staff_form is not None and self.staff_form.parent is not None:
            self.layout.remove_widget(self.staff_form)


class StaffForm(Panel):
    """工号 and 姓名 inputs for switching the staff member on duty."""

    def __init__(self, screen: TechnicianScreen, **kwargs):
        from kivy.uix.textinput import (
            TextInput,  # creates the window: import only once it exists
        )

        super().__init__(orientation="vertical", bg=rgb("#e3e9f1"), padding="12dp", spacing="8dp", **kwargs)
        self.radius = 12
        self.screen = screen
        self.labels = []
        self.inputs = {}
        for key in ("staff_no_input", "staff_name_input"):
            row = BoxLayout(orientation="horizontal", spacing="8dp")
            label = Text(rel_size=0.04, size_hint_x=0.3, halign="left")
            field = TextInput(multiline=False, font_size="20sp", write_tab=False)
            row.add_widget(label)
            row.add_widget(field)
            self.labels.append((key, label))
            self.inputs[key] = field
            self.add_widget(row)
        buttons = BoxLayout(orientation="horizontal", spacing="8dp")
        self.ok = BigButton(colour=rgb("#1e8e3e"))
        self.cancel = BigButton(colour=rgb("#7b8794"))
        self.ok.bind(on_release=lambda *_: self.submit())
        self.cancel.bind(on_release=lambda *_: self.screen.close_staff_form())
        buttons.add_widget(self.cancel)
        buttons.add_widget(self.ok)
        self.add_widget(buttons)
        self.relabel()

    def relabel(self) -> None:
        for key, label in self.labels:
            label.text = self.screen.tr(key)
        self.ok.label = self.screen.tr("ok")
        self.cancel.label = self.screen.tr("cancel")

    def open(self) -> None:
        view = self.screen.app.view
        self.inputs["staff_no_input"].text = view.window.staff_no if view else ""
        self.inputs["staff_name_input"].text = view.window.staff_name if view else ""

    def submit(self) -> None:
        no = self.inputs["staff_no_input"].text.strip()
        name = self.inputs["staff_name_input"].text.strip()
        if not no:
            self.screen.message.text = self.screen.tr("staff_no_required")
            return
        self.screen.message.text = self.screen.app.switch_staff(no, name)
        self.screen.close_staff_form()
        self.screen.refresh()
