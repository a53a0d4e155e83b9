"""Fixtures shared by every test: a device config in tmp_path, a fake clock,
and a way to run the real ``kiosk`` command as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.clock import FakeClock
from kiosk.config import DEVICE_SCHEMA, parse

ROOT = Path(__file__).resolve().parent.parent

#: Fixtures every directory shares (the PostgreSQL cluster), from the test-support package.
pytest_plugins = ["testkit.pytest_plugin"]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_cfg(tmp_path):
    """make_cfg(ui={...}, device={...}) → a validated device Config using tmp_path as data_dir."""

    def make(**sections):
        data = {k: dict(v) for k, v in sections.items()}
        data.setdefault("device", {}).setdefault("data_dir", str(tmp_path / "data"))
        data["device"].setdefault("id", "test-dev")
        data["device"].setdefault("window", "A01")
        data["device"].setdefault("section", "综合服务区")
        data.setdefault("staff", {}).setdefault("no", "1001")
        data["staff"].setdefault("name", "张三")
        data.setdefault("local_api", {}).setdefault("bind", "127.0.0.1:0")
        return parse(DEVICE_SCHEMA, data, str(tmp_path / "kiosk.toml"))

    return make


def kiosk_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiosk.cli", *args]


def run_kiosk(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 60,
              check: bool = False) -> subprocess.CompletedProcess:
    """Run the real ``kiosk`` CLI in a subprocess."""
    full_env = dict(os.environ)
    full_env.pop("KIOSK_CONFIG", None)
    full_env.update(env or {})
    proc = subprocess.run(kiosk_cmd(*args), input=input, capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"kiosk {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def status_json(config: Path) -> dict:
    proc = run_kiosk("status", "--json", "--config", str(config), check=True)
    return json.loads(proc.stdout)
