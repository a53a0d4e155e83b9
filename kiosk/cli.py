"""The ``kiosk`` console script.

Each command lives in the module that owns its concern; this file only builds
the parser. A command module exposes ``register(subparsers)`` which adds its
sub-parser(s) and sets ``func`` (called with the parsed args, returns an exit
code). Command modules import their heavy dependencies (Kivy, FastAPI …)
inside ``func``, never at module level, so ``kiosk --help`` stays fast and
``kiosk run --headless`` never imports Kivy.

Errors: one line ``kiosk: error: …`` on stderr and exit 1; with
``KIOSK_DEBUG=1`` the traceback is shown.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from . import __version__
from .exceptions import KioskError

#: Modules that register commands, in help order. A module that is not
#: installed (an optional part) is left out of the parser.
COMMAND_MODULES = [
    "kiosk.commands",          # run, status, hash-pin
    "sync.commands",           # sync
    "kiosk.provision",         # provision
    "central.commands",        # server, admin
    "kiosk.hardware.commands", # panel-sim, hw-test
    "kiosk.doctor",            # doctor
    "central.demo",            # demo (it starts a server: it lives beside the server commands)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk",
        description="好差评 counter rating kiosk: device, uploader and central server.",
    )
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_command(parser.parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command: its exit code, or one ``kiosk: error: …`` line and 1."""
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (KioskError, OSError) as exc:
        if os.environ.get("KIOSK_DEBUG"):
            traceback.print_exc()
        print(f"kiosk: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected bug: still one line, traceback on demand
        if os.environ.get("KIOSK_DEBUG"):
            traceback.print_exc()
        print(f"kiosk: error: {type(exc).__name__}: {exc} (set KIOSK_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
