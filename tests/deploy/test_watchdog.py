"""sd_notify and the watchdog: pings reach a real datagram socket from the
real processes, and stop when the main loop hangs."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import time

from kiosk import systemd

from .conftest import ROOT, device_toml, kiosk_cmd, kiosk_env


def test_notify_without_socket_is_a_no_op():
    assert systemd.notify("READY=1", environ={}) is False
    assert systemd.Watchdog(environ={}).kick() is False


def test_notify_path_and_abstract_sockets(notify_socket, abstract_notify_socket):
    assert systemd.notify("READY=1\nSTATUS=up", environ={"NOTIFY_SOCKET": notify_socket.env_value})
    assert systemd.notify("STOPPING=1", environ={"NOTIFY_SOCKET": abstract_notify_socket.env_value})
    notify_socket.wait_for("STATUS=up")
    abstract_notify_socket.wait_for("STOPPING=1")
    assert notify_socket.texts() == ["READY=1\nSTATUS=up"]


def test_notify_to_a_vanished_socket_does_not_raise(tmp_path):
    assert systemd.notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_watchdog_pings_at_half_the_timeout(notify_socket):
    now = [100.0]
    env = {"NOTIFY_SOCKET": notify_socket.env_value, "WATCHDOG_USEC": "4000000"}
    wd = systemd.Watchdog(environ=env, monotonic=lambda: now[0])
    assert wd.timeout == 4.0 and wd.interval == 2.0
    sent = []
    for _ in range(50):  # a loop turning every 0.1 s for 5 s
        sent.append(wd.kick())
        now[0] += 0.1
    assert sent.count(True) == 3  # at 0 s, 2 s and 4 s
    notify_socket.wait_for("WATCHDOG=1", count=3)


def test_watchdog_for_another_pid_is_off():
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert systemd.watchdog_timeout(env) is None
    assert not systemd.Watchdog(environ=env).enabled


def test_watch_loop_follows_another_threads_loop(notify_socket, monkeypatch):
    """The touch app's watcher: READY on the loop's first turn, pings while it turns, none once it hangs."""
    import threading

    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.env_value)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    beat = [time.monotonic() - 10]  # constructed long ago, not turned yet
    stop = threading.Event()
    thread = systemd.watch_loop(lambda: beat[0], "touch app", stop=stop)
    try:
        time.sleep(0.6)
        assert notify_socket.texts() == []  # no READY before the loop turns
        turning = threading.Event()

        def loop():
            while not turning.is_set():
                beat[0] = time.monotonic()
                time.sleep(0.1)

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        notify_socket.wait_for("READY=1", timeout=5)
        notify_socket.wait_for("WATCHDOG=1", count=3, timeout=5)
        turning.set()  # the loop hangs
        t.join()
        hung = time.monotonic()
        time.sleep(3.0)
        assert [x for x in notify_socket.times_of("WATCHDOG=1") if x > hung + 1.5] == []
    finally:
        stop.set()
        thread.join(2)


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_headless_device_pings_and_a_hung_session_stops_them(tmp_path, notify_socket):
    """A real ``kiosk run --headless --console``: READY, regular WATCHDOG=1; while
    the session thread is stuck on a locked buffer, no ping; after, pings again."""
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(device_toml(tmp_path / "data"), encoding="utf-8")
    env = kiosk_env(NOTIFY_SOCKET=notify_socket.env_value, WATCHDOG_USEC="1000000")
    proc = subprocess.Popen(kiosk_cmd("run", "--headless", "--console", "--config", str(cfg)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    try:
        notify_socket.wait_for("READY=1")
        notify_socket.wait_for("WATCHDOG=1", count=4)
        assert max(_gaps(notify_socket.times_of("WATCHDOG=1"))) < 0.9

        # Hang the session thread: the buffer's write lock is held elsewhere, so
        # the press blocks in SQLite's busy wait (5 s) on the session thread.
        lock = sqlite3.connect(str(tmp_path / "data" / "buffer.db"), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        proc.stdin.write("1\n")
        proc.stdin.flush()
        t_press = time.monotonic()
        time.sleep(3.5)
        during = [t for t in notify_socket.times_of("WATCHDOG=1") if t > t_press + 1.5]
        lock.execute("ROLLBACK")
        lock.close()
        assert during == [], "pings went on while the session thread was hung"

        resumed = time.monotonic()
        deadline = resumed + 10
        while time.monotonic() < deadline and not [t for t in notify_socket.times_of("WATCHDOG=1") if t > resumed]:
            time.sleep(0.05)
        assert [t for t in notify_socket.times_of("WATCHDOG=1") if t > resumed], "pings did not resume"
        proc.stdin.write("q\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "ACK 1" in out  # the press was stored once the lock was gone
    notify_socket.wait_for("STOPPING=1", timeout=5)


def test_server_and_uploader_notify(tmp_path, notify_socket):
    """``kiosk server`` pings from its event loop; ``kiosk sync`` from its main loop."""
    from testkit.server import free_port

    port = free_port()
    env = kiosk_env(NOTIFY_SOCKET=notify_socket.env_value, WATCHDOG_USEC="1000000")
    server = subprocess.Popen(kiosk_cmd("server", "--db", str(tmp_path / "c.db"), "--host", "127.0.0.1",
                                        "--port", str(port)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        notify_socket.wait_for("READY=1", timeout=30)
        notify_socket.wait_for("WATCHDOG=1", count=3)
        server.terminate()
        server.wait(15)
        notify_socket.wait_for("STOPPING=1", timeout=5)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    sock2 = type(notify_socket)()
    try:
        cfg = tmp_path / "kiosk.toml"
        cfg.write_text(device_toml(tmp_path / "data", server=f"http://127.0.0.1:{port}", token="t"),
                       encoding="utf-8")
        env = kiosk_env(NOTIFY_SOCKET=sock2.env_value, WATCHDOG_USEC="2000000")
        sync = subprocess.Popen(kiosk_cmd("sync", "--config", str(cfg)), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        try:
            sock2.wait_for("READY=1", timeout=30)
            sock2.wait_for("WATCHDOG=1", count=2, timeout=10)
            sync.terminate()
            assert sync.wait(15) == 0
            sock2.wait_for("STOPPING=1", timeout=5)
        finally:
            if sync.poll() is None:
                sync.kill()
                sync.wait()
    finally:
        sock2.close()
