"""Heartbeats are answered from one read and their last-seen times are written
together: kept in memory until the interval passes, until something in the
server reads them, or until the server stops; the answer is always current."""

from __future__ import annotations

import requests
import sqlalchemy as sa

from central import db
from testkit.server import revoke_device, running_server

from .conftest import Api


def _stored(db_url: str, device_id: str):
    with db.engine_for(db_url).connect() as conn:
        return conn.execute(sa.select(db.devices.c.last_seen_at, db.devices.c.last_state)
                            .where(db.devices.c.device_id == device_id)).one()


def test_heartbeats_are_kept_then_written_together(db_url):
    with running_server(db_url, heartbeat_flush_seconds=60) as url:
        api = Api(url, db_url)
        a, b = api.device("hb"), api.device("hb")
        for n in (1, 2, 3):
            for dev in (a, b):
                r = requests.post(url + "/api/v1/heartbeat", json={"pending": n}, headers=dev.headers, timeout=10)
                assert r.status_code == 200
                assert r.json()["settings"]["values"]["rectify_days"] == 5
        # within the interval nothing was written yet…
        assert _stored(db_url, a.id).last_seen_at is None
        # …but whatever reads the devices in this server sees the newest state
        listing = {d["device_id"]: d for d in api.get("/api/v1/devices", role="viewer").json()}
        assert listing[a.id]["state"] == {"pending": 3} and listing[b.id]["state"] == {"pending": 3}
        assert _stored(db_url, b.id).last_state == '{"pending": 3}'
        requests.post(url + "/api/v1/heartbeat", json={"pending": 4}, headers=a.headers, timeout=10)
        url.stop()  # a graceful stop writes what is kept
        assert _stored(db_url, a.id).last_state == '{"pending": 4}'


def test_heartbeat_answer_follows_settings_and_revocation(api):
    dev = api.device("hb")
    beat = lambda: requests.post(api.url + "/api/v1/heartbeat", json={}, headers=dev.headers, timeout=10)  # noqa: E731
    first = beat().json()["settings"]
    r = api.http.put(api.url + f"/api/v1/devices/{dev.id}/settings", json={"mode": "transaction"},
                     headers=api.as_role("admin"), timeout=10)
    assert r.status_code == 200, r.text
    second = beat().json()["settings"]
    assert second["version"] != first["version"] and second["values"]["mode"] == "transaction"
    revoke_device(api.db_url, dev.id)
    r = beat()
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    r = requests.post(api.url + "/api/v1/heartbeat", json={}, timeout=10)
    assert r.status_code == 401 and "missing device token" in r.json()["error"]
