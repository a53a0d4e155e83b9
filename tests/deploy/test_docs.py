"""The technician's and operator's guides stay true to the code: the commands
they name exist, the doctor lines they quote are lines doctor prints, the
Chinese and English troubleshooting tables match, the metrics exist."""

from __future__ import annotations

import re

import pytest

from kiosk.cli import build_parser

from .conftest import ROOT

DOCS = ROOT / "docs"
QUOTED = re.compile(r"`(FAIL|WARN|OK)  (\w+)\s")


def doctor_names() -> set[str]:
    src = (ROOT / "kiosk" / "doctor.py").read_text(encoding="utf-8")
    return set(re.findall(r'self\.add\([^,]+,\s*"(\w+)"', src))


@pytest.mark.parametrize("name", ["technician.md", "technician.en.md"])
def test_technician_guide_names_real_commands(name):
    text = (DOCS / name).read_text(encoding="utf-8")
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for cmd in ("provision", "doctor", "hw-test", "panel-sim", "demo", "status"):
        assert cmd in commands, f"kiosk {cmd} is not a command"
        assert f"kiosk {cmd}" in text, f"{name} does not explain kiosk {cmd}"
    for link in ("hardware.md", "operations.md"):
        assert f"({link})" in text
    for flag in ("--dry-run", "--upgrade", "--uninstall", "--purge", "--role kiosk", "--role headless"):
        assert flag in text
    assert "KMS/DRM" in text and "kmsdrm" in text


@pytest.mark.parametrize("name", ["technician.md", "technician.en.md"])
def test_quoted_doctor_lines_exist(name):
    quoted = QUOTED.findall((DOCS / name).read_text(encoding="utf-8"))
    assert len(quoted) >= 15
    unknown = {n for _, n in quoted} - doctor_names()
    assert not unknown, f"{name} quotes doctor checks that do not exist: {unknown}"


def test_both_languages_quote_the_same_lines():
    zh = QUOTED.findall((DOCS / "technician.md").read_text(encoding="utf-8"))
    en = QUOTED.findall((DOCS / "technician.en.md").read_text(encoding="utf-8"))
    assert zh == en


def test_operations_guide():
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    metrics = (ROOT / "central" / "metrics.py").read_text(encoding="utf-8")
    for name in re.findall(r"`(kiosk_[a-z_]+)", text):
        assert name in metrics, f"operations.md names a metric that does not exist: {name}"
    for needed in ("pg_dump", "pg_restore", ".backup", "upstream", "kiosk admin migrate", "--upgrade",
                   "/metrics", "/healthz", "kiosk-server@8081"):
        assert needed in text, needed
    assert (ROOT / "systemd" / "kiosk-server@.service").exists()
