"""Print the lowest versions setup.py allows, one ``name==version`` a line.

    python dev/lowest_pins.py CORE SERVER

reads the named requirement lists from setup.py (without running it) and turns
each ``name>=X`` into ``name==X``, so ``dev/test.sh --lowest-pins`` can install
exactly the oldest versions the project promises to work with. A requirement
without a ``>=`` lower bound is an error: every pin must be testable.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SETUP = Path(__file__).resolve().parent.parent / "setup.py"
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?)\s*>=\s*(?P<version>[0-9][0-9A-Za-z.]*)"
                         r"(\s*,\s*<[^,]+)?$")


def requirement_lists(source: str) -> dict[str, list[str]]:
    """The module-level ``NAME = [...]`` lists of strings in setup.py."""
    lists = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                lists[node.targets[0].id] = value
    return lists


def lowest(requirement: str) -> str:
    m = REQUIREMENT.match(requirement.strip())
    if not m:
        raise ValueError(f"setup.py: {requirement!r} has no '>=' lower bound to test: write it as name>=X")
    return f"{m['name']}=={m['version']}"


def main(argv: list[str]) -> int:
    lists = requirement_lists(SETUP.read_text(encoding="utf-8"))
    if not argv:
        print("usage: python dev/lowest_pins.py LIST [LIST ...]  (lists in setup.py: "
              + ", ".join(sorted(lists)) + ")", file=sys.stderr)
        return 2
    for name in argv:
        if name not in lists:
            print(f"lowest_pins: no list {name!r} in {SETUP}", file=sys.stderr)
            return 1
        try:
            for req in lists[name]:
                print(lowest(req))
        except ValueError as exc:
            print(f"lowest_pins: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
