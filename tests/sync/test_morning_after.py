"""The morning after an outage, small: 200 real uploaders (each its own buffer,
client, backoff and loop thread) come back together with a backlog against a
real server that processes one batch at a time. The server sheds with 503 and
Retry-After, the uploaders wait at least what they were told, /healthz keeps
answering, and every event is stored exactly once."""

from __future__ import annotations

import threading
import time

import requests
import sqlalchemy as sa

from central import db
from kiosk.backoff import Backoff
from kiosk.buffer import Buffer
from kiosk.clock import FakeClock
from sync.client import Client
from sync.uploader import Uploader
from testkit.server import add_device, running_server

from .conftest import fill

DEVICES = 200
EVENTS = 20
TIME_SCALE = 50.0  # the uploaders' waits pass this much faster (the wait asked for is what is checked)


class RecordingBackoff(Backoff):
    def __init__(self, log: list):
        super().__init__(base=1.0, cap=180.0)
        self.told: list[tuple[float, float]] = []  # (Retry-After, the delay chosen)
        self.log = log  # ("told", delay) and ("wait", seconds) in the order they happened

    def failure(self, retry_after: float | None = None) -> float:
        delay = super().failure(retry_after)
        if retry_after is not None:
            self.told.append((retry_after, delay))
            self.log.append(("told", delay))
        return delay


def test_a_fleet_returns_after_an_outage(central_db, tmp_path):
    tokens = {f"m-{i:03d}": add_device(central_db, f"m-{i:03d}") for i in range(DEVICES)}
    with running_server(central_db, max_inflight_batches=1) as url:
        stop = threading.Event()
        uploaders, waits = [], []
        for k, (device_id, token) in enumerate(tokens.items()):
            buf = Buffer(tmp_path / f"{device_id}.db")
            fill(buf, EVENTS, start=k * EVENTS)
            asked: list[tuple[str, float]] = []
            waits.append(asked)
            uploaders.append(Uploader(buf, Client(url, token, timeout=30), device_id=device_id, batch_size=200,
                                      clock=FakeClock(), backoff=RecordingBackoff(asked), pipeline=0, in_flight=1,
                                      recheck_interval=1.0))

        def loop(up: Uploader, asked: list[float]) -> None:
            def wait(seconds: float) -> bool:
                asked.append(("wait", seconds))
                return stop.wait(seconds / TIME_SCALE)
            up.run(stop, wait)

        health: list[int] = []

        def probe() -> None:
            s = requests.Session()
            while not stop.wait(0.2):
                health.append(s.get(url + "/healthz", timeout=30).status_code)

        threads = [threading.Thread(target=loop, args=(up, w), daemon=True) for up, w in zip(uploaders, waits,
                                                                                               strict=True)]
        threads.append(threading.Thread(target=probe, daemon=True))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and any(up.buffer.counts()["pending"] for up in uploaders):
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)

        with db.engine_for(central_db).connect() as conn:
            stored = conn.execute(sa.select(db.events.c.event_id, db.events.c.device_id)).all()
        assert not any(up.buffer.pending(1) for up in uploaders), "every buffer is fully synced"
        assert len(stored) == DEVICES * EVENTS == len({r.event_id for r in stored})
        for up in uploaders:
            assert up.buffer.counts()["synced"] == EVENTS
            assert up.verdicts["accepted"] + up.verdicts["duplicate"] == EVENTS
        told = [t for up in uploaders for t in up.backoff.told]  # type: ignore[attr-defined]
        assert told, "the server shed some batches with 503 + Retry-After"
        assert all(delay >= retry_after >= 1 for retry_after, delay in told)
        # after each 503 the uploader's loop waited (in slices) at least the delay it chose
        for log in waits:
            for i, (kind, delay) in enumerate(log):
                if kind == "told":
                    waited = 0.0
                    for kind2, seconds in log[i + 1:]:
                        if kind2 == "told":
                            break
                        waited += seconds
                    assert waited >= delay - 1e-6
        assert len({retry_after for retry_after, _ in told}) > 1, "the waits are spread, not one value"
        assert health and set(health) == {200}
        for up in uploaders:
            up.buffer.close()
