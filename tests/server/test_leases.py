"""Leases (central.leases): one holder per job across processes; the periodic
alert sender runs in one of three server processes, each alert is delivered
exactly once, and when the holder is killed another process takes over."""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
import sqlalchemy as sa

from central import db
from central.leases import Lease, LeasedJob, lock_key, skip_locked
from central.web.tables import alert_outbox, web_meta
from testkit.pg import new_pg_database
from testkit.server import add_device, free_port, make_batch, rating_event, running_server
from tests.web.test_alerts import Receiver, _wait

POLL = 0.3


def test_lock_keys_are_stable_and_distinct():
    assert lock_key("alerts") == lock_key("alerts")
    assert lock_key("alerts") != lock_key("province")
    assert -2**63 <= lock_key("alerts") < 2**63


def test_sqlite_lease_has_one_holder(tmp_path):
    url = str(tmp_path / "c.db")
    db.upgrade(url)
    engine = db.engine_for(url)
    a, b = Lease(engine, "alerts"), Lease(engine, "alerts")
    assert a.hold() and a.hold()
    assert not b.hold()
    assert Lease(engine, "other").hold()  # leases are per name
    a.release()
    assert b.hold() and not a.hold()
    b.release()


@pytest.mark.pg
def test_pg_lease_has_one_holder_and_passes_on(pg_base_url):
    url = new_pg_database(pg_base_url)
    db.upgrade(url)
    engine = db.engine_for(url)
    a, b = Lease(engine, "alerts"), Lease(engine, "alerts")
    assert a.hold() and not b.hold()
    # the holder's session ends (as when its process dies): the next hold() elsewhere takes it
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name LIKE 'kiosk lease alerts %'"))
    _wait(b.hold, what="the lease once its holder's session is gone")  # the backend exits a moment later
    assert not a.hold()  # a notices it lost the lease
    b.release()
    assert a.hold()
    a.release()
    # a job runs only while it holds its lease
    runs: list[str] = []
    jobs = [LeasedJob(engine, "tick", lambda n=n: runs.append(n), every=0.05) for n in ("x", "y")]
    for j in jobs:
        j.start()
    _wait(lambda: len(runs) >= 10, what="job rounds")
    while_both_ran = list(runs)
    for j in jobs:  # the first to stop releases the lease, and the other may then take it
        j.stop()
    assert len(set(while_both_ran)) == 1
    with engine.connect() as conn:
        q = skip_locked(sa.select(web_meta.c.key), conn)
        assert "SKIP LOCKED" in str(q.compile(dialect=conn.dialect))


def _holder(engine) -> int | None:
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT application_name FROM pg_stat_activity "
                                     "WHERE application_name LIKE 'kiosk lease alerts pid %'")).scalars().all()
    assert len(names) <= 1, names
    return int(names[0].rsplit(" ", 1)[1]) if names else None


def _bad_rating(server: str, token: str, device: str) -> None:
    r = requests.post(server + "/api/v1/batches", json=make_batch(device, [rating_event(1)]),
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted", r.text


@pytest.mark.pg
def test_three_processes_deliver_each_alert_once_and_survive_the_holder(pg_base_url):
    url = new_pg_database(pg_base_url)
    db.upgrade(url)
    token = add_device(url, "ls-1")
    engine = db.engine_for(url)
    hook = Receiver(free_port())
    hook.start()
    alerts = {"enabled": True, "url": f"http://127.0.0.1:{hook.port}/hook", "poll_seconds": POLL,
              "retry_seconds": POLL, "timeout_seconds": 2.0}
    try:
        with contextlib.ExitStack() as stack:
            servers = [stack.enter_context(running_server(url, timezone="UTC", alerts=alerts)) for _ in range(3)]
            by_pid = {s.proc.pid: s for s in servers}
            leader = _wait(lambda: _holder(engine), what="a lease holder")
            assert leader in by_pid
            with engine.connect() as conn:  # the holder has scanned once: new cases are announced from here
                _wait(lambda: conn.execute(sa.select(web_meta.c.value).where(
                    web_meta.c.key == "alerts.case_watermark")).first(), what="the first scan")
            # a 差评 through a process that is not the holder
            other = next(s for p, s in by_pid.items() if p != leader)
            _bad_rating(other, token, "ls-1")
            _wait(lambda: len(hook.bodies) >= 1, what="the first alert")
            time.sleep(POLL * 10)  # ten more rounds of every process: nothing is sent again
            assert len(hook.bodies) == 1
            assert _holder(engine) == leader  # the lease stayed where it was

            by_pid[leader].kill()
            successor = _wait(lambda: (h := _holder(engine)) not in (None, leader) and h, what="a new holder")
            assert successor in by_pid and successor != leader
            _bad_rating(by_pid[successor], token, "ls-1")
            _wait(lambda: len(hook.bodies) >= 2, what="the alert after the kill")
            time.sleep(POLL * 10)
            assert len(hook.bodies) == 2
            assert len({b["alert_id"] for b in hook.bodies}) == 2
            assert "now holds the lease alerts" in by_pid[successor].log()
            with engine.connect() as conn:
                rows = conn.execute(sa.select(alert_outbox)).all()
            assert len(rows) == 2 and all(r.sent_at is not None and r.attempts == 1 for r in rows)
    finally:
        hook.stop()
