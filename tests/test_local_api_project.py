"""办件 binding over the local API, on a real 127.0.0.1 socket: the 办件 fields of a
prompt travel as the event's ``project``, bad fields are refused naming the field,
``[local_api] require_project_no``, and the applicant's name stays out of logs and
``kiosk status``."""

import json
import logging

import pytest
import requests

from kiosk.config import DEVICE_SCHEMA, parse
from kiosk.device import Device
from kiosk.events import check_project
from kiosk.exceptions import ConfigError
from kiosk.local_api import LocalApi

from .conftest import run_kiosk
from .local_api_support import AUTH, TOKEN, device_config, running_devices, start_device, stop_device

running = pytest.fixture(running_devices)

APPLICANT = "欧阳明远"
FULL = {
    "project_no": "370102-2026-000731", "ticket_no": "A017", "staff_no": "1001",
    "task_code": "11370000MB285591XJ3370117001000", "task_name": "城乡居民基本养老保险参保登记",
    "dept_code": "11370100MB2856012X", "dept_name": "济南市社会保险事业中心",
    "user_name": APPLICANT, "user_prop": 1,
    "accept_date": "2026-11-30", "promise_date": "2026-12-04T17:30:00+08:00",
}
PROJECT = {k: v for k, v in FULL.items() if k not in ("ticket_no", "staff_no")}


def pending(device) -> list[dict]:
    return device.buffer.pending_batch(1000)


def test_all_fields_reach_the_rating_event_as_project(running):
    r = running()
    resp = r.post(json=FULL)
    assert resp.status_code == 201, resp.text
    assert r.device.press(0, "touch").result(5).accepted
    (event,) = pending(r.device)
    assert event["type"] == "rating"
    assert event["project"] == PROJECT
    assert list(event["project"]) == list(PROJECT)  # wire order
    assert (event["project_no"], event["ticket_no"]) == ("370102-2026-000731", "A017")


def test_unrated_event_carries_project_and_omits_missing_keys(running, clock):
    r = running(prompt_timeout_seconds=30)
    r.post(json={"project_no": " P-9 ", "task_name": "不动产登记", "user_prop": "2", "dept_code": ""})
    clock.advance(31)
    r.device.submit(r.device.session.tick).result(5)
    (event,) = pending(r.device)
    assert event["type"] == "unrated"
    assert event["project"] == {"project_no": "P-9", "task_name": "不动产登记", "user_prop": 2}
    assert event["project_no"] == "P-9"


def test_no_banjian_means_no_project_key(running):
    r = running()
    assert r.post(json={"ticket_no": "A1"}).status_code == 201
    assert r.device.press(1, "touch").result(5).accepted
    (event,) = pending(r.device)
    assert "project" not in event and event["project_no"] is None and event["ticket_no"] == "A1"


def test_console_trigger_binds_project_no_only(running):
    r = running()
    r.device.trigger("P-77", "B2").result(5)
    assert r.device.press(0, "console").result(5).accepted
    (event,) = pending(r.device)
    assert event["project"] == {"project_no": "P-77"} and event["ticket_no"] == "B2"


@pytest.mark.parametrize("field,value,message", [
    ("user_prop", 3, "user_prop must be 1 (个人) or 2 (法人), got 3"),
    ("user_prop", True, "user_prop must be 1 (个人) or 2 (法人), got True"),
    ("user_prop", "个人", "user_prop must be 1 (个人) or 2 (法人)"),
    ("accept_date", "2026-13-01", "accept_date must be a date YYYY-MM-DD or an RFC 3339 time"),
    ("accept_date", "2026/11/30", "accept_date must be a date YYYY-MM-DD or an RFC 3339 time"),
    ("promise_date", "2026-12-04T17:30:00", "promise_date must be a date YYYY-MM-DD or an RFC 3339 time"),
    ("promise_date", 20261204, "promise_date must be a date YYYY-MM-DD or an RFC 3339 time"),
    ("task_name", "办" * 201, "task_name is longer than 200 characters"),
    ("dept_name", ["济南"], "dept_name must be a string"),
    ("user_name", {"name": "x"}, "user_name must be a string"),
    ("user_name", "名" * 101, "user_name is longer than 100 characters"),
    ("task_code", "x" * 65, "task_code is longer than 64 characters"),
    ("project_no", "x" * 65, "project_no is longer than 64 characters"),
])
def test_bad_fields_are_refused_naming_the_field(running, field, value, message):
    r = running()
    resp = r.post(json={**FULL, field: value})
    assert resp.status_code == 400
    assert message in resp.json()["error"] and field in resp.json()["error"]
    assert r.prompts_opened() == 0 and pending(r.device) == []


