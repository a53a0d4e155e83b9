"""The local API token is never missing: ``kiosk provision`` writes one, a
device without one makes one on first start, and ``kiosk status`` says where
it is for the queue system."""

from __future__ import annotations

import json
import stat
import tomllib

import pytest
import requests

from kiosk.config import load_config
from kiosk.local_api import load_token, token_location
from kiosk.provision import provision

from .conftest import run_kiosk, status_json, write_config
from .local_api_support import device_config, scripted_server, start_device, stop_device


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_config_without_a_token_gets_one_made_once(make_cfg, tmp_path):
    cfg = make_cfg()
    path = tmp_path / "data" / "local_api.token"
    assert token_location(cfg) == path and not path.exists()
    token, where, created = load_token(cfg)
    assert created and where == str(path) and path.read_text().strip() == token
    assert len(token) >= 40 and _mode(path) == 0o640
    assert load_token(cfg) == (token, str(path), False)  # the same token on every start


def test_inline_token_and_token_file(make_cfg, tmp_path):
    cfg = make_cfg(local_api={"token": "inline-1"})
    assert load_token(cfg)[0] == "inline-1" and token_location(cfg) is None
    assert not (tmp_path / "data" / "local_api.token").exists()
    cfg = make_cfg(local_api={"token_file": "queue.token"})  # relative: in the data directory
    token, where, _ = load_token(cfg)
    assert where == str(tmp_path / "data" / "queue.token")
    (tmp_path / "mine.token").write_text("  from-the-integrator \n")
    cfg = make_cfg(local_api={"token_file": str(tmp_path / "mine.token")})
    assert load_token(cfg)[:2] == ("from-the-integrator", str(tmp_path / "mine.token"))


def test_an_empty_token_file_stops_the_device_with_one_line(tmp_path):
    (tmp_path / "empty.token").write_text("\n")
    config = device_config(tmp_path, local_api=f'token_file = "{tmp_path / "empty.token"}"')
    proc = run_kiosk("run", "--headless", "--config", str(config), timeout=60)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"kiosk: error: the local API token file {tmp_path / 'empty.token'} is empty: write a token "
                    "in it, or delete it and the device makes a new one at the next start")


def test_a_token_file_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "not-a-dir").write_text("")
    config = device_config(tmp_path, local_api=f'token_file = "{tmp_path / "not-a-dir" / "t"}"')
    proc = run_kiosk("run", "--headless", "--config", str(config), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"kiosk: error: cannot write the local API token file {tmp_path / 'not-a-dir' / 't'}: ")


def test_a_device_without_a_token_makes_one_and_requires_it(tmp_path):
    config = device_config(tmp_path, local_api="")
    token_file = tmp_path / "data" / "local_api.token"
    dev = start_device(config)
    try:
        assert f"no token configured, made a new one in {token_file}" in dev.log()
        token = token_file.read_text().strip()
        assert requests.post(dev.url + "/v1/prompt", json={}, timeout=10).status_code == 401
        ok = requests.post(dev.url + "/v1/prompt", json={}, headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
        assert ok.status_code == 201
    finally:
        stop_device(dev)
    dev = start_device(config)  # the next start keeps it
    try:
        assert "made a new one" not in dev.log() and f"local API token: {token_file}" in dev.log()
        assert token_file.read_text().strip() == token
    finally:
        stop_device(dev)


def test_status_says_where_the_token_is(tmp_path):
    config = device_config(tmp_path, local_api="")
    token_file = tmp_path / "data" / "local_api.token"
    st = status_json(config)
    assert st["local_api"]["token_file"] == str(token_file) and st["local_api"]["token_file_exists"] is False
    text = run_kiosk("status", "--config", str(config), check=True).stdout
    assert f"token: {token_file} (made on the device's first start)" in text
    load_token(load_config(config))
    text = run_kiosk("status", "--config", str(config), check=True).stdout
    assert "local API   http://127.0.0.1:0, token in " + str(token_file) in text
    assert "at most 60 prompts/min" in text
    inline = write_config(tmp_path / "inline.toml", '[local_api]\ntoken = "x"\n')
    assert "token inline in [local_api] token" in run_kiosk("status", "--config", str(inline), check=True).stdout
    off = write_config(tmp_path / "off.toml", '[local_api]\nenabled = false\n')
    assert status_json(off)["local_api"] == {"enabled": False}


@pytest.fixture
def enroll_server():
    """A scripted central server that accepts any enrolment code."""
    answer = {"device_id": "hall-b07", "token": "device-token", "window": "B07"}
    with scripted_server(json.dumps(answer).encode()) as url:
        yield url


def test_provision_writes_the_local_api_token(tmp_path, enroll_server):
    config = write_config(tmp_path / "kiosk.toml", f'# hall 1\n[device]\ndata_dir = "{tmp_path / "data"}"\n')
    out = provision(enroll_server, "CODE-1", config)
    token_file = tmp_path / "data" / "local_api.token"
    assert out["local_api_token_file"] == str(token_file)
    assert _mode(token_file) == 0o640 and len(token_file.read_text().strip()) >= 40
    data = tomllib.loads(config.read_text())
    assert data["local_api"]["token_file"] == str(token_file) and "# hall 1" in config.read_text()
    token = token_file.read_text()
    provision(enroll_server, "CODE-2", config)  # enrolling again keeps the queue system's token
    assert token_file.read_text() == token
    proc = run_kiosk("provision", "--server", enroll_server, "--code", "CODE-3", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert f"local API token for the queue system in {token_file}" in proc.stdout


def test_provision_leaves_an_inline_token_or_a_disabled_api_alone(tmp_path, enroll_server):
    for extra in ('[local_api]\ntoken = "inline"\n', '[local_api]\nenabled = false\n'):
        config = write_config(tmp_path / "kiosk.toml", f'[device]\ndata_dir = "{tmp_path / "data"}"\n{extra}')
        assert provision(enroll_server, "CODE", config)["local_api_token_file"] is None
        assert "token_file" not in tomllib.loads(config.read_text())["local_api"]
    assert not (tmp_path / "data" / "local_api.token").exists()
