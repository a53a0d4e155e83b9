"""Prompt floods: more than ``[local_api] max_prompts_per_minute`` openings in
any minute answer 429 with Retry-After, and open nothing (no 未评价 piles up).
The clock is the device's injected clock: advanced, never slept on."""

from __future__ import annotations

import pytest
import requests

from kiosk.config import DEVICE_SCHEMA, parse
from kiosk.exceptions import ConfigError

from .local_api_support import AUTH, device_config, running_devices, start_device, stop_device

running = pytest.fixture(running_devices)


def test_the_limit_answers_429_with_retry_after_until_the_minute_has_passed(running, clock):
    r = running(max_prompts_per_minute=3)
    for i in range(3):
        assert r.post(json={"project_no": f"P{i}"}).status_code == 201
        clock.advance(10)  # t = 0, 10, 20
    unrated = r.device.buffer.counts()["unrated"]  # each opening replaced the one before
    assert unrated == 2

    resp = r.post(json={"project_no": "FLOOD"})
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "30"  # the first opening (t = 0) leaves the window at t = 60
    assert "more than 3 prompts in a minute ([local_api] max_prompts_per_minute)" in resp.json()["error"]
    for _ in range(50):  # a runaway client
        assert r.post(json={"project_no": "FLOOD"}).status_code == 429
    assert r.device.buffer.counts()["unrated"] == unrated  # the flood stored nothing
    assert r.device.session.prompt.project_no == "P2"      # and replaced nothing

    clock.advance(29)
    resp = r.post()
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    clock.advance(1)
    assert r.post(json={"project_no": "P3"}).status_code == 201
    assert r.post().status_code == 429  # P1 (t = 10) is still inside the minute
    clock.advance(10)
    assert r.post().status_code == 201


def test_reading_status_is_not_limited(running):
    r = running(max_prompts_per_minute=1)
    pid = r.post().json()["id"]
    assert r.post().status_code == 429
    for _ in range(20):
        assert r.get(f"/v1/prompt/{pid}").status_code == 200


def test_refused_requests_do_not_use_up_the_minute(running):
    r = running(max_prompts_per_minute=2)
    for _ in range(5):
        assert r.post(json=None, data=b"not json").status_code == 400
        assert requests.post(r.url + "/v1/prompt", json={}, timeout=5).status_code == 401
    assert r.post().status_code == 201 and r.post().status_code == 201
    assert r.post().status_code == 429


@pytest.mark.parametrize("value, message", [
    (0, "a number of prompts per minute, 1..6000"),
    (-5, "a number of prompts per minute, 1..6000"),
    (6001, "1..6000"),
    ("60", "expected an integer"),
    (1.5, "expected an integer"),
])
def test_the_setting_is_checked(value, message):
    with pytest.raises(ConfigError, match=r"local_api.max_prompts_per_minute: .*" + message.replace(".", r"\.")):
        parse(DEVICE_SCHEMA, {"local_api": {"max_prompts_per_minute": value}}, "kiosk.toml")
    assert parse(DEVICE_SCHEMA, {}, None).local_api.max_prompts_per_minute == 60


def test_a_real_device_applies_the_configured_limit(tmp_path):
    dev = start_device(device_config(tmp_path, local_api='token = "local-api-test-token-5c1f"\n'
                                                         'max_prompts_per_minute = 2'))
    try:
        codes = [requests.post(dev.url + "/v1/prompt", json={}, headers=AUTH, timeout=10).status_code
                 for _ in range(3)]
        last = requests.post(dev.url + "/v1/prompt", json={}, headers=AUTH, timeout=10)
    finally:
        stop_device(dev)
    assert codes == [201, 201, 429]
    assert 1 <= int(last.headers["Retry-After"]) <= 60
