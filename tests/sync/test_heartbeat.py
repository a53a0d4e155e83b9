"""The heartbeat: what it reports, its schedule, and that it never waits
behind a backlog being uploaded."""

from __future__ import annotations

import threading
import time

from kiosk import __version__
from kiosk.clock import FakeClock, parse_rfc3339
from sync.client import Client
from sync.heartbeat import Heartbeat

from .conftest import fill


def test_state_reports_the_device(server, buf, make_uploader):
    clock = FakeClock()
    events = fill(buf, 12)
    buf.set_meta("device.hardware", {"serial": {"ok": False, "error": "unplugged"}})
    buf.set_meta("device.started_at", "2026-12-01T07:00:00.000Z")
    up = make_uploader(server.url, batch_size=5)
    up.step()  # 5 synced, 7 pending
    clock.advance(3600)
    beat = Heartbeat(buf, Client(server.url, "tok"), device_id="test-dev", clock=clock,
                     uploader=up, uptime=lambda: 123.5)
    s = beat.state()
    assert s["app_version"] == __version__
    assert s["device_id"] == "test-dev" and s["boot_id"] == "test-boot"
    assert s["pending"] == 7 and s["rejected"] == 0 and s["events_total"] == 12
    oldest = events[5]["created_at"]
    assert s["oldest_pending_created_at"] == oldest
    assert s["oldest_pending_age_seconds"] == clock.time() - parse_rfc3339(oldest)
    assert s["last_sync_ok_at"] == buf.get_meta("sync.last_ok_at")
    assert s["clock_synced"] is True
    assert s["disk_free_bytes"] > 0
    assert s["hardware"] == {"serial": {"ok": False, "error": "unplugged"}}
    assert s["uptime_seconds"] == 123.5
    assert s["sync_stopped"] is None
    assert beat.send() is True
    assert server.heartbeats[-1]["pending"] == 7
    beat.client.close()


def test_stopped_upload_is_in_the_heartbeat(server, buf, make_uploader):
    fill(buf, 3)
    up = make_uploader(server.url)
    server.script.append(("status", 401, {}, "unknown token"))
    assert up.step().kind == "stopped"
    beat = Heartbeat(buf, Client(server.url, "tok"), device_id="test-dev", uploader=up)
    assert beat.send()
    assert server.heartbeats[-1]["sync_stopped"].startswith("401 token rejected")
    beat.client.close()


def test_heartbeat_failures_are_reported_not_raised(server, buf):
    beat = Heartbeat(buf, Client(server.url, "tok", timeout=0.5), device_id="test-dev")
    server.heartbeat_script.extend(["reset_before", ("status", 500)])
    assert beat.send() is False
    assert "broken answer" in beat.last_error or "cannot reach" in beat.last_error
    assert beat.send() is False and beat.last_error.startswith("500")
    assert beat.send() is True and beat.last_error is None
    beat.client.close()


def test_schedule_uses_the_interval(server, buf):
    clock = FakeClock()
    beat = Heartbeat(buf, Client(server.url, "tok"), device_id="test-dev", interval=30, clock=clock)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        clock.advance(seconds)
        return len(waits) >= 3

    beat.run(threading.Event(), wait)
    assert waits == [30, 30, 30]
    assert len(server.heartbeats) == 3
    beat.client.close()


def test_heartbeat_does_not_wait_behind_a_backlog(server, buf, make_uploader):
    fill(buf, 2000)
    gate = threading.Event()
    server.batch_gate = gate  # every batch request hangs on the server until the gate opens
    up = make_uploader(server.url, batch_size=500, timeout=20)
    stop = threading.Event()
    t = threading.Thread(target=up.run, args=(stop,))
    t.start()
    try:
        deadline = time.monotonic() + 5
        while not server.batches and len(server.headers) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        beat = Heartbeat(buf, Client(server.url, "tok", timeout=5), device_id="test-dev", uploader=up)
        t0 = time.monotonic()
        assert beat.send() is True
        assert time.monotonic() - t0 < 1.0
        assert server.heartbeats[-1]["pending"] == 2000
        assert buf.counts()["pending"] == 2000  # the upload is still in flight
        beat.client.close()
    finally:
        gate.set()
        server.batch_gate = None
        deadline = time.monotonic() + 10
        while buf.counts()["pending"] and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        t.join(10)
    assert buf.counts()["synced"] == 2000
