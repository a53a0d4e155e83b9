"""Events go out as the text stored in the buffer, never decoded and encoded
again. A stored text that is damaged (not JSON, not an object, another id,
not text at all) must not block the queue: when the server refuses the batch
(400) or its answer does not match the batch, the uploader looks at the
stored texts, keeps the damaged events as ``rejected`` with the reason, and
sends the rest. Against the real central server on SQLite."""

from __future__ import annotations

import json

import pytest

from kiosk.buffer import Buffer, Pending
from testkit.server import add_device, running_server

from .conftest import assert_stats_match, fill


@pytest.mark.parametrize("damage, reason", [
    ("{broken", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    (None, "its id does not match"),  # a valid event, under another id
    (b"\x00\x01", "not text"),
])
def test_a_damaged_event_is_set_aside_and_the_rest_is_uploaded(tmp_path, make_uploader, waits, damage, reason):
    db = str(tmp_path / "central.db")
    token = add_device(db, "test-dev")
    buf = Buffer(tmp_path / "buffer.db")
    events = fill(buf, 30)
    victim = events[11]["id"]
    if damage is None:
        damage = json.dumps(events[11] | {"id": "not-" + victim})
    buf.conn.execute("UPDATE events SET payload = ? WHERE id = ?", (damage, victim))
    with running_server(db, timezone="UTC") as url:
        up = make_uploader(url, token=token, buffer=buf, batch_size=10)
        assert up.drain(waits) == 0
        counts = buf.counts()
        assert counts["pending"] == 0 and counts["rejected"] == 1 and counts["synced"] == 29
        error = buf.conn.execute("SELECT error FROM events WHERE id = ?", (victim,)).fetchone()[0]
        assert error.startswith("damaged in the buffer: ") and reason in error
        assert up.verdicts["rejected"] == 1
        assert up.verdicts["accepted"] + up.verdicts["duplicate"] == 29
        # the server holds the sound events exactly as the buffer does (the
        # re-labelled copy, a valid event of its own, was stored under its own id)
        buf.conn.execute("DELETE FROM events WHERE id = ?", (victim,))
        if reason == "its id does not match":
            buf.conn.execute("INSERT INTO events (id, type, created_at, payload, state, satisfaction, misuse) "
                             "VALUES (?, 'rating', ?, ?, 'synced', ?, 0)",
                             ("not-" + victim, events[11]["created_at"], damage, events[11]["satisfaction"]))
        assert_stats_match(url, buf)
    buf.close()


def test_the_stored_text_goes_out_unchanged(tmp_path, server, make_uploader):
    buf = Buffer(tmp_path / "buffer.db")
    fill(buf, 3)
    stored = [p.payload for p in buf.pending(10)]
    up = make_uploader(server.url, buffer=buf)
    assert up.step().kind == "ok"
    raw = server.raw_bodies[-1].decode("utf-8")
    assert raw.endswith(',"events":[' + ",".join(stored) + "]}")
    assert json.loads(raw)["device_id"] == "test-dev"
    buf.close()


def test_pending_reads_after_a_sequence_number(tmp_path):
    buf = Buffer(tmp_path / "buffer.db")
    fill(buf, 25)
    first = buf.pending(10)
    assert [p.seq for p in first] == sorted(p.seq for p in first) and len(first) == 10
    second = buf.pending(10, after_seq=first[-1].seq)
    assert second[0].seq > first[-1].seq and len(second) == 10
    assert len(buf.pending(10, after_seq=second[-1].seq)) == 5
    assert all(isinstance(p, Pending) and p.damage() is None for p in first + second)
    buf.close()
