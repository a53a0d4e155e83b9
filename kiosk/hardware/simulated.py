"""A scriptable button source for demos and tests (``[hardware.simulated]``).

Code drives it like a panel: ``press(n)`` (n = 1..5, left → right),
``trigger(project_no, ticket_no)``, or ``run_script(lines)`` with the console's
words (``1``..``5``, ``t [project_no [ticket_no]]``, ``sleep S``). It keeps
what the device told it (outcomes and views) so a demo or a test can follow.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from ..exceptions import HardwareError
from .base import Source

KEEP = 1000


class SimulatedSource(Source):
    """Presses and triggers made by code, through the same path as a panel's."""

    name = "simulated"

    def __init__(self, cfg=None, *, sleep: Callable[[float], None] = time.sleep, timeout: float = 10.0):
        self.sleep = sleep
        self.timeout = timeout
        self.device = None
        self.outcomes: deque = deque(maxlen=KEEP)
        self.views: deque = deque(maxlen=KEEP)
        self.presses = 0
        self.triggers = 0
        self._lock = threading.Lock()

    def _need_device(self):
        if self.device is None:
            raise HardwareError("the simulated panel is not started (add it to a device and start it)")
        return self.device

    def press(self, n: int) -> Future:
        """Press button ``n`` (1 = leftmost = 非常满意 … 5 = 非常不满意); Future[Outcome]."""
        if not 1 <= int(n) <= 5:
            raise ValueError(f"button number must be 1..5, got {n!r}")
        device = self._need_device()
        with self._lock:
            self.presses += 1
        return device.press(int(n) - 1, self.name)

    def trigger(self, project_no: str | None = None, ticket_no: str | None = None,
                staff_no: str | None = None) -> Future:
        """Open a prompt, as a staff trigger or a queue system would; Future[Prompt]."""
        device = self._need_device()
        with self._lock:
            self.triggers += 1
        return device.trigger(project_no, ticket_no, staff_no)

    def run_script(self, lines: Iterable[str]) -> list[Any]:
        """Run console-style lines; returns each press's Outcome / each trigger's Prompt.

        Blank lines and ``#`` comments are skipped; ``sleep S`` waits.
        """
        results: list[Any] = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            cmd, *args = line.split()
            if cmd in ("1", "2", "3", "4", "5"):
                results.append(self.press(int(cmd)).result(self.timeout))
            elif cmd == "t":
                results.append(self.trigger(*(args + [None, None])[:2]).result(self.timeout))
            elif cmd == "sleep" and len(args) == 1:
                self.sleep(float(args[0]))
            else:
                raise ValueError(f"unknown simulated panel command {line!r}: expected 1..5, 't [project_no "
                                 f"[ticket_no]]' or 'sleep S'")
        return results

    def on_outcome(self, outcome) -> None:
        self.outcomes.append(outcome)

    def on_view(self, view) -> None:
        self.views.append(view)

    def health(self) -> dict[str, Any]:
        return {"ok": True, "presses": self.presses, "triggers": self.triggers}
