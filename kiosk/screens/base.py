"""What every screen has: the app, its language and a background."""

from __future__ import annotations

from kivy.uix.floatlayout import FloatLayout

from .i18n import tr
from .widgets import BACKGROUND, Background


class KioskScreen(FloatLayout):
    """A screen that shows a session :class:`~kiosk.session.View`.

    Subclasses build their widgets in :meth:`build` (into ``self.layout``),
    set their texts in :meth:`relabel` and follow the session in :meth:`show`.
    """

    screen_name = ""
    background = BACKGROUND

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.name = self.screen_name
        self.app = app
        self.layout = FloatLayout()
        self.layout.add_widget(Background(colour=self.background, size_hint=(1, 1), pos_hint={"x": 0, "y": 0}))
        self.add_widget(self.layout)
        self.build()
        self.relabel()

    def tr(self, key: str, **values) -> str:
        return tr(self.app.language, key, **values)

    def build(self) -> None:
        """Create the widgets."""

    def relabel(self) -> None:
        """Set every text in the current language."""

    def show(self, view) -> None:
        """Follow a new session view."""

    def tick(self, view) -> None:
        """Called about ten times a second while shown (countdowns)."""


def park(widget) -> None:
    """Keep ``widget`` laid out but out of sight and out of reach (right of the screen).

    Swapping a parked widget in only moves it: nothing is re-rendered, so the
    next frame comes at once.
    """
    if not hasattr(widget, "home_hint"):
        widget.home_hint = dict(widget.pos_hint)
    vertical = {k: v for k, v in widget.home_hint.items() if k in ("y", "center_y", "top")}
    widget.pos_hint = {"x": 1.5, **vertical}
    widget.opacity = 0


def unpark(widget) -> None:
    """Bring a parked widget back to where it was made to be."""
    if hasattr(widget, "home_hint"):
        widget.pos_hint = dict(widget.home_hint)
    widget.opacity = 1


def countdown(seconds_left: float | None) -> int | None:
    """Whole seconds to show for a deadline (rounded up, so 0 appears only at the end)."""
    if seconds_left is None:
        return None
    whole = int(seconds_left)
    return whole + (1 if seconds_left > whole else 0)
