"""Every command is documented: docs/cli.md is generated from the parser and must be current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = {"run", "status", "hash-pin", "sync", "provision", "server", "admin", "panel-sim", "hw-test",
            "doctor", "demo"}


def test_every_design_command_exists():
    import argparse

    from kiosk.cli import build_parser
    parser = build_parser()
    names = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            names |= set(action.choices)
    assert EXPECTED <= names


def test_cli_doc_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "cli_docs.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(text.splitlines()[:30])
    assert "./dev/demo.sh" in first_screen and "./dev/test.sh" in first_screen
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./dev/test.sh" in ci
