"""The hidden technician screens: a PIN pad, then the device's state and chores.

Reached by a 3-second press in the top-left corner (see :mod:`.app`). The PIN
is stored hashed in ``[ui] technician_pin`` (``kiosk hash-pin``); with none
configured the screen refuses to open.
"""

from __future__ import annotations

from kivy.clock import Clock
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from ..levels import LEVELS
from .base import KioskScreen
from .i18n import level_label, tr
from .widgets import (
    BACKGROUND,
    GREEN,
    GREY,
    HEADER,
    INK,
    LEVEL_COLOURS,
    LEVEL_TEXT,
    MUTED,
    RED,
    WHITE,
    BigButton,
    Panel,
    Text,
    rgb,
)

#: Rows shown elsewhere than in the info table (the per-level counts have their own strip).
APART = ("f_ratings",)
#: The side buttons, two columns, in reading order.
ACTIONS = (("test_server", HEADER), ("sync_now", HEADER), ("touch_test", HEADER), ("test_leds", HEADER),
           ("switch_staff", HEADER), ("pause", rgb("#8a4b00")), ("language", GREY), ("close", RED))

PIN_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok")


#: What an upload error means, by a piece of its text (sync/uploader.py): its catalogue key.
SYNC_ERRORS = (("401", "sync_err_token"), ("403", "sync_err_device"), ("413", "sync_err_large"),
               ("busy", "sync_err_busy"), ("certificate", "sync_err_tls"), ("SSL", "sync_err_tls"),
               ("timed out", "sync_err_timeout"), ("Name or service", "sync_err_dns"),
               ("Connection", "sync_err_connect"))


def sync_error_words(error: str | None, language: str) -> str:
    """The last upload error as a technician reads it: what it means, then the raw text."""
    if not error:
        return ""
    for needle, key in SYNC_ERRORS:
        if needle in error:
            return f"{tr(language, key)} ({error[:60]})"
    return error[:100]


