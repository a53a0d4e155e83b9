"""Two server processes on one PostgreSQL receive the same batches at the same
time: every event is stored once, counted once and opens at most one case."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
import sqlalchemy as sa

from central.db import cases, engine_for, events, rollup_daily
from testkit.server import add_device, make_batch, rating_event, running_server, unrated_event

from .conftest import new_pg_database

pytestmark = pytest.mark.pg


def test_two_servers_store_each_event_once(pg_base_url):
    db_url = new_pg_database(pg_base_url)
    token = add_device(db_url, "twin-1", section="并发")
    headers = {"Authorization": f"Bearer {token}"}
    day = "2026-11-05T03:00:00.000Z"
    batches = []
    for _ in range(12):
        evs = [rating_event((i % 5) + 1, created_at=day, section="并发", window_no=str(i % 3))
               for i in range(40)]
        evs += [unrated_event(created_at=day, section="并发")]
        # overlap between consecutive batches, in a different order
        if batches:
            evs += list(reversed(batches[-1]["events"][:10]))
        batches.append(make_batch("twin-1", evs))
    unique = {e["id"] for b in batches for e in b["events"]}

    with running_server(db_url) as a, running_server(db_url) as b:
        statuses: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(4)

        def send(url: str, order: list[dict]) -> None:
            barrier.wait()
            for batch in order:
                r = requests.post(url + "/api/v1/batches", json=batch, headers=headers, timeout=60)
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        statuses.extend(x["status"] for x in r.json()["results"])

        threads = [threading.Thread(target=send, args=(a, batches)),
                   threading.Thread(target=send, args=(b, batches)),
                   threading.Thread(target=send, args=(a, list(reversed(batches)))),
                   threading.Thread(target=send, args=(b, list(reversed(batches))))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert "rejected" not in statuses
        stats = requests.get(a + "/api/v1/stats", params={"from": "2026-11-05", "to": "2026-11-05",
                                                          "section": "并发"}, timeout=10).json()

    engine = engine_for(db_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        n_cases = conn.execute(sa.select(sa.func.count()).select_from(cases)).scalar_one()
        rolled = conn.execute(sa.select(sa.func.sum(rollup_daily.c.count))).scalar_one()
    assert stored == len(unique)
    assert statuses.count("accepted") == len(unique)
    n_ratings = sum(1 for bt in batches for e in bt["events"][:40])
    n_bad = sum(1 for bt in batches for e in bt["events"][:40] if e["satisfaction"] <= 2)
    assert n_cases == n_bad
    assert rolled == n_ratings + len(batches)
    assert stats["total"]["count"] == n_ratings and stats["total"]["unrated"] == len(batches)
    assert stats["total"]["bad_unrectified"] == n_bad
    assert uuid.UUID(next(iter(unique)))


def test_database_gone_gives_503_with_retry_after(pg_base_url):
    import psycopg

    db_url = new_pg_database(pg_base_url)
    token = add_device(db_url, "gone-1")
    headers = {"Authorization": f"Bearer {token}"}
    with running_server(db_url) as url:
        assert requests.post(url + "/api/v1/batches", json=make_batch("gone-1", [rating_event(5)]),
                             headers=headers, timeout=10).status_code == 200
        name = db_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        r = requests.post(url + "/api/v1/batches", json=make_batch("gone-1", [rating_event(5)]),
                          headers=headers, timeout=30)
        assert r.status_code == 503 and r.headers["Retry-After"].isdigit()
        hb = requests.post(url + "/api/v1/heartbeat", json={"pending": 1}, headers=headers, timeout=30)
        assert hb.status_code == 503 and hb.headers["Retry-After"].isdigit()
        assert requests.get(url + "/healthz", timeout=30).status_code == 503
    from testkit.server import _dispose_engines
    _dispose_engines("/" + name)
