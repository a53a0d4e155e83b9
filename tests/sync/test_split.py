"""413: the batch is split in halves until the server takes it."""

from __future__ import annotations

from .conftest import ScriptedServer, fill


def test_413_splits_the_batch(buf, make_uploader):
    srv = ScriptedServer(max_events=30)
    try:
        events = fill(buf, 100)
        up = make_uploader(srv.url, batch_size=100)
        step = up.step()
        assert step.kind == "ok" and step.sent == 100
        assert buf.counts()["synced"] == 100
        assert up.limit == 25
        sizes = [len(b["events"]) for b in srv.batches]
        assert sizes[:3] == [100, 50, 25]
        # Order is kept across the split.
        sent = [e["id"] for b in srv.batches if len(b["events"]) <= 30 for e in b["events"]]
        assert sent == [e["id"] for e in events]
        assert up.backoff.failures == 0
    finally:
        srv.close()


def test_a_failure_in_the_second_half_keeps_the_first_half(server, buf, make_uploader):
    fill(buf, 10)
    up = make_uploader(server.url, batch_size=10)
    server.script.extend([("status", 413, {}, "too big"), "ok", ("status", 500, {}, "boom")])
    step = up.step()
    assert step.kind == "failed" and step.sent == 5
    assert buf.counts()["synced"] == 5 and buf.counts()["pending"] == 5
    assert up.step().kind == "ok"
    assert buf.counts()["synced"] == 10


def test_one_event_too_large_alone_is_kept_as_rejected(buf, make_uploader):
    srv = ScriptedServer(max_events=0)
    try:
        fill(buf, 2)
        up = make_uploader(srv.url, batch_size=2)
        step = up.step()
        assert step.kind == "ok"
        c = buf.counts()
        assert c["rejected"] == 2 and c["pending"] == 0
        assert "too large" in buf.rejected()[0]["error"]
        assert up.step().kind == "idle"
    finally:
        srv.close()
