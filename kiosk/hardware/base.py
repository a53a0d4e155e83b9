"""The one interface every button source implements.

A source turns its input (pins, a serial line, stdin, a script) into calls on
the device: ``device.press(position, source=name)`` and
``device.trigger(project_no, ticket_no)``. Both may be called from any thread;
they return a :class:`concurrent.futures.Future` resolved on the session's
thread with the :class:`~kiosk.session.Outcome` (or the prompt).

Feedback flows back through two callbacks, always called on the session's
thread and never allowed to block for long:

* ``on_outcome(outcome)`` for every press from ANY source (an LED lights the
  chosen level; a panel sends ``ACK``/``NAK`` for its own presses);
* ``on_view(view)`` on every session change (``PROMPT``/``IDLE``, a pulse
  while a prompt is open, the screen).

``health()`` returns a small JSON-able dict (connected, stuck buttons, bad
frames …) that goes into ``kiosk status`` and the heartbeat.
"""

from __future__ import annotations

from typing import Any


class Source:
    """Base class of button sources. Subclasses override what they need."""

    #: The ``source`` value stored on the rating events this source makes.
    name = "simulated"

    def start(self, device) -> None:
        """Begin delivering input to ``device`` (threads, ports, pins)."""
        self.device = device

    def stop(self) -> None:
        """Release ports, pins and threads. Must be safe to call twice."""

    def on_outcome(self, outcome) -> None:
        """Feedback for a press (from this or another source)."""

    def on_view(self, view) -> None:
        """The session changed state."""

    def health(self) -> dict[str, Any]:
        return {"ok": True}
