"""Widgets shared by the screens: coloured panels, the rating buttons with a
face drawn on the canvas, the staff card, toggle chips and plain big buttons.

No images are needed: faces and the photo placeholder are drawn with Kivy
canvas instructions, so they stay sharp at any screen size.
"""

from __future__ import annotations

import os

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior, ToggleButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from ..levels import LEVELS, Level


def rgb(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


def darker(colour, factor: float = 0.75) -> tuple[float, float, float, float]:
    r, g, b, a = colour
    return (r * factor, g * factor, b * factor, a)


BACKGROUND = rgb("#f4f6f9")
HEADER = rgb("#0b4f8a")
INK = rgb("#1d2733")
MUTED = rgb("#5b6776")
WHITE = (1, 1, 1, 1)
#: Secondary buttons (skip, clear, cancel): white text at 5.4:1.
GREY = rgb("#5f6b78")
#: Alarm red (wrong PIN, close): 6.8:1 with white, 6.3:1 on the background.
RED = rgb("#b5122e")
#: Good / confirm green (OK): the colour of 非常满意.
GREEN = rgb("#1b7a36")

#: Button colours, green (非常满意) → red (非常不满意). Each meets WCAG AA
#: (4.5:1) with its label colour in LEVEL_TEXT (tests/ui/test_contrast.py).
LEVEL_COLOURS: dict[Level, tuple[float, float, float, float]] = {
    Level.VERY_SATISFIED: GREEN,
    Level.SATISFIED: rgb("#3f7f1c"),
    Level.BASIC: rgb("#f2b600"),
    Level.DISSATISFIED: rgb("#bf4e00"),
    Level.VERY_DISSATISFIED: RED,
}
#: The label colour on each level's colour: white, dark ink on the amber of 基本满意.
LEVEL_TEXT: dict[Level, tuple[float, float, float, float]] = {
    level: INK if level is Level.BASIC else WHITE for level in LEVELS}
#: Each level's colour as text on the light background (titles): amber is too light for that.
LEVEL_INK: dict[Level, tuple[float, float, float, float]] = {
    **LEVEL_COLOURS, Level.BASIC: rgb("#7a4f00")}
#: The face's mood, +2 (big smile) … -2 (big frown).
LEVEL_MOODS: dict[Level, int] = {level: 2 - i for i, level in enumerate(LEVELS)}


def mix(colour, other, amount: float) -> tuple[float, float, float, float]:
    """``colour`` moved ``amount`` (0..1) of the way towards ``other``."""
    return tuple(a + (b - a) * amount for a, b in zip(colour[:3], other[:3])) + (colour[3],)


class Panel(BoxLayout):
    """A box layout with a flat or rounded background colour."""

    bg = ColorProperty((0, 0, 0, 0))
    radius = NumericProperty(0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.canvas.before:
            self._bg_colour = Color(rgba=self.bg)
            self._bg_shape = RoundedRectangle(pos=self.pos, size=self.size, radius=[self.radius])
        self.bind(pos=self._redraw_bg, size=self._redraw_bg, bg=self._redraw_bg, radius=self._redraw_bg)

    def _redraw_bg(self, *_):
        self._bg_colour.rgba = self.bg
        self._bg_shape.pos = self.pos
        self._bg_shape.size = self.size
        self._bg_shape.radius = [self.radius]


class Text(Label):
    """A label that wraps inside its own box and scales its font with the screen.

    ``rel_size`` is the font size as a fraction of the window height, so one
    layout serves 800x480 and 1024x600 alike. When the text does not fit its
    box at that size, the font shrinks until it does: text is never cut off.
    """

    rel_size = NumericProperty(0.05)
    #: The size asked for (before shrinking); ``font_size`` is what fits.
    wanted_size = NumericProperty(0)
    #: A ceiling in pixels (0 = none): lets a line stay no larger than another.
    max_size = NumericProperty(0)

    MIN_SIZE = 9

    def __init__(self, **kwargs):
        kwargs.setdefault("color", INK)
        kwargs.setdefault("halign", "center")
        kwargs.setdefault("valign", "middle")
        super().__init__(**kwargs)
        self._refit = Clock.create_trigger(self._fit, -1)
        self.bind(size=self._refit, rel_size=self._refit, text=self._refit, max_size=self._refit)

    def _fit(self, *_):
        from kivy.core.window import Window
        w, h = max(1, self.width), max(1, self.height)
        # Wrap at the box's width; the label centres its texture in the box, so
        # the texture is only as tall as the text (not a mostly empty box).
        self.text_size = (w, None)
        # Whole pixel sizes only: the text renderer opens (and keeps) one font
        # object per distinct size, so fractional sizes would cost time and memory.
        size = max(self.MIN_SIZE, round(Window.height * self.rel_size))
        if self.max_size:
            size = max(self.MIN_SIZE, min(size, int(self.max_size)))
        self.wanted_size = size
        if self.text and w > 1 and h > 1:
            for _attempt in range(12):
                fits, scale = self._measure(size, w, h)
                if fits or size <= self.MIN_SIZE:
                    break
                size = max(self.MIN_SIZE, min(size - 1, int(size * min(0.93, scale))))
        self.font_size = size

    def _measure(self, size: float, w: float, h: float) -> tuple[bool, float]:
        """Whether the text fits at ``size``, and a guess of the scale that would fit."""
        probe = CoreLabel(text=self.text, font_size=size, font_name=self.font_name, bold=self.bold,
                          text_size=(w, None), halign=self.halign, padding=self.padding)
        probe.resolve_font_name()
        probe.render()  # lays the text out without drawing a texture
        tw, th = probe._internal_size
        fits = tw <= w + 0.5 and th <= h + 0.5 and not _broken_word(probe, self.text)
        return fits, (h / th) ** 0.5 if th > h else 1.0

    def _fits(self, size: float, w: float, h: float) -> bool:
        return self._measure(size, w, h)[0]

    def overflows(self) -> bool:
        """Whether the text at its current size does not fit its box (for tests)."""
        return bool(self.text) and not self._fits(self.font_size, max(1, self.width), max(1, self.height))


def _broken_word(probe, text: str) -> bool:
    """Whether a latin word is wider than the box (wrapping would split it)."""
    width = probe.text_size[0]
    return any(word.isascii() and probe.get_extents(word)[0] > width for word in text.split())


class FaceIcon(Widget):
    """A round face whose mouth and brows show the mood (+2 … -2)."""

    mood = NumericProperty(0)
    ink = ColorProperty(INK)
    face = ColorProperty(WHITE)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bind(pos=self.redraw, size=self.redraw, mood=self.redraw, ink=self.redraw, face=self.redraw)
        self.redraw()

    def redraw(self, *_):
        self.canvas.clear()
        d = min(self.width, self.height)
        if d <= 2:
            return
        cx, cy = self.x + self.width / 2, self.y + self.height / 2
        m = self.mood
        with self.canvas:
            Color(rgba=self.face)
            Ellipse(pos=(cx - d / 2, cy - d / 2), size=(d, d))
            Color(rgba=self.ink)
            eye = d * 0.13
            for sx in (-1, 1):
                Ellipse(pos=(cx + sx * d * 0.19 - eye / 2, cy + d * 0.1 - eye / 2), size=(eye, eye))
            width = max(1.2, d * 0.045)
            if m <= -2:
                for sx in (-1, 1):
                    Line(points=[cx + sx * d * 0.3, cy + d * 0.3, cx + sx * d * 0.09, cy + d * 0.22],
                         width=width, cap="round")
            # mouth: a quadratic curve; positive mood bends it into a smile
            c = d * 0.11 * m / 2
            half = d * (0.25 if abs(m) == 2 else 0.2)
            ym = cy - d * 0.2
            p0, p1, p2 = (cx - half, ym + c / 2), (cx, ym - 1.5 * c), (cx + half, ym + c / 2)
            pts = []
            for i in range(17):
                t = i / 16
                pts += [(1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t * t * p2[0],
                        (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t * t * p2[1]]
            Line(points=pts, width=width, cap="round")


class RatingButton(ButtonBehavior, Panel):
    """One of the five rating buttons: colour, face and label.

    ``ready = False`` (free mode, during the cooldown) shows the button pale
    and makes it take no touch at all: a tap that would only be stored as
    misuse cannot be made by mistake.
    """

    position = NumericProperty(0)
    label = StringProperty("")
    ready = BooleanProperty(True)

    def __init__(self, level: Level, **kwargs):
        self.level = level
        colour = LEVEL_COLOURS[level]
        super().__init__(orientation="vertical", bg=colour, radius=14, padding=("6dp", "10dp"),
                         spacing="4dp", **kwargs)
        self.position = level.position
        self._colour = colour
        self.face = FaceIcon(mood=LEVEL_MOODS[level], ink=darker(colour, 0.55), size_hint_y=0.62)
        self.text = Text(text=self.label, color=LEVEL_TEXT[level], bold=True, rel_size=0.052, size_hint_y=0.38)
        self.add_widget(self.face)
        self.add_widget(self.text)
        self.bind(label=lambda *_: setattr(self.text, "text", self.label), state=self._restyle,
                  ready=self._restyle)

    def _restyle(self, *_):
        self.disabled = not self.ready
        if not self.ready:
            self.bg = mix(self._colour, BACKGROUND, 0.78)
            self.face.ink = mix(self._colour, BACKGROUND, 0.45)
            self.face.face = WHITE
            self.text.color = self.text.disabled_color = MUTED
        else:
            self.bg = darker(self._colour, 0.8) if self.state == "down" else self._colour
            self.face.ink = darker(self._colour, 0.55)
            self.face.face = WHITE
            self.text.color = LEVEL_TEXT[self.level]


class BigButton(ButtonBehavior, Panel):
    """A plain large button with a text."""

    label = StringProperty("")
    colour = ColorProperty(HEADER)
    text_colour = ColorProperty(WHITE)
    rel_size = NumericProperty(0.045)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.radius = 10
        self.bg = self.colour
        self.text = Text(text=self.label, color=self.text_colour, rel_size=self.rel_size, bold=True)
        self.add_widget(self.text)
        self.bind(label=lambda *_: setattr(self.text, "text", self.label),
                  state=lambda *_: setattr(self, "bg", darker(self.colour, 0.8) if self.state == "down"
                                           else self.colour),
                  colour=lambda *_: setattr(self, "bg", self.colour),
                  text_colour=lambda *_: setattr(self.text, "color", self.text_colour))


class Chip(ToggleButtonBehavior, Panel):
    """A large toggle chip for one reason; a selected chip is filled and shows a ✓.

    The check mark is drawn (not a font glyph), so it shows with any font.
    """

    code = StringProperty("")
    label = StringProperty("")
    selected = BooleanProperty(False)

    def __init__(self, code: str, label: str, accent, text_colour=WHITE, **kwargs):
        self.accent = accent
        self.text_colour = text_colour
        super().__init__(code=code, label=label, padding=("8dp", "4dp"), spacing="6dp", **kwargs)
        self.radius = 12
        self.mark = CheckMark(size_hint_x=None, width=0, ink=accent, disc=text_colour)
        self.text = Text(text=label, rel_size=0.04)
        self.add_widget(self.mark)
        self.add_widget(self.text)
        self.bind(state=self._restyle, label=lambda *_: setattr(self.text, "text", self.label),
                  height=self._restyle)
        self._restyle()

    def _restyle(self, *_):
        self.selected = self.state == "down"
        self.bg = self.accent if self.selected else WHITE
        self.text.color = self.text_colour if self.selected else INK
        self.mark.width = self.height * 0.5 if self.selected else 0
        self.mark.opacity = 1 if self.selected else 0

    def _redraw_bg(self, *_):
        super()._redraw_bg()
        if not hasattr(self, "_outline"):
            with self.canvas.before:
                self._outline_colour = Color(rgba=self.accent)
                self._outline = Line(rounded_rectangle=(*self.pos, *self.size, self.radius), width=1.5)
        self._outline.rounded_rectangle = (*self.pos, max(1, self.width), max(1, self.height), self.radius)


class CheckMark(Widget):
    """A ✓ in a disc, drawn with lines."""

    ink = ColorProperty(INK)
    disc = ColorProperty(WHITE)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bind(pos=self.redraw, size=self.redraw, ink=self.redraw, disc=self.redraw)

    def redraw(self, *_):
        self.canvas.clear()
        d = min(self.width, self.height)
        if d <= 4:
            return
        cx, cy = self.x + self.width / 2, self.y + self.height / 2
        with self.canvas:
            Color(rgba=self.disc)
            Ellipse(pos=(cx - d / 2, cy - d / 2), size=(d, d))
            Color(rgba=self.ink)
            Line(points=[cx - d * 0.26, cy + d * 0.02, cx - d * 0.07, cy - d * 0.2, cx + d * 0.27, cy + d * 0.2],
                 width=max(1.5, d * 0.09), cap="round", joint="round")


class PhotoPlaceholder(Widget):
    """A neat silhouette in a circle, shown when there is no staff photo."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bind(pos=self.redraw, size=self.redraw)

    def redraw(self, *_):
        self.canvas.clear()
        d = min(self.width, self.height)
        if d <= 2:
            return
        cx, cy = self.x + self.width / 2, self.y + self.height / 2
        with self.canvas:
            Color(rgba=rgb("#d7dee8"))
            Ellipse(pos=(cx - d / 2, cy - d / 2), size=(d, d))
            Color(rgba=rgb("#8a97a8"))
            head = d * 0.36
            Ellipse(pos=(cx - head / 2, cy + d * 0.02), size=(head, head))
            Ellipse(pos=(cx - d * 0.32, cy - d * 0.42), size=(d * 0.64, d * 0.44), angle_start=-90, angle_end=90)


class StaffCard(Panel):
    """Photo (or a placeholder), name and 工号 of the staff member on duty.

    Name and 工号 are drawn at the same size; a long name wraps onto a second
    line inside the card and shrinks only as far as the card needs.
    """

    def __init__(self, rel_size: float = 0.05, **kwargs):
        super().__init__(orientation="horizontal", spacing="8dp", padding="6dp", bg=WHITE, **kwargs)
        self.radius = 10
        self.photo_box = BoxLayout(size_hint_x=None)
        self.bind(height=lambda *_: setattr(self.photo_box, "width", self.height * 0.8))
        self.add_widget(self.photo_box)
        texts = BoxLayout(orientation="vertical")
        self.name_label = Text(rel_size=rel_size, bold=True, halign="left", size_hint_y=0.6)
        self.no_label = Text(rel_size=rel_size, color=MUTED, bold=True, halign="left", size_hint_y=0.4)
        texts.add_widget(self.name_label)
        texts.add_widget(self.no_label)
        self.add_widget(texts)
        self._photo_path: str | None = "unset"

    def show(self, name: str, no_text: str, photo: str | None) -> None:
        # A long name with a middle dot (欧阳木合塔尔·买买提) breaks there, not mid-name.
        self.name_label.text = name.replace("·", "·\n", 1) if "·" in name and len(name) > 6 else name
        self.no_label.text = no_text
        if photo != self._photo_path:
            self._photo_path = photo
            self.photo_box.clear_widgets()
            if photo and os.path.isfile(photo):
                self.photo_box.add_widget(Image(source=photo, fit_mode="contain"))
            else:
                self.photo_box.add_widget(PhotoPlaceholder())


class Background(Widget):
    """A full-screen flat colour."""

    colour = ColorProperty(BACKGROUND)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.canvas.before:
            self._c = Color(rgba=self.colour)
            self._r = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._redraw, size=self._redraw, colour=self._redraw)

    def _redraw(self, *_):
        self._c.rgba = self.colour
        self._r.pos = self.pos
        self._r.size = self.size
