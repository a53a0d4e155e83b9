"""The event buffer: schema versions, order, result marking, pruning, two processes."""

import json
import multiprocessing
import sqlite3
import uuid

import pytest

from kiosk import buffer as buffer_mod
from kiosk.buffer import MIGRATIONS, SCHEMA_VERSION, Buffer, connect
from kiosk.clock import FakeClock, rfc3339
from kiosk.events import Window, rating, unrated
from kiosk.levels import LEVELS

WIN = Window("A01", "综合服务区", "1001", "张三", 4)


def make_rating(clock, position=0, misuse=False):
    return rating(clock, LEVELS[position], "console", WIN, misuse=misuse)


def test_pragmas_on_every_connection(tmp_path):
    buf = Buffer(tmp_path / "b.db")
    assert buf.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert buf.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    other = connect(tmp_path / "b.db")
    assert other.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert buf.version == SCHEMA_VERSION


@pytest.mark.parametrize("start", range(1, SCHEMA_VERSION))
def test_migrates_from_every_older_version(tmp_path, start):
    """Build a buffer at version ``start`` with data in it, then open it."""
    path = tmp_path / "old.db"
    conn = connect(path)
    import sqlite_utils
    db = sqlite_utils.Database(conn)
    for v in range(1, start + 1):
        MIGRATIONS[v](db)
        conn.execute(f"PRAGMA user_version = {v}")
    clock = FakeClock()
    evs = [make_rating(clock, 4), make_rating(clock, 0, misuse=True)]
    for ev in evs:
        conn.execute("INSERT INTO events (id, type, created_at, payload) VALUES (?, ?, ?, ?)",
                     (ev["id"], ev["type"], ev["created_at"], json.dumps(ev)))
    conn.close()

    buf = Buffer(path)
    assert buf.version == SCHEMA_VERSION
    counts = buf.counts()
    assert counts["pending"] == 2
    assert counts["ratings_by_level"] == {"5": 1, "4": 0, "3": 0, "2": 0, "1": 1}
    assert counts["misuse"] == 1
    assert [e["id"] for e in buf.pending_batch(10)] == [e["id"] for e in evs]
    buf.append(make_rating(clock, 2))
    assert buf.counts()["events_total"] == 3


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Buffer(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(buffer_mod.BufferCorruptError, match="newer than this software"):
        Buffer(path)


def test_batches_come_in_append_order(tmp_path):
    clock = FakeClock()
    buf = Buffer(tmp_path / "b.db")
    ids = []
    for i in range(25):
        ev = make_rating(clock, i % 5)
        clock.advance(1)
        buf.append(ev)
        ids.append(ev["id"])
    assert [e["id"] for e in buf.pending_batch(10)] == ids[:10]
    buf.mark_results([(i, "accepted", None) for i in ids[:10]])
    assert [e["id"] for e in buf.pending_batch(10)] == ids[10:20]
    assert buf.last_seq() == 25


def test_result_marking(tmp_path):
    clock = FakeClock()
    buf = Buffer(tmp_path / "b.db")
    evs = [make_rating(clock, i) for i in range(4)]
    for ev in evs:
        buf.append(ev)
    counts = buf.mark_results([
        (evs[0]["id"], "accepted", None),
        (evs[1]["id"], "duplicate", None),
        (evs[2]["id"], "rejected", "satisfaction: must be 1..5"),
        (str(uuid.uuid4()), "accepted", None),  # unknown id: ignored
    ])
    assert counts == {"synced": 2, "rejected": 1}
    c = buf.counts()
    assert (c["synced"], c["rejected"], c["pending"]) == (2, 1, 1)
    # a rejected event is never handed out again, and keeps its error
    assert [e["id"] for e in buf.pending_batch(10)] == [evs[3]["id"]]
    rej = buf.rejected()
    assert rej[0]["event"]["id"] == evs[2]["id"] and rej[0]["error"] == "satisfaction: must be 1..5"
    # a synced event does not go back to rejected
    buf.mark_results([(evs[0]["id"], "rejected", "late")])
    assert buf.counts()["synced"] == 2
    with pytest.raises(ValueError, match="unknown result status"):
        buf.mark_results([(evs[3]["id"], "maybe", None)])
    assert buf.counts()["pending"] == 1  # nothing applied from the bad call
    assert buf.requeue_rejected() == 1
    assert buf.counts()["pending"] == 2


def test_marking_is_one_transaction(tmp_path, monkeypatch):
    clock = FakeClock()
    buf = Buffer(tmp_path / "b.db")
    evs = [make_rating(clock, i) for i in range(3)]
    for ev in evs:
        buf.append(ev)
    buf.conn.execute("""CREATE TRIGGER boom BEFORE UPDATE OF state ON events
                        WHEN NEW.state = 'rejected' BEGIN SELECT RAISE(ABORT, 'disk gone'); END""")
    with pytest.raises(buffer_mod.BufferWriteError):
        buf.mark_results([(evs[0]["id"], "accepted", None), (evs[1]["id"], "rejected", "x")])
    assert buf.counts()["pending"] == 3  # the accepted one was rolled back too


def test_pruning_keeps_pending_and_rejected(tmp_path):
    clock = FakeClock()
    buf = Buffer(tmp_path / "b.db")
    old = [make_rating(clock, i) for i in range(3)]
    for ev in old:
        buf.append(ev)
    clock.advance(100 * 86400)
    new = make_rating(clock, 0)
    buf.append(new)
    buf.mark_results([(old[0]["id"], "accepted", None), (old[1]["id"], "rejected", "bad"),
                      (new["id"], "accepted", None)])
    assert buf.prune(90, now=clock.time()) == 1
    left = {r[0] for r in buf.conn.execute("SELECT id FROM events")}
    assert left == {old[1]["id"], old[2]["id"], new["id"]}
    assert buf.prune(90, now=clock.time()) == 0


def test_unrated_and_detail_events_are_stored(tmp_path):
    clock = FakeClock()
    buf = Buffer(tmp_path / "b.db")
    buf.append(unrated(clock, WIN, prompt_id="p1", project_no="X1"))
    assert buf.counts()["unrated"] == 1
    assert buf.find_by_prompt("p1")["type"] == "unrated"
    assert buf.find_by_prompt("p2") is None


def test_same_id_twice_is_an_error_not_a_silent_drop(tmp_path):
    buf = Buffer(tmp_path / "b.db")
    ev = make_rating(FakeClock())
    buf.append(ev)
    with pytest.raises(buffer_mod.BufferWriteError, match="already in the buffer"):
        buf.append(ev)


def _appender(path, n, queue):
    buf = Buffer(path)
    clock = FakeClock()
    ids = []
    for i in range(n):
        ev = make_rating(clock, i % 5)
        buf.append(ev)
        ids.append(ev["id"])
    queue.put(ids)


def _marker(path, n, queue):
    buf = Buffer(path)
    marked = 0
    import time
    deadline = time.monotonic() + 60
    while marked < n and time.monotonic() < deadline:
        batch = buf.pending_batch(50)
        if batch:
            marked += buf.mark_results([(e["id"], "accepted", None) for e in batch])["synced"]
    queue.put(marked)


def test_two_processes_write_and_read_at_once(tmp_path):
    path = tmp_path / "b.db"
    Buffer(path).close()
    n = 400
    ctx = multiprocessing.get_context("spawn")
    q1, q2 = ctx.Queue(), ctx.Queue()
    a = ctx.Process(target=_appender, args=(path, n, q1))
    m = ctx.Process(target=_marker, args=(path, n, q2))
    a.start(), m.start()
    ids = q1.get(timeout=120)
    marked = q2.get(timeout=120)
    a.join(), m.join()
    assert a.exitcode == 0 and m.exitcode == 0
    assert marked == n
    buf = Buffer(path)
    assert buf.counts()["synced"] == n
    assert [r[0] for r in buf.conn.execute("SELECT id FROM events ORDER BY seq")] == ids
    assert buf.integrity_ok()


def test_incidents_and_meta(tmp_path):
    buf = Buffer(tmp_path / "b.db")
    buf.set_meta("sync.last_ok_at", rfc3339(0))
    buf.set_meta("device.hardware", {"serial": {"connected": False}})
    assert buf.get_meta("sync.last_ok_at") == "1970-01-01T00:00:00.000Z"
    assert buf.get_meta("device.hardware") == {"serial": {"connected": False}}
    assert buf.get_meta("absent", 7) == 7
