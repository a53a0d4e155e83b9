"""Against the scripted server: every fault leaves nothing lost and nothing
marked synced that the server did not acknowledge; the next try recovers."""

from __future__ import annotations

import pytest

from .conftest import fill

FAULTS = ["hang", "reset", "truncate", "garbage", "no_results", "short", "wrong_ids", "bad_status",
          "reset_before", ("status", 500, {}, "boom"), ("status", 502, {}, "bad gateway"),
          ("status", 400, {}, "malformed")]


def _ids(f):
    return f if isinstance(f, str) else f"status-{f[1]}"


@pytest.mark.parametrize("pipeline", [0, 20], ids=["plain", "backlog"])
@pytest.mark.parametrize("fault", FAULTS, ids=_ids)
def test_fault_marks_nothing_then_recovers(fault, pipeline, server, buf, make_uploader):
    server.hang_seconds = 3.0
    events = fill(buf, 30)
    up = make_uploader(server.url, batch_size=30, timeout=0.5, pipeline=pipeline)
    server.script.append(fault)

    step = up.step()
    assert step.kind == "failed"
    assert step.sent == 0
    assert step.error
    c = buf.counts()
    assert c["pending"] == 30 and c["synced"] == 0 and c["rejected"] == 0
    assert buf.get_meta("sync.last_error") == step.error
    assert buf.get_meta("sync.last_error_at") is not None
    assert buf.get_meta("sync.last_ok_at") is None

    step = up.step()
    assert step.kind == "ok" and step.sent == 30
    c = buf.counts()
    assert c["pending"] == 0 and c["synced"] == 30
    assert set(server.store) == {e["id"] for e in events}
    assert buf.get_meta("sync.last_error") is None
    assert buf.get_meta("sync.last_ok_at") is not None
    assert up.backoff.failures == 0


def test_resend_after_lost_answer_is_counted_once(server, buf, make_uploader):
    fill(buf, 20)
    up = make_uploader(server.url, batch_size=20)
    server.script.extend(["reset", "truncate"])
    assert up.step().kind == "failed"
    assert up.step().kind == "failed"
    assert up.step().kind == "ok"
    # The server saw each event three times and stored it once.
    assert len(server.store) == 20
    assert set(server.deliveries.values()) == {3}
    assert buf.counts()["synced"] == 20


def test_retry_after_is_honoured(server, buf, make_uploader, waits):
    fill(buf, 5)
    up = make_uploader(server.url)
    server.script.extend([("status", 429, {"Retry-After": "7"}, "slow down"),
                          ("status", 503, {"Retry-After": "12"}, "maintenance")])
    s1 = up.step()
    s2 = up.step()
    assert s1.kind == s2.kind == "failed"
    assert 7.0 <= s1.delay <= 7.7
    assert 12.0 <= s2.delay <= 13.2
    assert buf.counts()["pending"] == 5
    assert up.step().kind == "ok"


def test_rejected_events_are_kept_and_not_resent(buf, make_uploader):
    from .conftest import ScriptedServer

    srv = ScriptedServer(reject_if=lambda ev: ev["type"] == "unrated")
    try:
        fill(buf, 20)
        up = make_uploader(srv.url, batch_size=50)
        assert up.step().sent == 20
        c = buf.counts()
        assert c["rejected"] == 2 and c["synced"] == 18 and c["pending"] == 0
        assert [r["error"] for r in buf.rejected()] == ["scripted rejection"] * 2
        assert up.step().kind == "idle"
        assert len(srv.batches) == 1
    finally:
        srv.close()


def test_refused_connection_backs_off(buf, make_uploader):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    fill(buf, 3)
    up = make_uploader(f"http://127.0.0.1:{port}")
    delays = [up.step() for _ in range(4)]
    assert all(d.kind == "failed" for d in delays)
    assert "cannot reach" in delays[0].error
    assert [d.delay for d in delays] == [0.5, 1.0, 2.0, 4.0]  # rng = 0.5 of 1, 2, 4, 8
    assert buf.counts()["pending"] == 3


def test_batches_carry_the_envelope_and_token(server, buf, make_uploader):
    events = fill(buf, 7)
    up = make_uploader(server.url, token="kt_secret", batch_size=3)
    while up.step().kind == "ok":
        pass
    assert [len(b["events"]) for b in server.batches] == [3, 3, 1]
    b = server.batches[0]
    assert b["schema"] == 1 and b["device_id"] == "test-dev"
    assert b["boot_id"] == "test-boot" and isinstance(b["sent_mono_ms"], int)
    assert b["sent_at"].endswith("Z")
    assert [e["id"] for bb in server.batches for e in bb["events"]] == [e["id"] for e in events]
    assert server.batches[0]["events"][0] == events[0]
    h = server.headers[0]
    assert h["Authorization"] == "Bearer kt_secret"
    assert h["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("code,text", [(401, "401 token rejected"), (403, "403 device id refused")])
def test_401_403_stop_uploading_and_keep_the_data(code, text, server, buf, make_uploader, caplog):
    fill(buf, 12)
    up = make_uploader(server.url)
    server.script.append(("status", code, {}, "no"))
    step = up.step()
    assert step.kind == "stopped"
    assert up.stopped.startswith(text)
    assert buf.get_meta("sync.stopped").startswith(text)
    assert buf.counts()["pending"] == 12
    assert any(r.levelname == "CRITICAL" and "UPLOADING STOPPED" in r.getMessage() for r in caplog.records)
    # Stopped: nothing more is sent until the token changes or an hour passes.
    assert up.may_resume() is False
    assert len(server.batches) == 1


def test_stopped_uploader_tries_again_after_an_hour(server, buf, make_uploader):
    from sync.uploader import STOPPED_RETRY

    now = [5000.0]
    fill(buf, 3)
    up = make_uploader(server.url, monotonic=lambda: now[0])
    server.script.append(("status", 401, {}, "revoked"))
    assert up.step().kind == "stopped"
    now[0] += STOPPED_RETRY - 1
    assert up.may_resume() is False
    now[0] += 1
    assert up.may_resume() is True
    assert up.step().kind == "ok"
    assert up.stopped is None and buf.get_meta("sync.stopped") is None
    assert buf.counts()["synced"] == 3
