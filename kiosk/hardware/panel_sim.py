"""The panel side of serial protocol v1, for ``kiosk panel-sim``, the tests and the benchmarks.

:class:`PtyLink` is the panel end of a fresh pseudo-terminal (the kiosk opens
its ``path``), :class:`PortLink` the panel end on a real port, and
:class:`PanelSim` sends frames over either and collects the kiosk's answers.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time

PANEL_HELP = """commands (one per line):
  1..5 | key N          press button N (KEY N; 1 = leftmost = 非常满意)
  t [project_no [ticket_no]]   open a prompt (TRIG)
  hb                    heartbeat (HB)
  raw TEXT              send TEXT as it is (to test bad frames)
  expect TEXT           wait up to --timeout s for the kiosk line TEXT (exit 1 if it does not come)
  sleep S               wait S seconds
  q                     quit"""


class PtyLink:
    """The panel end of a fresh pseudo-terminal; the kiosk opens ``path``."""

    def __init__(self):
        import pty
        import tty

        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo or line editing before the kiosk opens it
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read(self, timeout: float) -> bytes:
        import select

        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class PortLink:
    """The panel end on a real port (e.g. a USB-RS485 adapter wired to the kiosk)."""

    def __init__(self, port: str, baudrate: int):
        import serial

        from ..exceptions import HardwareError

        try:
            self.ser = serial.Serial(port, baudrate, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise HardwareError(f"cannot open {port}: {exc} (check the path and the dialout group)") from exc
        self.path = port

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def read(self, timeout: float) -> bytes:
        self.ser.timeout = timeout
        return self.ser.read(self.ser.in_waiting or 1)

    def close(self) -> None:
        self.ser.close()


class PanelSim:
    """The panel: sends frames, prints and queues the kiosk's answers."""

    def __init__(self, link, *, checksum: bool = False, out=None, timeout: float = 5.0):
        self.link = link
        self.checksum = checksum
        self.out = out or sys.stdout
        self.timeout = timeout
        self.received: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="panel-sim", daemon=True)

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _read(self) -> None:
        from .protocol import MAX_LINE

        buf = b""
        while not self._stop.is_set():
            try:
                data = self.link.read(0.1)
            except OSError as exc:
                self.say(f"! port error: {exc}")
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.strip(b"\r").decode("ascii", "replace")
                self.say(f"< {text}")
                self.received.put(text.split("*", 1)[0])
            if len(buf) > 4 * MAX_LINE:
                buf = b""

    def send(self, text: str, *, raw: bool = False) -> None:
        from .protocol import checksum

        if self.checksum and not raw:
            text = f"{text}*{checksum(text)}"
        self.say(f"> {text}")
        self.link.write(text.encode("ascii", "replace") + b"\n")

    def expect(self, text: str, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                got = self.received.get(timeout=left)
            except queue.Empty:
                return False
            if got == text:
                return True

    def command(self, line: str) -> bool:
        """Run one command line; False = stop. Raises ValueError for a bad command."""
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("raw ") else line.strip()
        if not line:
            return True
        cmd, _, rest = line.partition(" ")
        rest = rest.strip()
        if cmd in ("1", "2", "3", "4", "5"):
            self.send(f"KEY {cmd}")
        elif cmd == "key" and rest:
            self.send(f"KEY {rest}")
        elif cmd in ("t", "trig"):
            self.send(("TRIG " + " ".join(rest.split())).strip())
        elif cmd == "hb":
            self.send("HB")
        elif cmd == "raw":
            self.send(rest, raw=True)
        elif cmd == "sleep" and rest:
            time.sleep(float(rest))
        elif cmd == "expect" and rest:
            if not self.expect(" ".join(rest.split())):
                raise TimeoutError(f"expected {rest!r} from the kiosk within {self.timeout:g} s")
            self.say(f"= {rest}")
        elif cmd in ("q", "quit", "exit"):
            return False
        elif cmd in ("h", "help", "?"):
            self.say(PANEL_HELP)
        else:
            raise ValueError(f"unknown command {line!r}")
        return True
