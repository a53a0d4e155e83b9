"""Three ``kiosk server`` processes behind a real nginx on one PostgreSQL:
one is killed with SIGKILL in the middle of the uploads, and every event is
still in the database exactly once, and every uploader finishes."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import requests
import sqlalchemy as sa

from central import db
from testkit.nginx import nginx_available, running_nginx
from testkit.pg import new_pg_database
from testkit.server import add_device, make_batch, rating_event, running_server

pytestmark = pytest.mark.pg

DEVICES = 6
BATCHES = 30
PER_BATCH = 20


@pytest.fixture(scope="module")
def nginx_ok():
    ok, reason = nginx_available()
    if not ok:
        pytest.fail(reason)


class Uploader(threading.Thread):
    """One device sending its batches through the proxy, each until it is answered 200
    (as the real uploader does: a failed batch is sent again, same event ids)."""

    def __init__(self, base: str, device_id: str, token: str, sent: threading.Semaphore):
        super().__init__(daemon=True)
        self.base, self.device_id, self.sent = base, device_id, sent
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.event_ids: list[str] = []
        self.statuses: dict[str, int] = {}
        self.failures: list[str] = []
        self.done = False

    def run(self) -> None:
        for b in range(BATCHES):
            events = [rating_event(5 - (b + i) % 3, window_no=self.device_id) for i in range(PER_BATCH)]
            self.event_ids += [e["id"] for e in events]
            body = make_batch(self.device_id, events)
            for _attempt in range(50):
                try:
                    r = self.session.post(self.base + "/api/v1/batches", json=body, timeout=30)
                except requests.RequestException as exc:
                    self.failures.append(type(exc).__name__)
                    time.sleep(0.2)
                    continue
                if r.status_code == 200:
                    for res in r.json()["results"]:
                        self.statuses[res["status"]] = self.statuses.get(res["status"], 0) + 1
                    break
                self.failures.append(str(r.status_code))
                time.sleep(0.2)
            else:
                return
            self.sent.release()
        self.done = True


def test_kill_one_of_three_mid_load_loses_nothing(pg_base_url, nginx_ok, tmp_path, monkeypatch):
    url = new_pg_database(pg_base_url)
    db.upgrade(url)
    tokens = {f"mp-{i}": add_device(url, f"mp-{i}") for i in range(DEVICES)}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(running_server(url, timezone="UTC")) for _ in range(3)]
        proxy = stack.enter_context(running_nginx([int(s.rsplit(":", 1)[1]) for s in servers]))
        sent = threading.Semaphore(0)
        uploaders = [Uploader(proxy, d, t, sent) for d, t in tokens.items()]
        for u in uploaders:
            u.start()
        for _ in range(DEVICES * BATCHES // 3):  # a third of the batches answered
            assert sent.acquire(timeout=120), "the uploads stalled before the kill"
        victim = servers[1]
        victim.kill()
        for u in uploaders:
            u.join(timeout=300)
        assert all(u.done for u in uploaders), [u.failures[-5:] for u in uploaders if not u.done]
        # nginx sent the batches the dead process had, or could not reach, to the others
        failures = [f for u in uploaders for f in u.failures]
        assert failures == [], failures
        # nginx did try the dead process and passed the request on to the next one
        victim_port = victim.rsplit(":", 1)[1]
        assert f"127.0.0.1:{victim_port}" in proxy.log(), proxy.log()[-2000:]
        # the survivors still serve, and the dead one is really dead
        for s in (servers[0], servers[2]):
            assert requests.get(s + "/healthz", timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(victim + "/healthz", timeout=5)

    sent_ids = [e for u in uploaders for e in u.event_ids]
    assert len(sent_ids) == len(set(sent_ids)) == DEVICES * BATCHES * PER_BATCH
    engine = db.engine_for(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(db.events.c.event_id, sa.func.count()).group_by(db.events.c.event_id)).all()
        ratings = conn.execute(sa.select(sa.func.count()).select_from(db.ratings)).scalar_one()
    counts = dict(stored)
    assert set(counts) == set(sent_ids)  # nothing lost, nothing foreign
    assert set(counts.values()) == {1}  # each exactly once
    assert ratings == len(sent_ids)
    # every event was answered accepted or (a resend of a batch the dead process had stored) duplicate
    answered = {}
    for u in uploaders:
        for k, v in u.statuses.items():
            answered[k] = answered.get(k, 0) + v
    assert set(answered) <= {"accepted", "duplicate"}, answered
    assert sum(answered.values()) == len(sent_ids), answered
