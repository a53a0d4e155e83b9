"""The serial panel over a real pty pair, through a real Device and Buffer."""

from __future__ import annotations

import os
import threading

from kiosk.buffer import Buffer
from kiosk.config import DEVICE_SCHEMA, parse
from kiosk.device import buffer_path
from kiosk.hardware.protocol import checksum
from kiosk.hardware.serial import RETRY_SECONDS, SerialSource

from .conftest import PtyPanel, WriteLock, ratings, wait_for


def with_sum(text: str) -> str:
    return f"{text}*{checksum(text)}"


def test_key_is_acked_once_durable(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk()
    panel.send("KEY 1\r\n")
    assert panel.line() == "ACK 1"
    [r] = ratings(cfg)  # already in the file, read by another connection, when the ACK arrives
    assert r["satisfaction"] == 5 and r["source"] == "serial" and r["misuse"] is False
    panel.send("KEY 5\n")
    assert panel.line() == "ACK 5"
    assert [r["satisfaction"] for r in ratings(cfg)] == [5, 1]
    h = src.health()
    assert h["connected"] and h["ok"] and h["keys"] == 2 and h["acks"] == 2 and h["bad_frames"] == 0


def test_transaction_mode_prompt_idle_and_no_prompt(serial_kiosk, clock):
    dev, src, panel, cfg = serial_kiosk(ui={"mode": "transaction", "thanks_seconds": 3})
    # No prompt open: refused, nothing stored.
    panel.send("KEY 2\n")
    assert panel.line() == "NAK 2 no_prompt"
    assert ratings(cfg) == []
    # TRIG opens a prompt bound to the case and ticket.
    panel.send("TRIG 2026A0001 T042\n")
    assert panel.line() == "PROMPT"
    panel.send("KEY 4\n")
    assert panel.line() == "ACK 4"
    [r] = ratings(cfg)
    assert (r["project_no"], r["ticket_no"], r["satisfaction"]) == ("2026A0001", "T042", 2)
    assert r["prompt_id"]
    # 不满意 → reasons step; when it and the thanks screen time out the window is IDLE again.
    clock.advance(cfg.ui.reasons_timeout_seconds + 0.1)
    dev.submit(dev.pump).result(5)
    clock.advance(cfg.ui.thanks_seconds + 0.1)
    dev.submit(dev.pump).result(5)
    assert panel.line() == "IDLE"
    # A bare TRIG works too.
    panel.send("TRIG\n")
    assert panel.line() == "PROMPT"
    assert dev.view().result(5).prompt.project_no is None


def test_prompt_timeout_sends_idle(serial_kiosk, clock):
    dev, src, panel, cfg = serial_kiosk(ui={"mode": "transaction", "prompt_timeout_seconds": 30})
    panel.send("TRIG P1\n")
    assert panel.line() == "PROMPT"
    clock.advance(31)
    dev.submit(dev.pump).result(5)
    assert panel.line() == "IDLE"
    panel.send("KEY 1\n")
    assert panel.line() == "NAK 1 no_prompt"


def test_cooldown_is_nak_but_stored_as_misuse(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk(ui={"cooldown_seconds": 5})
    panel.send("KEY 3\nKEY 3\n")
    assert panel.line() == "ACK 3"
    assert panel.line() == "NAK 3 cooldown"
    assert [r["misuse"] for r in ratings(cfg)] == [False, True]


def test_heartbeat(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk()
    assert src.health()["last_hb"] is None
    panel.send("HB\n")
    wait_for(lambda: src.health()["last_hb"], what="heartbeat noted")
    assert src.health()["last_hb"].endswith("Z")
    assert panel.quiet(0.2) == []  # HB is not answered
    assert ratings(cfg) == []


def test_checksummed_frames_get_checksummed_replies(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk()
    panel.send(with_sum("KEY 2") + "\r\n")
    assert panel.line() == with_sum("ACK 2")
    # lower-case hex digits are accepted
    panel.send(f"KEY 3*{checksum('KEY 3').lower()}\n")
    assert panel.line() == with_sum("ACK 3")
    # a wrong checksum is dropped: no rating, no reply, counted
    panel.send("KEY 4*00\n")
    panel.send("KEY 1\n")
    assert panel.line() == "ACK 1"
    assert [r["satisfaction"] for r in ratings(cfg)] == [4, 3, 5]
    assert src.health()["bad_frames"] == 1


def test_require_checksum(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk(serial={"require_checksum": True})
    panel.send("KEY 1\nTRIG\nHB\n")
    panel.send(with_sum("KEY 5") + "\n")
    assert panel.line() == with_sum("ACK 5")
    assert [r["satisfaction"] for r in ratings(cfg)] == [1]
    assert src.health()["bad_frames"] == 3 and src.health()["last_hb"] is None


def test_key_map(serial_kiosk):
    # A panel wired right to left: KEY 1 is the rightmost button (非常不满意).
    dev, src, panel, cfg = serial_kiosk(serial={"key_map": [5, 4, 3, 2, 1]})
    panel.send("KEY 1\n")
    assert panel.line() == "ACK 1"  # answered with the panel's own number
    panel.send("KEY 4\n")
    assert panel.line() == "ACK 4"
    assert [r["satisfaction"] for r in ratings(cfg)] == [1, 4]


def test_garbage_and_over_long_lines_are_counted_never_rated(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk()
    panel.send(b"\x00\xff\xfe garbage\n")
    panel.send(b"KEY 1" + b"1" * 300 + b"\n")     # too long, even though it starts like a KEY
    panel.send(b"KEY 9\nKEY\nkey 1\nACK 1\n\n\r\n")
    panel.send(b"K" * 5000)                       # no newline at all: bounded, then resync
    panel.send(b"\nKEY 2\n")
    assert panel.line() == "ACK 2"
    assert [r["satisfaction"] for r in ratings(cfg)] == [4]
    assert src.health()["bad_frames"] == 7


def test_nak_error_when_the_commit_fails_then_ack_again(serial_kiosk, make_cfg, request):
    buf = Buffer(buffer_path(make_cfg()), repair=True, busy_timeout_ms=50)
    dev, src, panel, cfg = serial_kiosk(buffer=buf)
    lock = WriteLock(buf.path)
    request.addfinalizer(lock.release)
    panel.send("KEY 1\n")
    assert panel.line() == "NAK 1 error"
    assert ratings(cfg) == []
    lock.release()
    panel.send("KEY 1\n")
    assert panel.line() == "ACK 1"
    assert len(ratings(cfg)) == 1


def test_ack_waits_for_the_commit(serial_kiosk, make_cfg):
    """A slow disk: the ACK comes only after append() has returned, never before."""
    gate = threading.Event()
    entered = threading.Event()

    class SlowBuffer(Buffer):
        def append(self, event):
            entered.set()
            gate.wait(10)
            return super().append(event)

    buf = SlowBuffer(buffer_path(make_cfg()), repair=True)
    dev, src, panel, cfg = serial_kiosk(buffer=buf)
    panel.send("KEY 3\n")
    assert entered.wait(5)
    assert panel.quiet(0.3) == []  # committing: no answer yet
    gate.set()
    assert panel.line() == "ACK 3"
    assert len(ratings(cfg)) == 1


def test_port_missing_at_start_then_plugged(device_factory, make_cfg, tmp_path):
    link = tmp_path / "ttyPANEL"
    cfg = make_cfg(hardware={"serial": {"enabled": True, "port": str(link)}}, ui={"cooldown_seconds": 0})
    dev = device_factory(cfg)
    src = SerialSource(cfg.hardware.serial, retry_seconds=0.05)
    dev.add_source(src)
    dev.start()
    wait_for(lambda: src.health()["last_error"], what="a failed open")
    h = src.health()
    assert not h["connected"] and not h["ok"] and "ttyPANEL" in h["last_error"]
    assert dev.view().result(5) is not None  # the device runs on without its panel
    panel = PtyPanel()
    try:
        os.symlink(panel.path, link)
        assert panel.line() == "IDLE"  # told the state on connect
        panel.send("KEY 2\n")
        assert panel.line() == "ACK 2"
        assert src.health()["connected"] and src.health()["connects"] == 1
    finally:
        panel.close()


def test_unplug_and_replug(device_factory, make_cfg, tmp_path):
    link = tmp_path / "ttyPANEL"
    first = PtyPanel()
    os.symlink(first.path, link)
    cfg = make_cfg(hardware={"serial": {"enabled": True, "port": str(link)}}, ui={"cooldown_seconds": 0})
    dev = device_factory(cfg)
    src = SerialSource(cfg.hardware.serial, retry_seconds=0.05)
    dev.add_source(src)
    dev.start()
    assert first.line() == "IDLE"
    first.send("KEY 1\nKEY")  # the second frame is cut off by the unplug
    assert first.line() == "ACK 1"
    # Unplug: the other end goes away and the device node disappears.
    first.close()
    os.unlink(link)
    wait_for(lambda: not src.health()["connected"], what="disconnect noticed")
    assert "lost" in (src.health()["last_error"] or "")
    assert src.health()["bad_frames"] == 1  # the cut-off "KEY"
    # Plugged back (a new device node behind the same name).
    second = PtyPanel()
    try:
        os.symlink(second.path, link)
        assert second.line() == "IDLE"
        second.send("KEY 5\n")
        assert second.line() == "ACK 5"
        h = src.health()
        assert h["connected"] and h["connects"] == 2 and h["last_error"] is None
    finally:
        second.close()
    assert [r["satisfaction"] for r in ratings(cfg)] == [5, 1]


def test_retry_interval_default_and_health_keys():
    cfg = parse(DEVICE_SCHEMA, {"hardware": {"serial": {"enabled": True, "port": "/nonexistent/tty"}}})
    src = SerialSource(cfg.hardware.serial)
    assert src.retry_seconds == RETRY_SECONDS == 2.0
    assert set(src.health()) >= {"ok", "connected", "bad_frames", "last_hb", "port"}


def test_stop_is_prompt_and_idempotent(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk()
    src.stop()
    src.stop()
    assert not src.connected
    assert all(not t.is_alive() for t in threading.enumerate() if t.name.startswith("serial-"))


def test_health_reaches_the_buffer_meta(serial_kiosk, clock):
    dev, src, panel, cfg = serial_kiosk()
    panel.send("garbage\nHB\n")
    wait_for(lambda: src.health()["last_hb"], what="heartbeat")
    clock.advance(11)
    dev.submit(dev.pump).result(5)
    with Buffer(buffer_path(cfg)) as buf:
        hw = buf.get_meta("device.hardware")
    assert hw["serial"]["connected"] is True and hw["serial"]["bad_frames"] == 1 and hw["serial"]["last_hb"]


def test_replies_keep_their_order_behind_queued_state_lines(serial_kiosk):
    dev, src, panel, cfg = serial_kiosk()
    panel.send("TRIG A1\nKEY 1\nTRIG A2\nKEY 2\n")
    assert [panel.line() for _ in range(4)] == ["PROMPT", "ACK 1", "PROMPT", "ACK 2"]


def test_reply_the_port_cannot_take_at_once_goes_through_the_writer(serial_kiosk, monkeypatch):
    """A full transmit buffer (EAGAIN) or a short write on the session's thread:
    the reply (or its rest) is handed to the writer thread and arrives whole."""
    dev, src, panel, cfg = serial_kiosk()
    real_write = os.write
    calls = []

    def write(fd, data):
        if threading.current_thread().name == "session":
            calls.append(bytes(data))
            if len(calls) == 1:
                raise BlockingIOError(11, "Resource temporarily unavailable")
            return real_write(fd, data[:2])  # a short write
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    panel.send("KEY 1\n")
    assert panel.line() == "ACK 1"
    panel.send("KEY 2\n")
    assert panel.line() == "ACK 2"
    assert calls == [b"ACK 1\r\n", b"ACK 2\r\n"]
    monkeypatch.undo()
    panel.send("KEY 3\n")
    assert panel.line() == "ACK 3"
    wait_for(lambda: src._queued == 0, what="the writer's queue drained")
