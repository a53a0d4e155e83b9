"""The backlog path: batch N+1 is on the wire while batch N's verdicts are
written, yet requests stay one at a time and in order, and a failure in the
middle marks exactly what the server acknowledged."""

from __future__ import annotations

import threading

from .conftest import ScriptedServer, fill


def sent_ids(server) -> list[str]:
    return [e["id"] for b in server.batches for e in b["events"]]


def test_backlog_in_order_one_request_at_a_time(server, buf, make_uploader):
    events = fill(buf, 2000)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    step = up.step()
    assert step.kind == "ok" and step.sent == 2000
    assert sent_ids(server) == [e["id"] for e in events]
    assert server.max_in_flight == 1
    assert buf.counts()["synced"] == 2000
    assert up.verdicts == {"accepted": 2000}
    assert up.step().kind == "idle"


def test_a_round_is_bounded(server, buf, make_uploader):
    fill(buf, 1000)
    up = make_uploader(server.url, batch_size=100, pipeline=3)
    assert up.step().sent == 300
    assert buf.counts()["pending"] == 700


def test_a_stop_request_ends_the_round_after_the_batch_in_flight(server, buf, make_uploader):
    fill(buf, 1000)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    up._stop_event = threading.Event()
    up._stop_event.set()
    assert up.step().sent == 100


def test_failure_mid_backlog_marks_only_acknowledged_batches(server, buf, make_uploader):
    events = fill(buf, 1000)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    server.script.extend(["ok", "ok", "ok", "reset"])
    step = up.step()
    assert step.kind == "failed" and step.sent == 300
    c = buf.counts()
    assert c["synced"] == 300 and c["pending"] == 700
    # The batch whose answer was lost was stored by the server; it is resent and deduplicated.
    assert len(server.store) == 400
    step = up.step()
    assert step.kind == "ok" and step.sent == 700
    assert set(server.store) == {e["id"] for e in events}
    assert up.verdicts == {"accepted": 900, "duplicate": 100}
    assert server.max_in_flight == 1


def test_bad_body_mid_backlog(server, buf, make_uploader):
    fill(buf, 500)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    server.script.extend(["ok", "wrong_ids"])
    step = up.step()
    assert step.kind == "failed" and step.sent == 100
    assert buf.counts()["synced"] == 100
    assert up.step().sent == 400


def test_413_mid_backlog_splits(server, buf, make_uploader):
    events = fill(buf, 400)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    server.script.extend(["ok", ("status", 413, {}, "too big")])
    step = up.step()
    assert step.kind == "ok" and step.sent == 200
    assert up.limit == 50
    while up.step().kind == "ok":
        pass
    assert buf.counts()["synced"] == 400
    stored_order = [e["id"] for b in server.batches for e in b["events"] if len(b["events"]) <= 50 or
                    b is server.batches[0]]
    assert stored_order == [e["id"] for e in events]


def test_401_mid_backlog_stops(server, buf, make_uploader):
    fill(buf, 500)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    server.script.extend(["ok", "ok", ("status", 401, {}, "revoked")])
    step = up.step()
    assert step.kind == "stopped" and step.sent == 200
    assert buf.counts()["pending"] == 300
    assert buf.get_meta("sync.stopped").startswith("401")


def test_rejections_mid_backlog(buf, make_uploader):
    srv = ScriptedServer(reject_if=lambda ev: ev["type"] == "unrated")
    try:
        fill(buf, 1000)
        up = make_uploader(srv.url, batch_size=100, pipeline=20)
        assert up.step().sent == 1000
        c = buf.counts()
        assert c["rejected"] == 100 and c["synced"] == 900
    finally:
        srv.close()


def test_run_loop_uses_the_backlog_path(server, buf, make_uploader):
    fill(buf, 1000)
    up = make_uploader(server.url, batch_size=100, pipeline=20)
    stop = threading.Event()

    def wait(seconds: float) -> bool:
        return buf.counts()["pending"] == 0

    up.run(stop, wait)
    assert buf.counts()["synced"] == 1000 and server.max_in_flight == 1
