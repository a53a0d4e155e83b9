"""The heartbeat's fast path (central.api.fastpath) answers a good heartbeat as the
route does, without the app's stack, and hands every other request to the app
with its body intact, so the route's own answers and errors hold; through the
real ``kiosk server`` too."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from starlette.testclient import TestClient

from central import db
from central.api.fastpath import HeartbeatFastPath
from central.api.routes.devices import MAX_HEARTBEAT
from central.app import create_app
from central.config import load_settings
from testkit.server import add_device, revoke_device, running_server

SECURITY = ("x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy")


class Seen:
    """The app, counting the heartbeats that reach it."""

    def __init__(self, app):
        self.app, self.state, self.heartbeats = app, app.state, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/api/v1/heartbeat":
            self.heartbeats += 1
        await self.app(scope, receive, send)


@pytest.fixture
def clients(tmp_path):
    url = str(tmp_path / "c.db")
    db.upgrade(url)
    token = add_device(url, "fp-1", window="7", section="综合区")
    other = add_device(url, "fp-2")
    app = create_app(load_settings(None, db=url, heartbeat_flush_seconds=0))
    seen = Seen(app)
    with TestClient(HeartbeatFastPath(seen, MAX_HEARTBEAT)) as fast, TestClient(app) as plain:
        yield fast, plain, seen, {"a": token, "b": other, "url": url}


def _post(client, token, body=None, **kw):
    return client.post("/api/v1/heartbeat", headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},
                       **({"json": body} if body is not None else {}), **kw)


def test_a_good_heartbeat_is_answered_as_the_route_answers_it(clients):
    fast, plain, seen, t = clients
    got = _post(fast, t["a"], {"pending": 2, "device_id": "fp-1"})
    assert seen.heartbeats == 0  # answered beside the app
    want = _post(plain, t["a"], {"pending": 3})
    assert got.status_code == want.status_code == 200
    assert got.json().keys() == want.json().keys() == {"server_time", "settings"}
    assert got.json()["settings"] == want.json()["settings"]
    assert got.json()["settings"]["values"]["rectify_days"] == 5
    for h in SECURITY + ("content-type",):
        assert got.headers[h] == want.headers[h], h
    metrics = fast.get("/metrics").text
    assert "kiosk_heartbeats_total 2" in metrics.replace(".0", "")
    assert 'route="/api/v1/heartbeat"' in metrics
    with db.engine_for(t["url"]).connect() as conn:  # written at once ([server] heartbeat_flush_seconds = 0)
        state = conn.execute(db.devices.select().where(db.devices.c.device_id == "fp-1")).one().last_state
    assert state == '{"pending": 3}'


@pytest.mark.parametrize("case, status", [
    ("unknown token", 401), ("revoked token", 401), ("not an object", 400), ("not JSON", 400),
    ("another device", 403), ("too big", 413), ("chunked", 200), ("no token", 401)])
def test_anything_else_reaches_the_route_with_its_body(clients, case, status):
    fast, _plain, seen, t = clients
    token, kw = t["a"], {}
    if case == "unknown token":
        token = "kd_" + "x" * 40
    elif case == "revoked token":
        revoke_device(t["url"], "fp-2")
        token = t["b"]
    elif case == "not an object":
        kw = {"json": [1, 2]}
    elif case == "not JSON":
        kw = {"content": b"{pending"}
    elif case == "another device":
        kw = {"json": {"device_id": "fp-2"}}
    elif case == "too big":
        kw = {"json": {"x": "y" * (MAX_HEARTBEAT + 10)}}
    elif case == "chunked":
        kw = {"content": iter([b'{"pend', b'ing": 1}'])}
    elif case == "no token":
        r = fast.post("/api/v1/heartbeat", json={"pending": 1})
        assert r.status_code == status and seen.heartbeats == 1
        return
    r = _post(fast, token, **({"json": {"pending": 1}} | kw if "content" not in kw else kw))
    assert r.status_code == status, r.text
    assert seen.heartbeats == 1  # the route answered
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    for h in SECURITY:
        assert h in r.headers


def test_a_body_that_stops_coming_gets_the_routes_408(db_url):
    with running_server(db_url, body_timeout_seconds=1) as url:
        token = add_device(db_url, "fp-slow")
        host, port = url.split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(f"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"pend".encode())
            t0 = time.monotonic()
            head = s.recv(4096).decode()
        assert head.startswith("HTTP/1.1 408"), head
        assert time.monotonic() - t0 < 8
        good = requests.post(url + "/api/v1/heartbeat", json={"pending": 0},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert good.status_code == 200 and good.headers["x-frame-options"] == "DENY"