class PinScreen(KioskScreen):
    screen_name = "pin"

    def build(self) -> None:
        self.title = Text(rel_size=0.06, bold=True, size_hint=(0.9, 0.12), pos_hint={"center_x": 0.5, "top": 0.98})
        self.dots = Text(rel_size=0.07, size_hint=(0.5, 0.1), pos_hint={"center_x": 0.5, "top": 0.86})
        self.message = Text(rel_size=0.04, color=RED, size_hint=(0.9, 0.08),
                            pos_hint={"center_x": 0.5, "top": 0.76})
        self.pad = GridLayout(cols=3, spacing="8dp", size_hint=(0.42, 0.64), pos_hint={"center_x": 0.5, "y": 0.03})
        self.keys: dict[str, BigButton] = {}
        for key in PIN_KEYS:
            colour = GREY if key == "clear" else (GREEN if key == "ok" else HEADER)
            button = BigButton(colour=colour, rel_size=0.06)
            button.key = key
            button.bind(on_release=self._key)
            self.keys[key] = button
            self.pad.add_widget(button)
        self.cancel = BigButton(colour=GREY, size_hint=(0.2, 0.13), pos_hint={"right": 0.97, "y": 0.03})
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
        band = Panel(bg=HEADER, size_hint=(1, 0.1), pos_hint={"x": 0, "top": 1}, padding=("12dp", "4dp"))
        self.title = Text(rel_size=0.05, bold=True, color=WHITE, halign="left")
        band.add_widget(self.title)
        self.layout.add_widget(band)
        self.info = GridLayout(cols=2, spacing=("10dp", "0dp"), size_hint=(0.6, 0.63),
                               pos_hint={"x": 0.02, "y": 0.26})
        self.layout.add_widget(self.info)
        self.rows: dict[str, tuple[Text, Text]] = {}
        self.levels = BoxLayout(orientation="horizontal", spacing="4dp", size_hint=(0.6, 0.16),
                                pos_hint={"x": 0.02, "y": 0.095})
        self.level_cells: dict = {}
        for level in LEVELS:
            cell = Panel(orientation="vertical", bg=LEVEL_COLOURS[level], padding=("2dp", "2dp"))
            cell.radius = 6
            name = Text(rel_size=0.028, color=LEVEL_TEXT[level], bold=True, size_hint_y=0.6)
            count = Text(rel_size=0.04, color=LEVEL_TEXT[level], bold=True, size_hint_y=0.4)
            cell.add_widget(name)
            cell.add_widget(count)
            self.levels.add_widget(cell)
            self.level_cells[level] = (name, count)
        self.layout.add_widget(self.levels)
        side = GridLayout(cols=2, spacing="6dp", size_hint=(0.35, 0.79), pos_hint={"right": 0.985, "y": 0.095})
        self.actions: dict[str, BigButton] = {}
        for key, colour in ACTIONS:
            button = BigButton(colour=colour, rel_size=0.034)
            button.action = key
            button.bind(on_release=self._action)
            self.actions[key] = button
            side.add_widget(button)
        self.layout.add_widget(side)
        self.message = Text(rel_size=0.032, color=HEADER, bold=True, size_hint=(0.96, 0.09),
                            pos_hint={"center_x": 0.5, "y": 0.01})
        self.layout.add_widget(self.message)
        self.staff_form: StaffForm | None = None
        self.touch_test: TouchTest | None = None

    def relabel(self) -> None:
        self.title.text = self.tr("tech_title")
        for key, button in self.actions.items():
            button.label = self.tr(key)
        self.actions["pause"].label = self.tr("resume" if self._paused() else "pause")
        for level, (name, _count) in self.level_cells.items():
            name.text = level_label(level, self.app.language)
        if self.staff_form is not None:
            self.staff_form.relabel()

    def _paused(self) -> bool:
        view = getattr(self.app, "view", None)
        return bool(view is not None and view.paused)

    def refresh(self) -> None:
        """Re-read the device state into the info table and the per-level counts."""
        rows = [(k, v) for k, v in self.app.technician_info() if k not in APART]
        if list(self.rows) != [k for k, _ in rows]:
            self.info.clear_widgets()
            self.rows = {}
            for key, _ in rows:
                name = Text(rel_size=0.031, color=MUTED, halign="left", size_hint_x=0.34)
                value = Text(rel_size=0.031, color=INK, halign="left", size_hint_x=0.66)
                self.info.add_widget(name)
                self.info.add_widget(value)
                self.rows[key] = (name, value)
        for key, value in rows:
            name_label, value_label = self.rows[key]
            name_label.text = self.tr(key)
            value_label.text = value
        counts = self.app.level_counts()
        for level, (_name, count) in self.level_cells.items():
            count.text = str(counts[level]) if counts is not None else "?"
        self.actions["pause"].label = self.tr("resume" if self._paused() else "pause")

    def _action(self, button) -> None:
        self.run(button.action)

    def run(self, action: str) -> None:
        """Do one of the side buttons' chores and show what came of it."""
        if action == "close":
            self.close_staff_form()
            self.close_touch_test()
            self.app.close_maintenance()
            return
        if action == "switch_staff":
            self.open_staff_form()
            return
        if action == "touch_test":
            self.open_touch_test()
            return
        if action == "test_leds":
            self.message.text = self.app.test_leds()
        elif action == "sync_now":
            self.message.text = self.app.request_sync()
        elif action == "test_server":
            self.message.text = self.tr("testing_server")
            self.app.test_server(self._server_tested)
        elif action == "pause":
            self.message.text = self.app.set_paused(not self._paused())
        elif action == "language":
            self.app.set_language("en" if self.app.language == "zh_CN" else "zh_CN")
        self.refresh()

    def _server_tested(self, text: str) -> None:
        self.message.text = text

    def open_staff_form(self) -> None:
        if self.staff_form is None:
            self.staff_form = StaffForm(self, size_hint=(0.6, 0.5), pos_hint={"x": 0.02, "y": 0.3})
        if self.staff_form.parent is None:
            self.layout.add_widget(self.staff_form)
        self.staff_form.open()

    def close_staff_form(self) -> None:
        if self.staff_form is not None and self.staff_form.parent is not None:
            self.layout.remove_widget(self.staff_form)

    def open_touch_test(self) -> None:
        if self.touch_test is None:
            self.touch_test = TouchTest(self)
        self.touch_test.reset()
        if self.touch_test.parent is None:
            self.add_widget(self.touch_test)

    def close_touch_test(self, message: str = "") -> None:
        if self.touch_test is not None and self.touch_test.parent is not None:
            self.remove_widget(self.touch_test)
            if message:
                self.message.text = message


