"""The server's house rules, checked on its source: short functions, an app
factory that only assembles, and each rule written once."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import central
from central.app import create_app

CENTRAL = Path(central.__file__).parent
SOURCES = {p: p.read_text("utf-8") for p in CENTRAL.rglob("*.py")}


def test_no_function_is_longer_than_100_lines():
    long = []
    for path, text in SOURCES.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 100:
                    long.append(f"{path.relative_to(CENTRAL)}:{node.name} ({n} lines)")
    assert not long, long


def test_create_app_only_assembles():
    assert len(inspect.getsource(create_app).splitlines()) <= 50


def _defined(pattern: str) -> list[str]:
    rx = re.compile(pattern, re.M)
    return [str(p.relative_to(CENTRAL)) for p, text in SOURCES.items() if rx.search(text)]


def test_each_rule_is_written_once():
    assert _defined(r'"kiosk_session"') == ["api/deps.py"]
    assert _defined(r'"kiosk_csrf"') == ["api/deps.py"]
    assert _defined(r'"kiosk_lang"') == ["api/deps.py"]
    assert _defined(r"^def current_user\b") == ["api/deps.py"]
    assert _defined(r"login_attempts\.insert") == ["throttle.py"]
    assert _defined(r"^SOURCES\s*=") == []  # the device's kiosk.events.SOURCES is used
    assert _defined(r"^def _positive\b") == []  # kiosk.config's
    assert _defined(r"^def rfc3339\b") == ["timefmt.py"]
    assert _defined(r"""isoformat\(timespec=[^)]*\)\s*\+\s*["']Z""") == ["timefmt.py"]
