"""The systemd units: ``systemd-analyze verify`` is clean, the command lines
are valid ``kiosk`` commands, and the hardening keeps device access working.

The units point at /opt/kiosk/venv/bin/kiosk (where deploy/install.sh puts the
venv). ``verify`` refuses a unit whose ExecStart binary does not exist, so each
unit is checked as a scratch copy whose ExecStart names a real executable
``kiosk`` wrapper for this checkout; every other line is verified as shipped,
and any warning (unknown key, bad value) fails the test.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, kiosk_env

UNITS = ["kiosk-app.service", "kiosk-headless.service", "kiosk-sync.service", "kiosk-server.service",
         "kiosk-server@.service"]


def instance(name: str) -> str:
    """The name to verify: a template is verified as one of its instances."""
    return name.replace("@.", "@8081.")
INSTALLED_BIN = "/opt/kiosk/venv/bin/kiosk"
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze missing: apt install systemd")


def read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Sections → key → all values (units repeat keys like DeviceAllow)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for raw in (ROOT / "systemd" / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key, []).append(value)
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("units")
    (d / "bin").mkdir()
    wrapper = d / "bin" / "kiosk"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kiosk.cli \"$@\"\n", encoding="utf-8")
    wrapper.chmod(0o755)
    for name in UNITS:
        text = (ROOT / "systemd" / name).read_text(encoding="utf-8")
        assert text.count(INSTALLED_BIN) == 1, f"{name}: ExecStart must use {INSTALLED_BIN}"
        (d / instance(name)).write_text(text.replace(INSTALLED_BIN, str(wrapper)), encoding="utf-8")
    return d


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_verify_is_clean(scratch, name):
    proc = subprocess.run([ANALYZE, "verify", str(scratch / instance(name))], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


@needs_analyze
def test_verify_catches_what_it_should(scratch, tmp_path):
    """The check is not vacuous: the shipped path fails here (no venv) and a typo is reported."""
    shipped = tmp_path / "kiosk-sync.service"
    shutil.copy(ROOT / "systemd" / "kiosk-sync.service", shipped)
    proc = subprocess.run([ANALYZE, "verify", str(shipped)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and INSTALLED_BIN in proc.stderr
    typo = tmp_path / "kiosk-typo.service"
    typo.write_text((scratch / "kiosk-sync.service").read_text().replace("RestartSec=", "RestartSek="))
    proc = subprocess.run([ANALYZE, "verify", str(typo)], capture_output=True, text=True, check=False)
    assert "RestartSek" in proc.stderr


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_exposure_is_low(scratch, name):
    proc = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=30", str(scratch / instance(name))],
                          capture_output=True, text=True, timeout=60, check=False)
    last = proc.stdout.strip().splitlines()[-1]
    score = float(last.split(":")[1].split()[0])
    assert proc.returncode == 0 and score <= 2.5, last


@pytest.mark.parametrize("name", UNITS)
def test_exec_start_is_a_valid_kiosk_command(scratch, name):
    """Run each ExecStart with --help: argparse accepts the sub-command and every option."""
    exec_start = read_unit(name)["Service"]["ExecStart"][0]
    argv = shlex.split(exec_start.replace("%i", "8081"))
    assert argv[0] == INSTALLED_BIN
    proc = subprocess.run([str(scratch / "bin" / "kiosk"), *argv[1:], "--help"], capture_output=True,
                          text=True, timeout=60, env=kiosk_env(), cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", UNITS)
def test_service_contract(name):
    svc = read_unit(name)["Service"]
    assert svc["Type"] == ["notify"] and svc["Restart"] == ["always"]
    assert int(svc["WatchdogSec"][0]) >= 10
    assert svc["User"] == ["kiosk"] and svc["StandardOutput"] == ["journal"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert svc[key] == ["yes"], key
    assert svc["ProtectSystem"] == ["strict"]
    assert svc["StateDirectory"] and svc["ConfigurationDirectory"] == ["kiosk"]


def test_device_units_can_reach_panels_and_screen():
    for name in ("kiosk-app.service", "kiosk-headless.service"):
        svc = read_unit(name)["Service"]
        groups = svc["SupplementaryGroups"][0].split()
        assert {"gpio", "dialout"} <= set(groups)
        assert "PrivateDevices" not in svc and svc["DevicePolicy"] == ["closed"]
        allowed = {v.split()[0] for v in svc["DeviceAllow"]}
        assert {"char-gpiochip", "char-ttyUSB", "char-ttyAMA", "char-ttyACM"} <= allowed
    app = read_unit("kiosk-app.service")["Service"]
    assert {"char-drm", "char-input"} <= {v.split()[0] for v in app["DeviceAllow"]}
    assert {"video", "render", "input"} <= set(app["SupplementaryGroups"][0].split())
    assert "SDL_VIDEODRIVER=kmsdrm" in app["Environment"]
    # The device units share the buffer: never both at once.
    assert "kiosk-headless.service" in read_unit("kiosk-app.service")["Unit"]["Conflicts"][0]
    assert "kiosk-app.service" in read_unit("kiosk-headless.service")["Unit"]["Conflicts"][0]


def test_units_parse_as_ini():
    for name in UNITS:
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.read_string((ROOT / "systemd" / name).read_text(encoding="utf-8"))
        assert cp.sections() == ["Unit", "Service", "Install"]