#: Where the touch test's targets are, as fractions of the screen: the corners and the middle.
TOUCH_TARGETS = ((0.08, 0.1), (0.92, 0.1), (0.5, 0.5), (0.08, 0.9), (0.92, 0.9))


class TouchTest(FloatLayout):
    """Full-screen touch test: five targets to touch, each turns green; the last
    touch's coordinates are shown. Closes by itself when every target answered."""

    def __init__(self, screen: TechnicianScreen, **kwargs):
        super().__init__(size_hint=(1, 1), pos_hint={"x": 0, "y": 0}, **kwargs)
        self.screen = screen
        self.hint = Text(rel_size=0.04, color=INK, size_hint=(0.7, 0.12), pos_hint={"center_x": 0.5, "y": 0.7})
        self.where = Text(rel_size=0.035, color=MUTED, size_hint=(0.6, 0.1), pos_hint={"center_x": 0.5, "y": 0.25})
        self.close = BigButton(colour=GREY, rel_size=0.035, size_hint=(0.2, 0.1), pos_hint={"center_x": 0.5, "y": 0.1})
        self.close.bind(on_release=lambda *_: self.screen.close_touch_test())
        self.targets = [TouchTarget(pos_hint={"center_x": x, "center_y": y}, size_hint=(None, None))
                        for x, y in TOUCH_TARGETS]
        for w in (self.hint, self.where, self.close, *self.targets):
            self.add_widget(w)
        self.bind(pos=self._redraw, size=self._redraw)

    def _redraw(self, *_):
        self.canvas.before.clear()
        with self.canvas.before:
            Color(rgba=BACKGROUND)
            Rectangle(pos=self.pos, size=self.size)
        d = self.height * 0.13
        for target in self.targets:
            target.size = (d, d)

    def reset(self) -> None:
        self.hint.text = self.screen.tr("touch_hint")
        self.close.label = self.screen.tr("close")
        self.where.text = ""
        for target in self.targets:
            target.hit = False

    def on_touch_down(self, touch):
        if self.close.collide_point(*touch.pos):
            return super().on_touch_down(touch)
        self.where.text = self.screen.tr("touch_at", x=int(touch.x), y=int(self.height - touch.y))
        for target in self.targets:
            if target.collide_point(*touch.pos):
                target.hit = True
        if all(t.hit for t in self.targets):
            done = self.screen.tr("touch_done", n=len(self.targets))
            Clock.schedule_once(lambda _dt: self.screen.close_touch_test(done), 0)
        return True


class TouchTarget(Widget):
    """A ring to touch; filled green once touched."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hit = False
        self.bind(pos=self.redraw, size=self.redraw)

    @property
    def hit(self) -> bool:
        return self._hit

    @hit.setter
    def hit(self, value: bool) -> None:
        self._hit = value
        self.redraw()

    def redraw(self, *_):
        self.canvas.clear()
        d = min(self.width, self.height)
        with self.canvas:
            Color(rgba=GREEN if self._hit else HEADER)
            if self._hit:
                Ellipse(pos=self.pos, size=(d, d))
            Line(circle=(self.center_x, self.center_y, d / 2), width=2)


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
        self.ok = BigButton(colour=GREEN)
        self.cancel = BigButton(colour=GREY)
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
