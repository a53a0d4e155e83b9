"""Presses from a terminal: ``kiosk run --console``.

Lines on stdin: ``1``..``5`` press the buttons left to right (1 = 非常满意);
``t [project_no [ticket_no]]`` opens a prompt; ``r CODE…`` submits reasons,
``s`` skips them; ``q`` or end of input stops the device. Each line is answered
on stdout (``ACK 1 …``, ``NAK 2 no_prompt``, ``PROMPT <id>`` …) so scripts and
tests can follow along.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from ..exceptions import BufferWriteError, KioskError
from ..levels import REASON_BY_CODE, Level
from .base import Source

HELP = ("1-5: rate (1 = 非常满意 … 5 = 非常不满意) | t [project_no [ticket_no]]: open a prompt | "
        "r CODE…: reasons | s: skip reasons | q: quit")


class ConsoleSource(Source):
    name = "console"

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None, *,
                 stop_on_eof: bool = True, timeout: float = 10.0):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stop_on_eof = stop_on_eof
        self.timeout = timeout
        self._thread: threading.Thread | None = None
        self._out_lock = threading.Lock()
        self.lines = 0
        self._state = None

    def start(self, device) -> None:
        super().start(device)
        self._thread = threading.Thread(target=self._read, name="console", daemon=True)
        self._thread.start()

    def say(self, text: str) -> None:
        with self._out_lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def on_view(self, view) -> None:
        entering = view.state is not self._state
        self._state = view.state
        self.say(f"STATE {view.state.value}")
        if entering and view.state.value == "reasons" and view.level is not None:
            self.say(reasons_line(view.level, view.offered_reasons))

    def banner(self) -> str:
        """The first line: what to type, the mode and the cooldown."""
        settings = self.device.session.settings
        if settings.mode == "free":
            mode = (f"free mode, cooldown {settings.cooldown_seconds:g} s (a press sooner than that after "
                    "a rating is stored as misuse and answered NAK cooldown)")
        else:
            mode = "transaction mode (t opens a prompt; presses without one are NAK no_prompt)"
        return f"READY {mode} | {HELP}"

    def _read(self) -> None:
        self.say(self.banner())
        for line in self.stdin:
            self.lines += 1
            if not self.handle(line.strip()):
                break
        if self.stop_on_eof:
            self.say("BYE")
            threading.Thread(target=self.device.stop, daemon=True).start()

    def handle(self, line: str) -> bool:
        """Act on one console line; returns False to stop reading."""
        if not line:
            return True
        cmd, *args = line.split()
        try:
            if cmd in ("1", "2", "3", "4", "5"):
                n = int(cmd)
                out = self.device.press(n - 1, self.name).result(self.timeout)
                if out.accepted:
                    self.say(f"ACK {n} {Level.from_position(n - 1).zh} id={out.event['id']}")
                elif out.stored:
                    self.say(f"NAK {n} {out.reason} (stored as misuse) id={out.event['id']}")
                else:
                    self.say(f"NAK {n} {out.reason}" + (f" {out.error}" if out.error else ""))
            elif cmd == "t":
                prompt = self.device.trigger(*(args + [None, None])[:2]).result(self.timeout)
                self.say(f"PROMPT {prompt.id}")
            elif cmd == "r":
                detail = self.device.submit_reasons(args).result(self.timeout)
                self.say(f"REASONS {' '.join(detail['reasons']) if detail else '-'}")
            elif cmd == "s":
                self.device.skip_reasons().result(self.timeout)
                self.say("SKIPPED")
            elif cmd in ("q", "quit", "exit"):
                return False
            elif cmd in ("h", "help", "?"):
                self.say(HELP)
            else:
                self.say(f"ERR unknown command {cmd!r}; {HELP}")
        except (KioskError, BufferWriteError, ValueError) as exc:
            self.say(f"ERR {exc}")
        except TimeoutError:
            self.say("ERR the device did not answer in time")
        return True

    def health(self) -> dict:
        return {"ok": True, "lines": self.lines}


def reasons_line(level: Level, offered: tuple[str, ...] = ()) -> str:
    """``REASONS? 2 不满意: 207 没有提供材料样本 | … (r CODE… to submit, s to skip)``."""
    codes = offered or tuple(r.code for r in level.reasons)
    listed = " | ".join(f"{c} {REASON_BY_CODE[c].zh}" for c in codes)
    return f"REASONS? {level.wire} {level.zh}: {listed} (r CODE… to submit, s to skip)"
