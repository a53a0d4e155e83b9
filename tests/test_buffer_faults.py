"""A corrupted buffer is moved aside; a full disk is an error the citizen never sees acknowledged."""

import json
import os
import sqlite3
import subprocess
import time

import pytest

from kiosk.buffer import Buffer
from kiosk.clock import FakeClock
from kiosk.device import Device
from kiosk.events import Window, rating
from kiosk.exceptions import BufferCorruptError, BufferWriteError
from kiosk.levels import LEVELS
from kiosk.session import PROBE_INTERVAL, State

from .conftest import kiosk_cmd, run_kiosk, status_json, write_config

WIN = Window("A01", "综合服务区", "1001", "张三", 4)


def _fill(path, n=30):
    buf = Buffer(path)
    clock = FakeClock()
    for i in range(n):
        buf.append(rating(clock, LEVELS[i % 5], "console", WIN))
    buf.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    buf.close()


@pytest.mark.parametrize("where", ["header", "middle"])
def test_corrupted_file_is_moved_aside_and_reported(tmp_path, where):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "buffer.db"
    _fill(path, 200)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if where == "header":
            f.write(b"\x00garbage!" * 20)
        else:
            f.seek(size // 2)
            f.write(os.urandom(4096))
    original = path.read_bytes()
    cfg = write_config(tmp_path / "kiosk.toml",
                       f'[device]\nid = "d1"\ndata_dir = "{data}"\n[local_api]\nenabled = false\n')

    # other processes never move the device's file: they report it
    proc = run_kiosk("status", "--config", str(cfg))
    assert proc.returncode == 1
    assert "is unusable" in proc.stderr and "moves it aside" in proc.stderr

    # the device moves it aside, starts fresh, keeps working
    proc = run_kiosk("run", "--headless", "--console", "--config", str(cfg), input="1\n")
    assert proc.returncode == 0, proc.stderr
    assert "ACK 1" in proc.stdout
    st = status_json(cfg)
    assert st["events_total"] == 1
    (incident,) = st["incidents"]
    assert incident["kind"] == "corrupt_moved_aside"
    moved = incident["detail"]["moved_to"]
    assert open(moved, "rb").read() == original  # kept, byte for byte
    text = run_kiosk("status", "--config", str(cfg), check=True).stdout
    assert "INCIDENT" in text and "corrupt_moved_aside" in text


def test_unopenable_directory_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        target = tmp_path / "file-not-dir"
        target.write_text("x")
        with pytest.raises(BufferWriteError, match="cannot create the buffer directory"):
            Buffer(target / "sub" / "buffer.db")
    else:  # pragma: no cover - root ignores permissions
        pytest.skip("runs as root in CI")


def _disk_full(buf: Buffer) -> None:
    pages = buf.conn.execute("PRAGMA page_count").fetchone()[0]
    buf.conn.execute(f"PRAGMA max_page_count = {pages}")


def test_disk_full_is_never_acknowledged_and_recovers(make_cfg, clock):
    cfg = make_cfg()
    device = Device(cfg, clock=clock)
    device.adopt()
    seen = []
    device.add_listener(type("L", (), {"on_view": lambda self, v: seen.append(v.state)})())
    ok = device.press(0, "touch").result()
    assert ok.accepted
    clock.advance(10)
    device.pump()
    _disk_full(device.buffer)
    acked, failed = [], []
    for i in range(60):
        clock.advance(10)
        device.pump()
        out = device.press(i % 3, "touch").result()
        if out.stored:
            acked.append(out.event["id"])
        else:
            failed.append(out)
            break
    assert failed, "the size limit never bit"
    (bad,) = failed
    assert bad.reason == "error" and not bad.ack and "full" in bad.error
    assert device.session.state is State.OUT_OF_ORDER
    # presses while out of order are refused, not acknowledged
    assert device.press(1, "touch").result().reason == "error"
    # space returns: the probe brings the device back without a press
    device.buffer.conn.execute("PRAGMA max_page_count = 1073741823")
    clock.advance(PROBE_INTERVAL + 0.1)
    device.pump()
    assert device.session.state is State.RATING
    clock.advance(10)
    assert device.press(4, "touch").result().stored
    stored = {r[0] for r in device.buffer.conn.execute("SELECT id FROM events")}
    assert set(acked) <= stored
    assert State.OUT_OF_ORDER in seen
    assert device.buffer.integrity_ok()


@pytest.fixture
def tiny_fs(tmp_path):
    """A real 512 KiB file system (tmpfs), so the disk really fills up."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _answer(child, line):
    child.stdin.write(line + "\n")
    child.stdin.flush()
    while True:
        out = child.stdout.readline()
        assert out, "device exited"
        if out.startswith(("ACK", "NAK", "ERR")):
            return out.strip()


def test_real_disk_full_in_a_running_headless_device(tmp_path, tiny_fs):
    """The real process on a real full file system: NAK error while full, ACK once space returns."""
    cfg = write_config(tmp_path / "kiosk.toml",
                       f'[device]\nid = "d1"\ndata_dir = "{tiny_fs}"\n[local_api]\nenabled = false\n'
                       '[ui]\ncooldown_seconds = 0\nthanks_seconds = 0.1\n')
    child = subprocess.Popen(kiosk_cmd("run", "--headless", "--console", "--config", str(cfg)),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, bufsize=1)
    try:
        assert _answer(child, "1").startswith("ACK 1")
        filler = tiny_fs / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        answers = [_answer(child, "2") for _ in range(40)]
        nak = [a for a in answers if a.startswith("NAK")]
        assert nak and "error" in nak[0] and "full" in nak[0]
        acked = [a.split("id=")[1] for a in answers if a.startswith("ACK")]
        filler.unlink()
        deadline = time.monotonic() + 20
        while True:
            reply = _answer(child, "3")
            if reply.startswith("ACK"):
                acked.append(reply.split("id=")[1])
                break
            assert time.monotonic() < deadline, "device never recovered"
            time.sleep(0.3)
    finally:
        child.stdin.close()
        child.wait(timeout=20)
    buf = Buffer(tiny_fs / "buffer.db")
    stored = {r[0] for r in buf.conn.execute("SELECT id FROM events")}
    assert set(acked) <= stored
    assert buf.integrity_ok()


def test_write_failure_is_a_buffer_write_error(tmp_path):
    buf = Buffer(tmp_path / "b.db")
    _disk_full(buf)
    clock = FakeClock()
    with pytest.raises(BufferWriteError, match="full"):
        for _ in range(100):
            buf.append(rating(clock, LEVELS[0], "console", WIN))
    with pytest.raises(BufferWriteError):
        buf.probe()
    assert isinstance(BufferWriteError("x"), OSError)


def test_status_of_a_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "b.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BufferCorruptError):
        Buffer(path)
    assert path.read_bytes().startswith(b"not a database")  # untouched without repair
    buf = Buffer(path, repair=True)
    assert buf.incidents()[0]["kind"] == "corrupt_moved_aside"
    assert json.loads(json.dumps(buf.counts()))["events_total"] == 0
    assert sqlite3.connect(path).execute("PRAGMA quick_check").fetchone()[0] == "ok"
