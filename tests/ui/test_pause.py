"""暂停服务: set by the staff through the local API or the technician screen,
shown to citizens, refusing prompts and presses clearly."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from kiosk.local_api import LocalApi
from kiosk.passcode import hash_pin
from kiosk.screens.harness import settle


@pytest.fixture
def api_kiosk(make_kiosk):
    made = []

    def make(**kw):
        k = make_kiosk(mode="transaction", **kw)
        api = LocalApi(k.device, "127.0.0.1:0", token="tok")
        api.start()
        made.append(api)
        return k, api

    yield make
    for api in made:
        api.stop()


def call(k, api, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A real HTTP request from another thread while the Kivy thread runs the session."""

    def request():
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(api.address + path, data=data, method=method,
                                     headers={"Authorization": "Bearer tok", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(request)
        while not fut.done():
            k.device.pump()
            settle(1)
        return fut.result()


def test_pause_through_the_local_api(api_kiosk):
    k, api = api_kiosk()
    status, body = call(k, api, "POST", "/v1/prompt", {"project_no": "P-1"})
    assert status == 201
    open_id = body["id"]
    assert k.screen == "rating"
    assert call(k, api, "POST", "/v1/pause", {"paused": True}) == (200, {"paused": True, "state": "idle"})
    settle(2)
    idle = k.app.screens["idle"]
    assert k.screen == "idle" and idle.wait.text == "暂停服务"
    assert idle.hint.text == "本窗口暂停服务，请到其他窗口办理"
    assert call(k, api, "GET", f"/v1/prompt/{open_id}")[1]["status"] == "unrated", "the open prompt is closed"
    status, body = call(k, api, "POST", "/v1/prompt", {"project_no": "P-2"})
    assert status == 503 and "暂停服务" in body["error"] and "/v1/pause" in body["error"]
    k.key(49, "1")
    assert k.events("rating") == []
    assert call(k, api, "POST", "/v1/pause", {"paused": False})[0] == 200
    settle(2)
    assert idle.wait.text == "欢迎"
    assert call(k, api, "POST", "/v1/prompt", {"project_no": "P-3"})[0] == 201
    assert k.screen == "rating"


@pytest.mark.parametrize("body", [{}, {"paused": "yes"}, {"paused": 1}])
def test_pause_needs_a_boolean(api_kiosk, body):
    k, api = api_kiosk()
    status, answer = call(k, api, "POST", "/v1/pause", body)
    assert status == 400 and '"paused": true' in answer["error"]
    assert not k.device.session.paused


def test_pause_from_the_technician_screen_in_free_mode(make_kiosk):
    from .test_technician import long_press, type_pin

    k = make_kiosk(ui={"technician_pin": hash_pin("2468")})
    long_press(k)
    type_pin(k, "2468")
    tech = k.app.screens["technician"]
    assert tech.actions["pause"].text.text == "暂停服务"
    k.tap(tech.actions["pause"])
    assert tech.message.text.startswith("已暂停服务")
    assert tech.actions["pause"].text.text == "恢复服务"
    assert tech.rows["f_paused"][1].text == "是"
    k.tap(tech.actions["close"])
    assert k.screen == "idle" and k.app.screens["idle"].wait.text == "暂停服务"
    k.key(49, "1")
    assert k.buffer.counts()["events_total"] == 0, "a paused window stores no press"
    long_press(k)
    type_pin(k, "2468")
    k.tap(tech.actions["pause"])
    k.tap(tech.actions["close"])
    assert k.screen == "rating"
    k.tap(k.button(0))
    assert k.screen == "thanks"
