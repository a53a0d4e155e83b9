"""The local API for queue systems, over real HTTP on 127.0.0.1."""

import json

import pytest
import requests

from kiosk.device import Device
from kiosk.local_api import LocalApi


@pytest.fixture
def running(make_cfg, clock):
    devices = []

    def start(token="", **ui):
        cfg = make_cfg(ui={"mode": "transaction", **ui})
        device = Device(cfg, clock=clock)
        device.start()
        api = LocalApi(device, "127.0.0.1:0", token)
        api.start()
        devices.append((device, api))
        return device, api.address

    yield start
    for device, api in devices:
        api.stop()
        device.close()


def test_prompt_then_rating_then_status(running):
    device, url = running()
    r = requests.post(url + "/v1/prompt", json={"project_no": "P2026-7", "ticket_no": "A017",
                                                "staff_no": "1001"}, timeout=5)
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "pending" and body["project_no"] == "P2026-7"
    pid = body["id"]
    assert requests.get(f"{url}/v1/prompt/{pid}", timeout=5).json()["status"] == "pending"
    out = device.press(3, "touch").result(5)
    assert out.accepted and out.event["prompt_id"] == pid
    got = requests.get(f"{url}/v1/prompt/{pid}", timeout=5).json()
    assert got["status"] == "rated" and got["satisfaction"] == 2


def test_unrated_after_timeout(running, clock):
    device, url = running(prompt_timeout_seconds=30)
    pid = requests.post(url + "/v1/prompt", json={}, timeout=5).json()["id"]
    clock.advance(31)
    device.submit(lambda: None).result(5)  # let the session thread run its timers
    device.submit(device.session.tick).result(5)
    assert requests.get(f"{url}/v1/prompt/{pid}", timeout=5).json()["status"] == "unrated"


def test_prompt_found_in_the_buffer_after_restart(running, make_cfg, clock):
    device, url = running()
    pid = requests.post(url + "/v1/prompt", json={}, timeout=5).json()["id"]
    device.press(0, "touch").result(5)
    device.session.prompts.clear()  # as after a restart: only the buffer knows
    assert requests.get(f"{url}/v1/prompt/{pid}", timeout=5).json() == {
        "id": pid, "status": "rated", "satisfaction": 5}


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 400, "bad request body"),
    (b"[1, 2]", 400, "expected a JSON object"),
    (json.dumps({"project_no": {"a": 1}}).encode(), 400, "project_no must be a string"),
    (json.dumps({"project_no": "x" * 65}).encode(), 400, "longer than 64"),
    (b"x" * 5000, 413, "larger than"),
])
def test_bad_requests(running, body, status, message):
    device, url = running()
    r = requests.post(url + "/v1/prompt", data=body, timeout=5)
    assert r.status_code == status and message in r.json()["error"]
    assert device.session.prompt is None


def test_unknown_things(running):
    device, url = running()
    assert requests.get(url + "/v1/prompt/nope", timeout=5).status_code == 404
    assert requests.get(url + "/v2/x", timeout=5).status_code == 404
    assert requests.post(url + "/v1/other", json={}, timeout=5).status_code == 404


def test_token_is_required_when_set(running):
    device, url = running(token="s3cret")
    assert requests.post(url + "/v1/prompt", json={}, timeout=5).status_code == 401
    r = requests.post(url + "/v1/prompt", json={}, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401
    r = requests.post(url + "/v1/prompt", json={}, headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert r.status_code == 201
    assert requests.get(url + "/v1/prompt/" + r.json()["id"], timeout=5).status_code == 401


def test_out_of_order_device_answers_503(running):
    device, url = running()
    pages = device.buffer.conn.execute("PRAGMA page_count").fetchone()[0]
    device.buffer.conn.execute(f"PRAGMA max_page_count = {pages}")
    device.submit(device.session._fail, "buffer is full (test)").result(5)
    r = requests.post(url + "/v1/prompt", json={}, timeout=5)
    assert r.status_code == 503 and "out of order" in r.json()["error"]


def test_bind_conflict_is_a_clear_error(running):
    device, url = running()
    port = url.rsplit(":", 1)[1]
    from kiosk.exceptions import KioskError
    with pytest.raises(KioskError, match="cannot listen on 127.0.0.1:" + port):
        LocalApi(device, f"127.0.0.1:{port}")
