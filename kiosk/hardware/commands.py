"""``kiosk panel-sim`` and ``kiosk hw-test``: tools for technicians and tests.

* ``panel-sim`` plays the panel side of serial protocol v1 on a fresh pty (it
  prints the path to put in ``[hardware.serial] port``) or on a given port.
  It reads commands interactively or from ``--script``, sends the frames and
  prints every line the kiosk answers.
* ``hw-test`` opens the panels the config enables and shows each press live
  WITHOUT storing ratings; it cycles the LEDs and reports the serial link
  state and bad frames. Stop the kiosk service first: the port and the pins
  can only have one user.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import Future

from .panel_sim import PANEL_HELP, PanelSim, PortLink, PtyLink


def register(sub) -> None:
    p = sub.add_parser(
        "panel-sim", help="simulate a serial button panel (protocol v1) on a pty or a port",
        description="Play the panel side of the serial protocol. Without --port a fresh pseudo-terminal "
                    "is created and its path printed (first line 'PORT <path>'): put it in "
                    "[hardware.serial] port. Lines sent are shown as '> …', lines the kiosk answers as '< …'.\n\n"
                    + PANEL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", metavar="P", help="use this serial port instead of a new pty")
    p.add_argument("--script", metavar="FILE", help="read commands from FILE ('-' = stdin) instead of interactively")
    p.add_argument("--baudrate", metavar="N", type=int, default=9600, help="baud rate for --port (default 9600)")
    p.add_argument("--checksum", action="store_true", help="append the *HH checksum to every frame sent")
    p.add_argument("--timeout", metavar="S", type=float, default=5.0, help="how long 'expect' waits (default 5)")
    p.add_argument("--linger", metavar="S", type=float, default=0.5,
                   help="after the last command, keep printing answers for S seconds (default 0.5)")
    p.set_defaults(func=cmd_panel_sim)

    p = sub.add_parser(
        "hw-test", help="test the button panels: live presses, LEDs, serial link (stores nothing)",
        description="For technicians at the window: opens the GPIO and serial panels the config enables, "
                    "cycles the LEDs, then shows every press and trigger live and the serial link state "
                    "and bad frames. Nothing is stored; a serial panel gets ACK for every KEY so its own "
                    "feedback can be checked. Stop the kiosk service first.")
    p.add_argument("--config", metavar="P", help="config file (default $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    p.add_argument("--seconds", metavar="N", type=float, default=0.0,
                   help="stop after N seconds (default: run until Ctrl-C)")
    p.add_argument("--led-seconds", metavar="S", type=float, default=0.3,
                   help="how long each LED stays lit in the LED cycle (default 0.3)")
    p.set_defaults(func=cmd_hw_test)


# --- panel-sim -------------------------------------------------------------------


def cmd_panel_sim(args: argparse.Namespace) -> int:
    link = PortLink(args.port, args.baudrate) if args.port else PtyLink()
    sim = PanelSim(link, checksum=args.checksum, timeout=args.timeout)
    sim.say(f"PORT {link.path}")
    if not args.port:
        print(f'put  port = "{link.path}"  in [hardware.serial] of the kiosk config', file=sys.stderr)
    interactive = args.script is None and sys.stdin.isatty()
    if args.script in (None, "-"):
        lines = sys.stdin
    else:
        lines = open(args.script, encoding="utf-8")  # noqa: SIM115 - closed below
    if interactive:
        print(PANEL_HELP, file=sys.stderr)
    sim.start()
    code = 0
    try:
        for line in lines:
            try:
                if not sim.command(line):
                    break
            except TimeoutError as exc:
                sim.say(f"! {exc}")
                code = 1
                if not interactive:
                    break
            except ValueError as exc:
                sim.say(f"! {exc}")
                if not interactive:
                    code = 2
                    break
        time.sleep(max(0.0, args.linger))
    except KeyboardInterrupt:
        pass
    finally:
        if lines is not sys.stdin:
            lines.close()
        sim.stop()
        link.close()
    return code


# --- hw-test ---------------------------------------------------------------------


class _Bench:
    """Stands in for the device during hw-test: shows presses, stores nothing.

    Every press is answered as if it had been stored (so LEDs light and a
    serial panel gets ACK), every trigger opens a pretend prompt.
    """

    def __init__(self, cfg, out):
        from ..events import Window

        self.cfg = cfg
        self.out = out
        self.sources: list = []
        self.window = Window(window_no=cfg.device.window, section=cfg.device.section,
                             staff_no=cfg.staff.no, staff_name=cfg.staff.name, channel=cfg.device.channel)
        self.prompt = None
        self.lock = threading.RLock()
        self.presses = 0

    def say(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _broadcast(self, method: str, arg) -> None:
        for source in self.sources:
            fn = getattr(source, method, None)
            if fn is not None:
                try:
                    fn(arg)
                except Exception as exc:  # noqa: BLE001 - a broken LED must not end the test
                    self.say(f"! {source.name} {method} failed: {exc}")

    def _view(self, state):
        from ..session import View

        return View(state=state, mode=self.cfg.ui.mode, window=self.window, prompt=self.prompt)

    def press(self, position: int, source: str) -> Future:
        from ..levels import Level
        from ..session import Outcome, State

        with self.lock:
            self.presses += 1
            level = Level.from_position(position)
            self.say(f"PRESS {position + 1} {level.zh} ({level.en}) from {source}")
            if self.prompt is not None:
                self.prompt = None
                self._broadcast("on_view", self._view(State.IDLE))
            outcome = Outcome(position, source, stored=True, level=level)
            self._broadcast("on_outcome", outcome)
        fut: Future = Future()
        fut.set_result(outcome)
        return fut

    def trigger(self, project_no=None, ticket_no=None, staff_no=None) -> Future:
        from ..session import Prompt, State

        with self.lock:
            self.prompt = Prompt(id=f"hw-test-{time.monotonic_ns()}", project_no=project_no, ticket_no=ticket_no,
                                 staff_no=staff_no or self.window.staff_no, staff_name="", deadline=0.0)
            self.say(f"TRIGGER project_no={project_no or '-'} ticket_no={ticket_no or '-'}")
            self._broadcast("on_view", self._view(State.RATING))
        fut: Future = Future()
        fut.set_result(self.prompt)
        return fut


def cmd_hw_test(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..exceptions import HardwareError

    cfg = load_config(args.config)
    out = sys.stdout
    from .gpio import GpioSource  # both light: gpiozero is imported when the pins open
    from .serial import SerialSource

    bench = _Bench(cfg, out)
    sources: list[GpioSource | SerialSource] = []
    if cfg.hardware.gpio.enabled:
        sources.append(GpioSource(cfg.hardware.gpio))
    if cfg.hardware.serial.enabled:
        sources.append(SerialSource(cfg.hardware.serial))
    if not sources:
        raise HardwareError(f"{cfg.path or 'the embedded defaults'}: no panel to test: set enabled = true "
                            f"in [hardware.gpio] and/or [hardware.serial]")
    bench.sources = sources
    bench.say("hw-test: nothing is stored; press each button, then the trigger. Ctrl-C ends.")
    for source in sources:
        source.start(bench)
        if isinstance(source, GpioSource):
            g = source.health()
            if g["error"]:
                bench.say(f"GPIO ERROR {g['error']}")
            else:
                bench.say(f"GPIO buttons BCM {g['buttons']} (active {'low' if source.active_low else 'high'}), "
                          f"trigger {g['trigger'] or 'none'}, LEDs {g['leds'] or 'none'}, pins via {g['pin_factory']}")
                if source.leds:
                    bench.say("LED cycle: 1 → 5")
                    n = source.cycle_leds(args.led_seconds)
                    bench.say(f"LED cycle done ({n} LEDs)")
        else:
            bench.say(f"serial port {source.port} at {source.baudrate} baud, "
                      f"checksum {'required' if source.require_checksum else 'optional'}, "
                      f"key_map {source.key_map or 'identity'}")
    seen: dict = {}
    end = time.monotonic() + args.seconds if args.seconds > 0 else None
    stop = getattr(args, "stop_event", None) or threading.Event()
    try:
        while (end is None or time.monotonic() < end) and not stop.is_set():
            _report_changes(sources, seen, bench)
            stop.wait(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        _report_changes(sources, seen, bench)
        for source in sources:
            source.stop()
    bench.say(f"hw-test done: {bench.presses} presses seen")
    return 0


def _report_changes(sources, seen: dict, bench: _Bench) -> None:
    """Print link state, bad frames, heartbeats and stuck buttons when they change."""
    for source in sources:
        h = source.health()
        if source.name == "serial":
            facts = {"link": "connected" if h["connected"] else f"NOT connected ({h['last_error'] or 'opening'})",
                     "bad": h["bad_frames"], "hb": h["last_hb"]}
            before = seen.get("serial", {})
            if facts["link"] != before.get("link"):
                bench.say(f"serial {source.port}: {facts['link']}")
            if facts["bad"] != before.get("bad", 0):
                bench.say(f"serial bad frames: {facts['bad']}")
            if facts["hb"] != before.get("hb") and facts["hb"]:
                bench.say(f"serial heartbeat {facts['hb']}")
            seen["serial"] = facts
        elif source.name == "gpio":
            stuck = tuple(h["stuck"])
            if stuck != seen.get("gpio", ()):
                bench.say(f"STUCK {', '.join(stuck)}" if stuck else "no stuck buttons")
            seen["gpio"] = stuck
