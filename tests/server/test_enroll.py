"""Enrolment: `kiosk admin enroll-code` → POST /api/v1/enroll → `kiosk provision`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
import uuid

import pytest
import requests

from central import auth, db
from kiosk.cli import main as kiosk_main
from kiosk.provision import set_toml_keys
from testkit.server import REPO_ROOT, make_batch, rating_event


def _kiosk(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "kiosk.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=str(REPO_ROOT), timeout=60)


def test_enroll_code_provision_and_upload(api, tmp_path):
    device_id = "kiosk-" + uuid.uuid4().hex[:6]
    p = _kiosk("admin", "enroll-code", "--db", api.db_url, "--device-id", device_id, "--window", "12",
               "--section", "不动产登记", "--staff-no", "A9")
    assert p.returncode == 0, p.stderr
    code = p.stdout.strip()
    assert code and "\n" not in code and "kiosk provision" in p.stderr

    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'# hall 2\n[device]\nid = "old"\ndata_dir = "{tmp_path / "data"}"\n\n'
                   '[ui]\nmode = "transaction"  # 一事一评\n', encoding="utf-8")
    assert kiosk_main(["provision", "--server", api.url, "--code", code, "--config", str(cfg)]) == 0
    text = cfg.read_text(encoding="utf-8")
    assert "# hall 2" in text and "# 一事一评" in text
    data = tomllib.loads(text)
    assert data["device"]["id"] == device_id
    assert data["device"]["window"] == "12" and data["device"]["section"] == "不动产登记"
    assert data["sync"]["server"] == api.url and data["staff"]["no"] == "A9"
    token_file = tmp_path / "data" / "token"
    assert data["sync"]["token_file"] == str(token_file)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()

    r = requests.post(api.url + "/api/v1/batches", json=make_batch(device_id, [rating_event(5)]),
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted"

    # one time only
    r = requests.post(api.url + "/api/v1/enroll", json={"code": code}, timeout=10)
    assert r.status_code == 403
    assert kiosk_main(["provision", "--server", api.url, "--code", code, "--config", str(cfg)]) == 1


def test_expired_and_unknown_codes(api):
    engine = db.engine_for(api.db_url)
    code, _ = auth.make_enroll_code(engine, "exp-" + uuid.uuid4().hex[:6], hours=-1)
    assert requests.post(api.url + "/api/v1/enroll", json={"code": code}, timeout=10).status_code == 403
    assert requests.post(api.url + "/api/v1/enroll", json={"code": "NOPE"}, timeout=10).status_code == 403
    assert requests.post(api.url + "/api/v1/enroll", json={}, timeout=10).status_code == 400


def test_reenrolment_replaces_the_old_token(api):
    dev = api.device()
    engine = db.engine_for(api.db_url)
    code, _ = auth.make_enroll_code(engine, dev.id)
    r = requests.post(api.url + "/api/v1/enroll", json={"code": code.lower()}, timeout=10)
    assert r.status_code == 200 and r.json()["device_id"] == dev.id
    assert api.upload(dev, [rating_event(5)]).status_code == 401
    assert requests.post(api.url + "/api/v1/batches", json=make_batch(dev.id, [rating_event(5)]),
                         headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=10).status_code == 200


def test_provision_unreachable_server(tmp_path, capsys):
    cfg = tmp_path / "kiosk.toml"
    rc = kiosk_main(["provision", "--server", "http://127.0.0.1:9", "--code", "X", "--config", str(cfg)])
    assert rc == 1
    assert capsys.readouterr().err.startswith("kiosk: error: cannot reach")
    assert not cfg.exists()


@pytest.mark.parametrize(("before", "after"), [
    ("", '[device]\nid = "d"\n'),
    ('[device]\nid = "x" # c\nwindow = "1"\n', '[device]\nid = "d"\nwindow = "1"\n'),
    ('[ui]\nmode = "free"\n', '[ui]\nmode = "free"\n\n[device]\nid = "d"\n'),
])
def test_set_toml_keys(before, after):
    assert set_toml_keys(before, {"device": {"id": "d"}}) == after


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership can only be given away as root")
def test_provision_as_root_keeps_the_service_users_ownership(api, tmp_path):
    """`sudo kiosk provision` must leave the config and token readable by the service user."""
    uid, gid = 4321, 4322
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, uid, gid)
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'[device]\ndata_dir = "{data}"\n', encoding="utf-8")
    os.chown(cfg, uid, gid)
    os.chmod(cfg, 0o640)
    device_id = "kiosk-" + uuid.uuid4().hex[:6]
    code = _kiosk("admin", "enroll-code", "--db", api.db_url, "--device-id", device_id).stdout.strip()
    assert kiosk_main(["provision", "--server", api.url, "--code", code, "--config", str(cfg)]) == 0
    token = data / "token"
    assert (token.stat().st_uid, token.stat().st_gid) == (uid, gid)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert (cfg.stat().st_uid, cfg.stat().st_gid) == (uid, gid)
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640
