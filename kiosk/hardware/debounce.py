"""Debouncing and stuck-button detection for one input line, as plain logic.

Pin backends differ in how (and whether) they debounce, and gpiozero's mock
pins ignore ``bounce_time`` altogether, so the kiosk debounces itself. The
:class:`Debouncer` knows nothing of pins or threads: it is fed raw edges with
their timestamps and asked what happened up to a given time; time is always
passed in, never read.

Rules:

* A level counts only once the line has held it for ``debounce`` seconds
  without a further edge. Contact bounce (edges a few milliseconds apart)
  and short glitches therefore never make a press; a press is reported
  ``debounce`` seconds after the last bounce of the closing contact, with
  the time it was confirmed.
* A button held for ``stuck`` seconds (counted from its first closing edge)
  is a fault: a ``stuck`` event is reported, and the button makes no press
  until it has been released (for ``debounce`` seconds); then ``unstuck``.
* A button that is already closed when watching starts is not a press
  (a jammed key or a wrong ``active_low`` at boot must not rate); it becomes
  ``stuck`` after ``stuck`` seconds unless released earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EPSILON = 1e-9  # seconds: a poll at exactly a deadline counts despite float rounding

PRESS = "press"
RELEASE = "release"
STUCK = "stuck"
UNSTUCK = "unstuck"


@dataclass(frozen=True)
class ButtonEvent:
    """Something that happened to a debounced button, at monotonic time ``t``."""

    kind: str  # press | release | stuck | unstuck
    t: float


class Debouncer:
    """One button line. ``edge()`` takes raw changes; ``poll()`` advances time.

    Both return the :class:`ButtonEvent` list that became certain up to ``t``.
    Timestamps must not go backwards.
    """

    def __init__(self, debounce: float, stuck: float, *, pressed: bool = False, t: float = 0.0):
        if debounce < 0:
            raise ValueError(f"debounce must be 0 or more seconds, got {debounce!r}")
        if stuck <= debounce:
            raise ValueError(f"stuck ({stuck!r} s) must be longer than debounce ({debounce!r} s)")
        self.debounce = float(debounce)
        self.stuck_after = float(stuck)
        self.raw = bool(pressed)
        self.raw_since = float(t)
        self.pressed = bool(pressed)          # the debounced level
        self.held_since: float | None = float(t) if pressed else None
        self.stuck = False
        self._press_allowed = not pressed     # held at start: no press until released
        self.presses = 0
        self.edges = 0
        self._now = float(t)

    def edge(self, pressed: bool, t: float) -> list[ButtonEvent]:
        """The raw line changed to ``pressed`` at time ``t``."""
        out = self.poll(t)
        pressed = bool(pressed)
        self.edges += 1
        if pressed == self.raw:
            return out  # a repeated report of the same level
        self.raw = pressed
        self.raw_since = t
        if pressed and not self.pressed:
            self.held_since = t
        return out

    def poll(self, t: float) -> list[ButtonEvent]:
        """Everything that became certain by time ``t`` (call when :meth:`deadline` passes)."""
        t = max(t, self._now)
        self._now = t
        out: list[ButtonEvent] = []
        if self.raw != self.pressed and t - self.raw_since >= self.debounce - EPSILON:
            at = self.raw_since + self.debounce
            self.pressed = self.raw
            if self.pressed:
                if self._press_allowed and not self.stuck:
                    self.presses += 1
                    out.append(ButtonEvent(PRESS, at))
            else:
                self.held_since = None
                self._press_allowed = True
                if self.stuck:
                    self.stuck = False
                    out.append(ButtonEvent(UNSTUCK, at))
                out.append(ButtonEvent(RELEASE, at))
        if (self.raw and not self.stuck and self.held_since is not None
                and t - self.held_since >= self.stuck_after - EPSILON):
            self.stuck = True
            out.append(ButtonEvent(STUCK, self.held_since + self.stuck_after))
        return out

    def deadline(self) -> float | None:
        """The next time :meth:`poll` may have something to report, or None."""
        times = []
        if self.raw != self.pressed:
            times.append(self.raw_since + self.debounce)
        if self.raw and not self.stuck and self.held_since is not None:
            times.append(self.held_since + self.stuck_after)
        return min(times) if times else None


def debounce_edges(edges: Iterable[tuple[float, bool]], debounce: float, stuck: float, *,
                   until: float | None = None, pressed: bool = False) -> list[ButtonEvent]:
    """Run a recorded edge sequence ``[(t, pressed), …]`` through a :class:`Debouncer`.

    ``until`` is the time to advance to after the last edge (default: long
    enough for the last level to settle, but not to become stuck).
    """
    edges = list(edges)
    start = edges[0][0] if edges else 0.0
    d = Debouncer(debounce, stuck, pressed=pressed, t=start)
    out: list[ButtonEvent] = []
    for t, level in edges:
        out += d.edge(level, t)
    end = until if until is not None else (edges[-1][0] if edges else start) + debounce
    out += d.poll(end)
    return out
