"""End to end against the real central server (uvicorn subprocess on
127.0.0.1; SQLite and PostgreSQL): ratings flow from the device buffer
through ``kiosk sync`` and the server's statistics match the buffer."""

from __future__ import annotations

import json
import threading
import time

import requests

from kiosk.buffer import Buffer
from kiosk.clock import FakeClock
from sync.client import Client
from sync.commands import TokenSource
from sync.heartbeat import Heartbeat
from sync.uploader import Backoff, Uploader
from testkit.server import add_device, add_user, revoke_device, running_server

from ..conftest import run_kiosk
from .conftest import assert_stats_match, fill, make_events


def write_device_config(tmp_path, url: str, *, token_file: str = "token", batch_size: int = 100):
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[device]\nid = "test-dev"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[sync]\nserver = "{url}"\ntoken_file = "{token_file}"\nbatch_size = {batch_size}\n'
        f"interval_seconds = 1\ntimeout_seconds = 5\n", "utf-8")
    return cfg


def test_kiosk_sync_once_end_to_end(central_db, tmp_path):
    token = add_device(central_db, "test-dev")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "token").write_text(token + "\n")
    buf = Buffer(tmp_path / "data" / "buffer.db")
    fill(buf, 730)
    with running_server(central_db, timezone="UTC") as url:
        cfg = write_device_config(tmp_path, url)
        proc = run_kiosk("sync", "--once", "--config", str(cfg))
        assert proc.returncode == 0, proc.stderr
        c = buf.counts()
        assert c["pending"] == 0 and c["synced"] == 730 and c["rejected"] == 0
        assert_stats_match(url, buf)
        assert buf.get_meta("sync.last_ok_at") and buf.get_meta("sync.last_error") is None

        # The same events again (a device that lost its sync state): all duplicates, counted once.
        buf.conn.execute("UPDATE events SET state = 'pending'")
        proc = run_kiosk("sync", "--once", "--config", str(cfg))
        assert proc.returncode == 0, proc.stderr
        assert buf.counts()["synced"] == 730
        assert_stats_match(url, buf)

        # A revoked token: non-zero exit, data kept, the reason recorded.
        fill(buf, 5, start=1000)
        revoke_device(central_db, "test-dev")
        proc = run_kiosk("sync", "--once", "--config", str(cfg))
        assert proc.returncode == 1
        assert "uploading stopped: 401" in proc.stderr
        assert buf.counts()["pending"] == 5
        assert buf.get_meta("sync.stopped").startswith("401")
    buf.close()


def test_running_uploader_low_latency_heartbeat_and_token_change(tmp_path):
    db = str(tmp_path / "central.db")
    token = add_device(db, "test-dev")
    add_user(db, "admin", "correct horse 1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "token").write_text(token)
    buf = Buffer(data / "buffer.db")
    with running_server(db, timezone="UTC") as url:
        tokens = TokenSource("", "token", data)
        up = Uploader(buf, Client(url, tokens.token, timeout=5), device_id="test-dev", batch_size=50,
                      token_source=tokens, backoff=Backoff(base=0.05, cap=0.2))
        beat = Heartbeat(buf, Client(url, tokens.token, timeout=5), device_id="test-dev",
                         interval=0.3, uploader=up)
        stop = threading.Event()
        threads = [threading.Thread(target=up.run, args=(stop,)), threading.Thread(target=beat.run, args=(stop,))]
        for t in threads:
            t.start()
        try:
            # A single new rating reaches the server quickly (the uploader is idle-polling).
            latencies = []
            for i in range(3):
                ev = make_events(1, FakeClock(), start=i)[0]
                t0 = time.monotonic()
                buf.append(ev)
                while buf.counts()["synced"] < i + 1:
                    assert time.monotonic() - t0 < 5, "a new rating was not uploaded within 5 s"
                    time.sleep(0.02)
                latencies.append(time.monotonic() - t0)
            assert max(latencies) < 2.0, latencies
            print(f"new rating → synced on the server: {[round(x * 1000) for x in latencies]} ms")

            # The heartbeat reached the server with the device state.
            login = requests.post(url + "/api/v1/login", json={"username": "admin",
                                                               "password": "correct horse 1"}, timeout=5)
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            deadline = time.monotonic() + 5
            state = None
            while time.monotonic() < deadline:
                devs = requests.get(url + "/api/v1/devices", headers=headers, timeout=5).json()
                dev = next(d for d in devs if d["device_id"] == "test-dev")
                state = dev.get("last_state") or dev.get("state")
                if isinstance(state, str):
                    state = json.loads(state)
                if state and state.get("pending") == 0 and state.get("last_sync_ok_at"):
                    break
                time.sleep(0.1)
            assert state and state["app_version"] and state["pending"] == 0, devs

            # Revoked: the uploader stops and keeps the data.
            revoke_device(db, "test-dev")
            fill(buf, 10, start=100)
            deadline = time.monotonic() + 5
            while up.stopped is None:
                assert time.monotonic() < deadline, "the uploader did not stop on 401"
                time.sleep(0.02)
            assert buf.counts()["pending"] == 10
            assert buf.get_meta("sync.stopped").startswith("401")

            # A new token in the token file: it resumes by itself.
            new = add_device(db, "test-dev")
            (data / "token").write_text(new + "\n")
            deadline = time.monotonic() + 5
            while buf.counts()["pending"] or up.stopped is not None:
                assert time.monotonic() < deadline, "the uploader did not resume on a new token"
                time.sleep(0.05)
            assert buf.get_meta("sync.stopped") is None
            assert_stats_match(url, buf)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    buf.close()
