"""The upload loop's schedule with an injected wait: backoff between
failures, back to full speed on success, a backlog back to back, then idle
polling; a broken buffer read is retried, not fatal."""

from __future__ import annotations

import sqlite3
import threading

from .conftest import fill


def test_failures_back_off_then_backlog_drains_without_pauses(server, buf, make_uploader):
    fill(buf, 250)
    up = make_uploader(server.url, batch_size=100)
    server.script.extend([("status", 500, {}, "boom")] * 3)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return buf.counts()["pending"] == 0

    up.run(threading.Event(), wait)
    # rng = 0.5: half of 1, 2, 4 s; then three batches back to back; then one idle poll.
    assert waits == [0.5, 1.0, 2.0, up.poll_interval]
    assert [len(b["events"]) for b in server.batches] == [100, 100, 100, 100, 100, 50]
    assert buf.counts()["synced"] == 250
    assert up.backoff.failures == 0


def test_new_event_ends_the_idle_wait(server, buf, make_uploader):
    up = make_uploader(server.url)
    polls = []

    def wait(seconds: float) -> bool:
        polls.append(seconds)
        if len(polls) == 3:
            fill(buf, 1)  # a citizen rates while the uploader idles
        return len(polls) > 3 and buf.counts()["pending"] == 0

    up.run(threading.Event(), wait)
    assert polls == [up.poll_interval] * 4
    assert buf.counts()["synced"] == 1 and len(server.batches) == 1


def test_a_buffer_error_is_retried(server, buf, make_uploader, monkeypatch):
    fill(buf, 5)
    up = make_uploader(server.url)
    real = buf.pending
    calls = {"n": 0}

    def flaky(limit, after_seq=0):
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(limit, after_seq)

    monkeypatch.setattr(buf, "pending", flaky)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return buf.counts()["pending"] == 0

    up.run(threading.Event(), wait)
    assert waits[0] == 0.5 and buf.counts()["synced"] == 5


def test_stop_ends_the_loop(server, buf, make_uploader):
    up = make_uploader(server.url)
    stop = threading.Event()
    stop.set()
    up.run(stop)  # returns at once
    assert server.batches == []
