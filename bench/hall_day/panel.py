"""A serial panel on a pty that can be unplugged and plugged back."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from pathlib import Path

from kiosk.hardware.panel_sim import PtyLink


class Panel:
    """The panel side of a serial link; the device's port is a symlink we re-point."""

    def __init__(self, link: Path):
        self.link = link
        self.pty: PtyLink | None = None
        self.lines: queue.Queue = queue.Queue()
        self.plug()

    def plug(self) -> None:
        pty = PtyLink()
        tmp = self.link.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(pty.path, tmp)
        os.replace(tmp, self.link)
        self.pty = pty
        threading.Thread(target=self._read, args=(pty,), daemon=True).start()

    def unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        pty, self.pty = self.pty, None
        if pty is not None:
            pty.close()

    def _read(self, pty: PtyLink) -> None:
        buf = b""
        while self.pty is pty:
            buf += pty.read(1.0)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.put(line.strip().decode("ascii", "replace"))

    def send(self, text: str) -> None:
        if self.pty is None:
            raise OSError("panel unplugged")
        self.pty.write((text + "\n").encode())

    def answer(self, n: int, timeout: float = 10.0) -> str | None:
        """The ACK/NAK for KEY n (PROMPT/IDLE lines are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line.split("*")[0].startswith((f"ACK {n}", f"NAK {n}")):
                return line.split("*")[0]
        return None
