"""The local API for queue systems, over real HTTP on 127.0.0.1: prompts, status, errors."""

import json

import pytest

from kiosk.exceptions import KioskError
from kiosk.local_api import ROUTES, LocalApi

from .local_api_support import running_devices

running = pytest.fixture(running_devices)


def test_prompt_then_rating_then_status(running):
    r = running()
    resp = r.post(json={"project_no": "P2026-7", "ticket_no": "A017", "staff_no": "1001"})
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "pending" and body["project_no"] == "P2026-7"
    pid = body["id"]
    assert r.get(f"/v1/prompt/{pid}").json()["status"] == "pending"
    out = r.device.press(3, "touch").result(5)
    assert out.accepted and out.event["prompt_id"] == pid
    got = r.get(f"/v1/prompt/{pid}").json()
    assert got["status"] == "rated" and got["satisfaction"] == 2


def test_unrated_after_timeout(running, clock):
    r = running(prompt_timeout_seconds=30)
    pid = r.post().json()["id"]
    clock.advance(31)
    r.device.submit(lambda: None).result(5)  # let the session thread run its timers
    r.device.submit(r.device.session.tick).result(5)
    assert r.get(f"/v1/prompt/{pid}").json()["status"] == "unrated"


def test_prompt_found_in_the_buffer_after_restart(running):
    r = running()
    pid = r.post().json()["id"]
    r.device.press(0, "touch").result(5)
    r.device.session.prompts.clear()  # as after a restart: only the buffer knows
    assert r.get(f"/v1/prompt/{pid}").json() == {"id": pid, "status": "rated", "satisfaction": 5}


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 400, "bad request body"),
    (b"[1, 2]", 400, "expected a JSON object"),
    (json.dumps({"project_no": {"a": 1}}).encode(), 400, "project_no must be a string"),
    (json.dumps({"project_no": True}).encode(), 400, "project_no must be a string"),
    (json.dumps({"project_no": "x" * 65}).encode(), 400, "longer than 64"),
    (b"x" * (64 * 1024 + 1), 413, "larger than 65536 bytes"),
])
def test_bad_requests(running, body, status, message):
    r = running()
    resp = r.post(json=None, data=body)
    assert resp.status_code == status and message in resp.json()["error"]
    assert r.device.session.prompt is None


def test_a_body_up_to_the_cap_is_read(running):
    r = running()
    body = json.dumps({"project_no": "P1", "note": "x" * (64 * 1024 - 40)}).encode()
    assert len(body) <= 64 * 1024
    resp = r.post(json=None, data=body)
    assert resp.status_code == 201 and resp.json()["project_no"] == "P1"


def test_unknown_things(running):
    r = running()
    assert r.get("/v1/prompt/nope").status_code == 404
    assert r.get("/v2/x").status_code == 404
    assert r.post("/v1/other").status_code == 404
    resp = r.post("/v1/prompt/abc")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"
    assert "POST is not allowed on /v1/prompt/abc" in resp.json()["error"]


def test_token_is_required(running):
    r = running(token="s3cret")
    import requests

    assert requests.post(r.url + "/v1/prompt", json={}, timeout=5).status_code == 401
    resp = requests.post(r.url + "/v1/prompt", json={}, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    resp = requests.post(r.url + "/v1/prompt", json={}, headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert resp.status_code == 201
    assert requests.get(r.url + "/v1/prompt/" + resp.json()["id"], timeout=5).status_code == 401


def test_the_api_never_runs_without_a_token(running):
    r = running()
    with pytest.raises(KioskError, match="the local API needs a token"):
        LocalApi(r.device, "127.0.0.1:0", "")


def test_out_of_order_device_answers_503(running):
    r = running()
    pages = r.device.buffer.conn.execute("PRAGMA page_count").fetchone()[0]
    r.device.buffer.conn.execute(f"PRAGMA max_page_count = {pages}")
    r.device.submit(r.device.session._fail, "buffer is full (test)").result(5)
    resp = r.post()
    assert resp.status_code == 503 and "out of order" in resp.json()["error"]


def test_bind_conflict_is_a_clear_error(running):
    r = running()
    with pytest.raises(KioskError, match=f"cannot listen on 127.0.0.1:{r.port}"):
        LocalApi(r.device, f"127.0.0.1:{r.port}", "t")


def test_a_route_is_one_table_entry(running, monkeypatch):
    """A new endpoint is a Route and a method: the pipeline (Host, Origin, token) applies to it."""
    import kiosk.local_api as la

    r = running()
    monkeypatch.setattr(la, "ROUTES", ROUTES + (la.Route("POST", "/v1/echo", "echo", body=True),))
    monkeypatch.setattr(LocalApi, "echo", lambda self, req: (200, {"got": req.body}), raising=False)
    assert r.post("/v1/echo", json={"a": 1}).json() == {"got": {"a": 1}}
    assert r.post("/v1/echo", headers={"Origin": "http://evil.example"}).status_code == 403
