""""Sync now" from the technician screen cuts a long backoff (or a stop) short."""

from __future__ import annotations

import threading

from kiosk.clock import rfc3339

from .conftest import fill


def test_sync_now_cuts_a_long_backoff_short(server, buf, make_uploader):
    fill(buf, 3)
    up = make_uploader(server.url)
    up.backoff.failures = 8  # a long outage: the next wait is minutes
    server.script.append(("status", 500, {}, "boom"))
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) == 2:
            buf.set_meta("sync.requested", rfc3339(1_800_000_000))  # the technician presses 立即同步
        return buf.counts()["pending"] == 0

    up.run(threading.Event(), wait)
    # the 90 s backoff was waited for 5 s + 5 s only, then the upload went through
    assert waits[:2] == [5.0, 5.0]
    assert sum(waits[:-1]) < 20
    assert buf.counts()["synced"] == 3


def test_an_old_request_does_not_count(server, buf, make_uploader):
    buf.set_meta("sync.requested", rfc3339(1_700_000_000))
    up = make_uploader(server.url)
    assert up.requested() is False
    buf.set_meta("sync.requested", rfc3339(1_700_000_001))
    assert up.requested() is True
    assert up.requested() is False  # once per request


def test_a_heartbeat_that_gets_through_ends_the_backoff(server, buf, make_uploader):
    """The network is back (the heartbeat was answered): no need to sit out minutes of backoff."""
    fill(buf, 2)
    up = make_uploader(server.url)
    up.backoff.failures = 8
    server.script.append(("status", 500, {}, "boom"))
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) == 1:
            up.nudge()  # what Heartbeat.send does after a 2xx while the uploader is failing
        return buf.counts()["pending"] == 0

    up.run(threading.Event(), wait)
    assert waits[0] == 5.0 and sum(waits[:-1]) == 5.0
    assert buf.counts()["synced"] == 2


def test_a_retry_after_is_honoured_even_when_nudged(server, buf, make_uploader):
    fill(buf, 2)
    up = make_uploader(server.url)
    server.script.append(("status", 503, {"Retry-After": "30"}, "busy"))
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        up.nudge()
        return buf.counts()["pending"] == 0

    up.run(threading.Event(), wait)
    assert sum(waits[:-1]) >= 30  # the server's 30 s, nudges or not
    assert buf.counts()["synced"] == 2
