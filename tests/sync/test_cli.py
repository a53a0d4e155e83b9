"""``kiosk sync``: --once exit codes, config errors, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from kiosk.buffer import Buffer

from ..conftest import ROOT, kiosk_cmd, run_kiosk
from .conftest import fill


def config(tmp_path, url: str, **sync) -> str:
    lines = [f'[device]\nid = "test-dev"\ndata_dir = "{tmp_path / "data"}"\n[sync]', f'server = "{url}"']
    sync.setdefault("token", "tok")
    for k, v in sync.items():
        lines.append(f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {v}")
    p = tmp_path / "kiosk.toml"
    p.write_text("\n".join(lines) + "\n", "utf-8")
    return str(p)


def test_once_uploads_and_exits_0(server, tmp_path):
    buf = Buffer(tmp_path / "data" / "buffer.db")
    events = fill(buf, 250)
    proc = run_kiosk("sync", "--once", "--config", config(tmp_path, server.url, batch_size=100))
    assert proc.returncode == 0, proc.stderr
    assert buf.counts()["synced"] == 250
    assert set(server.store) == {e["id"] for e in events}
    assert server.heartbeats and server.heartbeats[-1]["pending"] == 0
    # Nothing pending: still success.
    assert run_kiosk("sync", "--once", "--config", config(tmp_path, server.url)).returncode == 0
    buf.close()


def test_once_with_rejections_is_still_a_verdict(tmp_path):
    from .conftest import ScriptedServer

    srv = ScriptedServer(reject_if=lambda ev: ev["type"] == "unrated")
    try:
        buf = Buffer(tmp_path / "data" / "buffer.db")
        fill(buf, 20)
        proc = run_kiosk("sync", "--once", "--config", config(tmp_path, srv.url))
        assert proc.returncode == 0, proc.stderr
        assert buf.counts()["rejected"] == 2
        buf.close()
    finally:
        srv.close()


def test_once_fails_when_the_server_keeps_failing(server, tmp_path):
    buf = Buffer(tmp_path / "data" / "buffer.db")
    fill(buf, 10)
    server.script.extend([("status", 500, {}, "boom")] * 5)
    proc = run_kiosk("sync", "--once", "--config", config(tmp_path, server.url))
    assert proc.returncode == 1
    assert "kiosk: error: 10 of 10 pending events got no verdict" in proc.stderr
    assert "500" in proc.stderr
    assert buf.counts()["pending"] == 10
    buf.close()


def test_token_file_errors(tmp_path, server):
    (tmp_path / "data").mkdir()
    proc = run_kiosk("sync", "--once", "--config", config(tmp_path, server.url, token="", token_file="nope"))
    assert proc.returncode == 1
    assert "kiosk: error:" in proc.stderr and "sync.token_file" in proc.stderr
    assert str(tmp_path / "data" / "nope") in proc.stderr
    proc = run_kiosk("sync", "--once", "--config", config(tmp_path, server.url, token=""))
    assert proc.returncode == 1 and "no device token" in proc.stderr
    proc = run_kiosk("sync", "--once", "--config", config(tmp_path, ""))
    assert proc.returncode == 1 and "sync.server" in proc.stderr
    (tmp_path / "data" / "tok").write_text("secret-token\n")
    cfg = config(tmp_path, server.url, token="", token_file=str(tmp_path / "data" / "tok"))
    assert run_kiosk("sync", "--once", "--config", cfg).returncode == 0
    assert server.headers[-1]["Authorization"] == "Bearer secret-token"


def test_runs_until_sigterm_and_uploads_new_events(server, tmp_path):
    buf = Buffer(tmp_path / "data" / "buffer.db")
    fill(buf, 30)
    env = dict(os.environ)
    env.pop("KIOSK_CONFIG", None)
    proc = subprocess.Popen(kiosk_cmd("sync", "--config", config(tmp_path, server.url, interval_seconds=1)),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while buf.counts()["synced"] < 30:
            assert time.monotonic() < deadline, "the backlog was not uploaded"
            time.sleep(0.05)
        fill(buf, 1, start=500)
        t0 = time.monotonic()
        while buf.counts()["synced"] < 31:
            assert time.monotonic() - t0 < 5, "a new event was not uploaded"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopping" in err
    assert len(server.heartbeats) >= 1
    buf.close()


def test_tells_systemd_ready_watchdog_and_stopping(server, tmp_path):
    import socket

    Buffer(tmp_path / "data" / "buffer.db").close()
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    env = dict(os.environ)
    env.pop("KIOSK_CONFIG", None)
    env.update(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="2000000")
    proc = subprocess.Popen(kiosk_cmd("sync", "--config", config(tmp_path, server.url)), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got: list[str] = []
    try:
        deadline = time.monotonic() + 15
        while not (any(m.startswith("READY=1") for m in got) and sum(m == "WATCHDOG=1" for m in got) >= 2
                   and any(m.startswith("STATUS=") and "uploaded" in m for m in got)):
            assert time.monotonic() < deadline, got
            got.append(sock.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in got:
            got.append(sock.recv(4096).decode())
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert proc.returncode == 0
    assert got[0].startswith("READY=1\nSTATUS=uploading to http://127.0.0.1:")


def test_sigterm_abandons_a_batch_in_flight_and_it_is_resent(server, tmp_path):
    import threading

    buf = Buffer(tmp_path / "data" / "buffer.db")
    fill(buf, 40)
    gate = threading.Event()
    server.batch_gate = gate  # the server holds the batch: the request stays in flight
    env = dict(os.environ)
    env.pop("KIOSK_CONFIG", None)
    # Two full batches: the backlog path, both requests on the wire at once (on their own threads).
    cfg = config(tmp_path, server.url, timeout_seconds=30, batch_size=20)
    proc = subprocess.Popen(kiosk_cmd("sync", "--config", cfg), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while server.paths.count("/api/v1/batches") < 2:
            assert time.monotonic() < deadline, "the two batches did not reach the server"
            time.sleep(0.02)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        stopped_in = time.monotonic() - t0
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert stopped_in < 5
    assert buf.counts()["pending"] == 40  # nothing marked without an answer
    # The server went on to store the held batches; their resends are answered "duplicate".
    deadline = time.monotonic() + 5
    while len(server.store) < 40:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.batch_gate = None
    assert run_kiosk("sync", "--once", "--config", cfg).returncode == 0
    assert buf.counts()["synced"] == 40
    assert len(server.store) == 40
    assert sorted(server.deliveries.values()) == [2] * 40  # each held batch came twice
    buf.close()


def test_exits_when_the_buffer_file_is_replaced(server, tmp_path):
    path = tmp_path / "data" / "buffer.db"
    Buffer(path).close()
    env = dict(os.environ)
    env.pop("KIOSK_CONFIG", None)
    proc = subprocess.Popen(kiosk_cmd("sync", "--config", config(tmp_path, server.url)), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not server.heartbeats:
            assert time.monotonic() < deadline, "the uploader did not start"
            time.sleep(0.05)
        # What the device does with a damaged buffer: move it aside, start a new file.
        for suffix in ("", "-wal", "-shm"):
            src = tmp_path / "data" / f"buffer.db{suffix}"
            if src.exists():
                src.rename(tmp_path / "data" / f"buffer.db.corrupt{suffix}")
        fresh = Buffer(path)
        fill(fresh, 2)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "was replaced" in err
    # The restarted uploader works on the new file.
    assert run_kiosk("sync", "--once", "--config", config(tmp_path, server.url)).returncode == 0
    assert fresh.counts()["synced"] == 2
    fresh.close()