@pytest.mark.parametrize("value", ["2026-11-30", "2026-11-30T09:05:00Z", "2026-11-30t09:05:00.250+08:00",
                                   "2026-11-30 09:05:00+08:00"])
def test_dates_accepted_as_given(value):
    assert check_project({"accept_date": value}) == {"accept_date": value}


@pytest.fixture
def strict_api(make_cfg, clock):
    device = Device(make_cfg(ui={"mode": "transaction"}, local_api={"require_project_no": True}), clock=clock)
    device.start()
    api = LocalApi(device, "127.0.0.1:0", TOKEN, require_project_no=device.cfg.local_api.require_project_no)
    api.start()
    yield api
    api.stop()
    device.close()


@pytest.mark.parametrize("body", [{}, {"ticket_no": "A1", "task_name": "x"}, {"project_no": "  "},
                                  {"project_no": None}])
def test_require_project_no_refuses_prompts_without_one(strict_api, body):
    resp = requests.post(strict_api.address + "/v1/prompt", json=body, headers=AUTH, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["code"] == "project_no_required"
    assert "project_no" in resp.json()["error"] and "require_project_no" in resp.json()["error"]
    assert len(strict_api.device.session.prompts) == 0


def test_require_project_no_lets_a_bound_prompt_through(strict_api):
    resp = requests.post(strict_api.address + "/v1/prompt", json={"project_no": "P-1"}, headers=AUTH, timeout=5)
    assert resp.status_code == 201 and resp.json()["project_no"] == "P-1"
    assert "code" not in resp.json()


def test_require_project_no_config_key():
    assert parse(DEVICE_SCHEMA, {}).local_api.require_project_no is False
    assert parse(DEVICE_SCHEMA, {"local_api": {"require_project_no": True}}).local_api.require_project_no is True
    with pytest.raises(ConfigError, match=r"local_api.require_project_no: 'yes' is not valid: expected a boolean"):
        parse(DEVICE_SCHEMA, {"local_api": {"require_project_no": "yes"}}, "kiosk.toml")


def test_user_name_never_logged(running, caplog):
    caplog.set_level(logging.DEBUG)
    r = running()
    r.post(json=FULL)
    r.device.press(4, "touch").result(5)  # a 差评: the reasons step opens too
    r.post(json={**FULL, "user_prop": 9})  # refused: the error names the field, not the name
    r.post(json={**FULL, "accept_date": APPLICANT})
    assert pending(r.device)[0]["project"]["user_name"] == APPLICANT  # it is kept, only not logged
    assert caplog.records and APPLICANT not in caplog.text


def test_real_device_requires_project_no_and_status_hides_the_name(tmp_path):
    config = device_config(tmp_path, local_api=f'token = "{TOKEN}"\nrequire_project_no = true')
    dev = start_device(config)
    try:
        headers = {**AUTH, "Host": f"127.0.0.1:{dev.port}"}
        refused = requests.post(dev.url + "/v1/prompt", json={"ticket_no": "A1"}, headers=headers, timeout=5)
        assert refused.status_code == 400 and refused.json()["code"] == "project_no_required"
        opened = requests.post(dev.url + "/v1/prompt", json={**FULL, "staff_no": None}, headers=headers, timeout=5)
        assert opened.status_code == 201, opened.text
    finally:
        stop_device(dev)
    assert APPLICANT not in dev.log()
    text = run_kiosk("status", "--config", str(config), check=True).stdout
    as_json = run_kiosk("status", "--config", str(config), "--json", check=True).stdout
    assert "require_project_no" in text or "require_project_no" in as_json
    assert json.loads(as_json)["local_api"]["require_project_no"] is True
    for out in (text, as_json):
        assert APPLICANT not in out


def test_a_logged_prompt_does_not_show_the_name(running):
    r = running()
    r.post(json=FULL)
    prompt = r.device.session.prompt
    assert prompt.project["user_name"] == APPLICANT and APPLICANT not in repr(prompt)
