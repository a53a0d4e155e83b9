"""Chaos: thousands of events through a fault-injecting proxy while the real
server is restarted and killed; the server ends with exactly the device's
events, each once, and its statistics match the buffer.

Default: 5,000 events on SQLite. ``KIOSK_CHAOS_EVENTS=N`` makes it longer,
``KIOSK_CHAOS_BACKEND=pg`` runs it on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
import sqlalchemy as sa

from kiosk.buffer import Buffer
from sync.client import Client
from sync.uploader import Backoff, Uploader
from testkit.server import add_device, running_server

from .chaosproxy import ChaosProxy
from .conftest import assert_stats_match, make_events, new_pg_database

N_EVENTS = int(os.environ.get("KIOSK_CHAOS_EVENTS", "5000"))
BACKEND = os.environ.get("KIOSK_CHAOS_BACKEND", "sqlite")


@pytest.fixture
def chaos_db(tmp_path, request):
    if BACKEND == "pg":
        return new_pg_database(request.getfixturevalue("pg_base_url"))
    return str(tmp_path / "central.db")


@pytest.mark.slow
def test_chaos_every_event_exactly_once(tmp_path, chaos_db):
    from central import db as central_db

    token = add_device(chaos_db, "test-dev")
    path = tmp_path / "data" / "buffer.db"
    device_buf = Buffer(path)  # the device's connection (appends)
    sync_buf = Buffer(path)  # the uploader's connection
    events = make_events(N_EVENTS)
    restarts = {"restart": 0, "kill": 0}
    with running_server(chaos_db, timezone="UTC") as srv:
        proxy = ChaosProxy(int(srv.url.rsplit(":", 1)[1]), seed=20261201)
        up = Uploader(sync_buf, Client(proxy.url, token, timeout=2.0), device_id="test-dev",
                      batch_size=100, backoff=Backoff(base=0.02, cap=0.5), poll_interval=0.05)
        stop = threading.Event()
        uploader = threading.Thread(target=up.run, args=(stop,))
        uploader.start()
        t0 = time.monotonic()
        try:
            # The device appends in bursts while the server is restarted and killed.
            chunks = [events[i:i + 250] for i in range(0, len(events), 250)]
            every = max(1, len(chunks) // 5)
            for n, chunk in enumerate(chunks):
                with device_buf.db.atomic():
                    for ev in chunk:
                        device_buf.append(ev)
                time.sleep(0.1)
                if n % every == every - 1:
                    if n // every % 2:
                        srv.kill()
                        restarts["kill"] += 1
                        srv.start()
                    else:
                        srv.restart()
                        restarts["restart"] += 1
            t_appended = time.monotonic()
            deadline = time.monotonic() + 120
            while sync_buf.counts()["pending"]:
                assert time.monotonic() < deadline, f"not drained: {sync_buf.counts()}"
                time.sleep(0.1)
            t_drained = time.monotonic()
        finally:
            stop.set()
            uploader.join(10)
            proxy.close()

        c = sync_buf.counts()
        assert c["synced"] == N_EVENTS and c["rejected"] == 0
        engine = central_db.engine_for(chaos_db)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT event_id FROM events WHERE device_id = 'test-dev'")).scalars().all()
            n_ratings = conn.execute(sa.text("SELECT count(*) FROM ratings")).scalar()
        assert len(rows) == N_EVENTS
        assert set(rows) == {e["id"] for e in events}
        assert n_ratings == sum(1 for e in events if e["type"] == "rating")
        assert_stats_match(srv.url, sync_buf)

    # The chaos really happened.
    assert restarts["restart"] >= 2 and restarts["kill"] >= 2
    assert proxy.faults["reset_down"] > 0 and proxy.faults["reset_up"] > 0 and proxy.faults["drop"] > 0
    # Answers were lost after the server had stored the events: the resends were duplicates.
    assert up.verdicts["duplicate"] > 0
    assert up.verdicts["accepted"] + up.verdicts["duplicate"] == N_EVENTS
    print(f"chaos: {N_EVENTS} events, restarts {restarts}, proxy faults {dict(proxy.faults)}, "
          f"verdicts {dict(up.verdicts)}; appending+restarts {t_appended - t0:.1f} s, "
          f"drain after that {t_drained - t_appended:.1f} s")
    device_buf.close()
    sync_buf.close()
