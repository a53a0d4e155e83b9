"""Write docs/cli.md from the real ``kiosk`` parser (``--check``: fail when it is stale).

Every command and sub-command of ``kiosk`` gets its ``--help`` text in the
document, so a command cannot exist undocumented: tests/test_cli_docs.py runs
``--check``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "cli.md"

INTRO = """# The `kiosk` command

One console script runs every part of the system. Errors are one line,
`kiosk: error: …`, with exit status 1; `KIOSK_DEBUG=1` shows the traceback.
The device commands read the config from `--config`, else `$KIOSK_CONFIG`, else
`/etc/kiosk/kiosk.toml` (see the commented examples in `config/`).

This page is generated from the parser by `python tools/cli_docs.py`; a test
fails when it is out of date.
"""


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def render() -> str:
    os.environ["COLUMNS"] = "100"
    from kiosk.cli import build_parser

    parser = build_parser()
    parts = [INTRO]
    names = [name for name, _ in _subparsers(parser)]
    parts.append("Commands: " + ", ".join(f"[`kiosk {n}`](#kiosk-{n})" for n in names) + ".\n")
    for name, sub in _subparsers(parser):
        parts.append(f"## kiosk {name}\n")
        parts.append("```\n" + sub.format_help().rstrip() + "\n```\n")
        for child, subsub in _subparsers(sub):
            parts.append(f"### kiosk {name} {child}\n")
            parts.append("```\n" + subsub.format_help().rstrip() + "\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print("docs/cli.md is out of date: run python tools/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
