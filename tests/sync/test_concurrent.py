"""The device and the uploader on one buffer at once, as two processes: the
device appends hundreds of events a second while ``kiosk sync`` uploads and marks
verdicts; no append fails ("database is locked" never reaches a citizen)
and every event ends up on the server once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from kiosk.buffer import Buffer

from ..conftest import ROOT, kiosk_cmd
from .test_cli import config

SECONDS = float(os.environ.get("KIOSK_CONCURRENT_SECONDS", "4"))
#: The device appends up to this many events (a fast disk would otherwise
#: outrun the test's scripted server).
MAX_EVENTS = int(os.environ.get("KIOSK_CONCURRENT_EVENTS", "3000"))

APPENDER = r"""
import json, sys, time
from kiosk.buffer import Buffer
from kiosk.clock import FakeClock
from kiosk.exceptions import BufferWriteError
from tests.sync.conftest import make_events

buf = Buffer(sys.argv[1])
clock = FakeClock()
end = time.monotonic() + float(sys.argv[2])
appended = errors = 0
slowest = 0.0
i = 0
while time.monotonic() < end and i < int(sys.argv[3]):
    ev = make_events(1, clock, start=i)[0]
    i += 1
    t0 = time.monotonic()
    try:
        buf.append(ev)
        appended += 1
    except BufferWriteError as exc:
        errors += 1
        print("append failed:", exc, file=sys.stderr)
    slowest = max(slowest, time.monotonic() - t0)
    time.sleep(0.001)  # still hundreds of ratings a second, but the lock is free now and then
print(json.dumps({"appended": appended, "errors": errors, "slowest_append_s": slowest,
                  "synced_meanwhile": buf.counts()["synced"]}))
"""


def test_device_and_uploader_share_the_buffer(server, tmp_path):
    path = tmp_path / "data" / "buffer.db"
    Buffer(path).close()
    env = dict(os.environ)
    env.pop("KIOSK_CONFIG", None)
    env["PYTHONPATH"] = str(ROOT)
    cfg = config(tmp_path, server.url, batch_size=50, interval_seconds=0.2)
    uploader = subprocess.Popen(kiosk_cmd("sync", "--config", cfg), cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        device = subprocess.run([sys.executable, "-c", APPENDER, str(path), str(SECONDS), str(MAX_EVENTS)], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=SECONDS + 60)
        assert device.returncode == 0, device.stderr
        report = json.loads(device.stdout.strip().splitlines()[-1])
        assert report["errors"] == 0, device.stderr
        assert report["appended"] > 200
        buf = Buffer(path)
        deadline = time.monotonic() + 30
        while buf.counts()["pending"]:
            assert time.monotonic() < deadline, buf.counts()
            time.sleep(0.05)
        uploader.send_signal(signal.SIGTERM)
        _out, err = uploader.communicate(timeout=15)
    finally:
        if uploader.poll() is None:
            uploader.kill()
            uploader.wait()
    assert uploader.returncode == 0, err
    assert "locked" not in err
    c = buf.counts()
    assert c["synced"] == report["appended"] == len(server.store)
    assert max(server.deliveries.values()) == 1
    assert len(server.batches) > 10 and len(server.heartbeats) > 3
    # The uploader really ran beside the device: it had marked events before the appends ended.
    assert report["synced_meanwhile"] > 0
    print(f"concurrent: {report}, batches {len(server.batches)}, heartbeats {len(server.heartbeats)}")
    buf.close()
