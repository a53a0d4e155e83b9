"""``kiosk doctor`` against a real server on loopback: a good setup passes, and
every broken setup gets its own specific FAIL line and exit status 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from kiosk.buffer import Buffer
from kiosk.clock import rfc3339
from kiosk.doctor import FAIL, OK, WARN, Doctor
from testkit.server import add_device, free_port, revoke_device, running_server

from .conftest import ROOT, device_toml, kiosk_env

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("doctor-server") / "central.db"
    with running_server(str(db)) as url:
        url.db = str(db)
        yield url


@pytest.fixture(autouse=True)
def synced_clock(monkeypatch):
    monkeypatch.setenv("KIOSK_CLOCK_SYNCED", "1")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.fixture
def setup(tmp_path, server):
    """write(extra=..., token=...) → a config path for device dev-doc on the real server."""
    token = add_device(server.db, "dev-doc", window="A01")

    def write(extra: str = "", *, token_value: str | None = None, server_url: str | None = None) -> str:
        text = device_toml(tmp_path / "data", server=server_url or server,
                           token=token if token_value is None else token_value, extra=extra)
        path = tmp_path / "kiosk.toml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    write.token = token
    write.data = tmp_path / "data"
    return write


def run(config: str, *, touch: bool | None = False, dev_root: str = "/dev") -> dict[str, list]:
    checks = Doctor(config, touch=touch, dev_root=dev_root).run()
    by_name: dict[str, list] = {}
    for c in checks:
        by_name.setdefault(c.name, []).append(c)
    return by_name


def one(checks: dict, name: str):
    assert name in checks, f"no {name} line in {sorted(checks)}"
    return checks[name][0]


def rating(**fields) -> dict:
    ev = {"id": str(uuid.uuid4()), "type": "rating", "created_at": rfc3339(time.time()), "clock_synced": True,
          "boot_id": "b", "mono_ms": 1,
          "satisfaction": 5, "source": "console", "channel": 5, "window_no": "A01", "section": "综合服务区",
          "staff_no": "1001", "staff_name": "张三", "project_no": None, "ticket_no": None, "prompt_id": None,
          "misuse": False}
    ev.update(fields)
    return ev


def test_good_setup_passes_from_the_cli(setup):
    config = setup()
    buf = Buffer(setup.data / "buffer.db")
    buf.append(rating())
    buf.close()
    proc = subprocess.run([sys.executable, "-m", "kiosk.cli", "doctor", "--headless", "--config", config],
                          capture_output=True, text=True, timeout=60, env=kiosk_env(KIOSK_CLOCK_SYNCED="1"),
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    statuses = {line.split()[1]: line.split()[0] for line in lines[:-1]}
    assert statuses == {"config": OK, "font": OK, "display": OK, "gpio": OK, "serial": OK, "server": OK,
                        "tls": WARN, "token": OK, "clock": OK, "disk": OK, "buffer": OK, "backlog": OK}, proc.stdout
    assert "accepted for device dev-doc" in proc.stdout
    assert "1 pending" in proc.stdout
    assert lines[-1] == "0 FAIL, 1 WARN: ready"


def test_json_output_and_exit_status(setup):
    config = setup(token_value="not-the-token")
    proc = subprocess.run([sys.executable, "-m", "kiosk.cli", "doctor", "--headless", "--json", "--config", config],
                          capture_output=True, text=True, timeout=60, env=kiosk_env(KIOSK_CLOCK_SYNCED="1"),
                          cwd=ROOT, check=False)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False
    assert {"status": FAIL, "name": "token"}.items() <= next(c for c in out["checks"] if c["name"] == "token").items()


def test_wrong_token(setup):
    c = one(run(setup(token_value="wrong-token")), "token")
    assert c.status == FAIL
    assert "rejected the token from [sync] token (401: unknown or revoked device token)" in c.detail
    assert "kiosk provision" in c.detail


def test_revoked_device(setup, server):
    config = setup()
    revoke_device(server.db, "dev-doc")
    c = one(run(config), "token")
    assert c.status == FAIL and "401" in c.detail


def test_token_file_missing(setup, tmp_path):
    config = setup(token_value="")
    text = open(config, encoding="utf-8").read().replace('token = ""', f'token_file = "{tmp_path}/nope"')
    open(config, "w", encoding="utf-8").write(text)
    c = one(run(config), "token")
    assert c.status == FAIL and f"token file {tmp_path}/nope does not exist" in c.detail


def test_missing_font(setup):
    checks = run(setup('\n[ui]\nfont = "/nonexistent/wqy.ttc"\n'), touch=True)
    c = one(checks, "font")
    assert c.status == FAIL and "[ui] font: '/nonexistent/wqy.ttc' is not a font file" in c.detail
    # the same font problem on a device without a screen blocks nothing
    assert one(run(setup('\n[ui]\nfont = "/nonexistent/wqy.ttc"\n'), touch=False), "font").status == WARN


def test_display(setup, tmp_path):
    config = setup()
    empty = tmp_path / "dev-empty"
    empty.mkdir()
    c = one(run(config, touch=True, dev_root=str(empty)), "display")
    assert c.status == FAIL and f"no {empty}/dri/card*" in c.detail
    dev = tmp_path / "dev"
    (dev / "dri").mkdir(parents=True)
    (dev / "dri" / "card0").write_text("")
    c = one(run(config, touch=True, dev_root=str(dev)), "display")
    assert c.status == OK and "KMS/DRM" in c.detail and "card0" in c.detail


def test_corrupted_buffer(setup):
    config = setup()
    setup.data.mkdir(parents=True, exist_ok=True)
    (setup.data / "buffer.db").write_bytes(b"this is not a SQLite database, a power cut ate it" * 100)
    c = one(run(config), "buffer")
    assert c.status == FAIL
    assert f"{setup.data / 'buffer.db'} failed its integrity check" in c.detail and "moves it aside" in c.detail


def test_missing_serial_port(setup, tmp_path):
    c = one(run(setup(f'\n[hardware.serial]\nenabled = true\nport = "{tmp_path}/ttyUSB9"\n')), "serial")
    assert c.status == FAIL
    assert f"serial port {tmp_path}/ttyUSB9 does not exist ([hardware.serial] port)" in c.detail


def test_present_serial_port(setup):
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        c = one(run(setup(f'\n[hardware.serial]\nenabled = true\nport = "{port}"\n')), "serial")
        assert c.status == OK and port in c.detail and "9600 baud" in c.detail
    finally:
        os.close(master)
        os.close(slave)


def test_gpio(setup, tmp_path):
    config = setup("\n[hardware.gpio]\nenabled = true\n")
    empty = tmp_path / "nodev"
    empty.mkdir()
    c = one(run(config, dev_root=str(empty)), "gpio")
    assert c.status == FAIL and f"no {empty}/gpiochip*" in c.detail
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "gpiochip0").write_text("")
    c = one(run(config, dev_root=str(dev)), "gpio")
    assert c.status == OK and "gpiochip0" in c.detail



def test_server_unreachable_and_tls(setup, server):
    port = free_port()
    c = one(run(setup(server_url=f"http://127.0.0.1:{port}")), "server")
    assert c.status == FAIL and f"cannot reach http://127.0.0.1:{port}/healthz: Connection refused" in c.detail
    # An https URL to a server that does not speak TLS: the handshake fails.
    c = one(run(setup(server_url=server.replace("http://", "https://"))), "server")
    assert c.status == FAIL and c.detail.startswith("TLS check failed for https://127.0.0.1:")


def test_missing_ca_bundle(setup, tmp_path):
    config = setup()
    text = open(config, encoding="utf-8").read() + f'ca_bundle = "{tmp_path}/ca.pem"\n'
    open(config, "w", encoding="utf-8").write(text)
    c = one(run(config), "server")
    assert c.status == FAIL and f"[sync] ca_bundle {tmp_path}/ca.pem does not exist" in c.detail


def test_no_server_configured(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text(device_toml(tmp_path / "data"), encoding="utf-8")
    c = one(run(str(path)), "server")
    assert c.status == FAIL and "[sync] server is not set" in c.detail


def test_backlog_stopped_and_rejected(setup):
    config = setup()
    buf = Buffer(setup.data / "buffer.db")
    old = rating(created_at="2026-01-01T08:00:00.000Z")
    buf.append(old)
    bad = rating()
    buf.append(bad)
    buf.mark_results([(bad["id"], "rejected", "conflict: same id, different payload")])
    checks = run(config)
    c = one(checks, "backlog")
    assert c.status == WARN and "1 pending, oldest" in c.detail and "uploads are not getting through" in c.detail
    assert one(checks, "rejected").status == WARN and "1 events rejected" in one(checks, "rejected").detail
    buf.set_meta("sync.stopped", "401 token rejected: unknown or revoked device token")
    buf.close()
    c = one(run(config), "backlog")
    assert c.status == FAIL and c.detail.startswith("uploading STOPPED: 401 token rejected")


def test_bad_config(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text('[ui]\nmode = "sometimes"\n', encoding="utf-8")
    checks = Doctor(str(path)).run()
    assert len(checks) == 1 and checks[0].status == FAIL and checks[0].name == "config"
    assert "ui.mode" in checks[0].detail and "'sometimes'" in checks[0].detail and str(path) in checks[0].detail


def test_clock_not_synchronised(setup, monkeypatch):
    monkeypatch.setenv("KIOSK_CLOCK_SYNCED", "0")
    c = one(run(setup()), "clock")
    assert c.status == WARN and "not NTP-synchronised" in c.detail


def test_no_input_source(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text(device_toml(tmp_path / "data") + "\n[hardware.keyboard]\nenabled = false\n", encoding="utf-8")
    c = one(run(str(path)), "input")
    assert c.status == FAIL and "no way to rate" in c.detail


def test_service_user_permissions(setup, tmp_path):
    """Run as root after `sudo kiosk provision`: files the service user cannot use are named."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    config = setup()
    token = setup.data / "token"
    setup.data.mkdir(parents=True, exist_ok=True)
    token.write_text(setup.token + "\n")
    text = open(config, encoding="utf-8").read().replace(f'token = "{setup.token}"', f'token_file = "{token}"')
    open(config, "w", encoding="utf-8").write(text)
    os.chmod(config, 0o600)
    os.chmod(token, 0o600)
    for p in (tmp_path, setup.data):
        os.chmod(p, 0o755)
    if os.geteuid() == nobody.pw_uid:
        pytest.skip("running as nobody")
    checks = Doctor(config, touch=False, service_user="nobody").run()
    c = next(c for c in checks if c.name == "perms")
    assert c.status == FAIL
    assert f"{config} is not readable for nobody (fix: chown root:nobody {config}; chmod 640 {config})" in c.detail
    assert f"{token} is not readable for nobody" in c.detail
    assert f"{setup.data} is not writable for nobody" in c.detail
    os.chmod(config, 0o644)
    os.chmod(token, 0o644)
    os.chmod(setup.data, 0o777)
    c = next(c for c in Doctor(config, touch=False, service_user="nobody").run() if c.name == "perms")
    assert c.status == OK, c.detail
