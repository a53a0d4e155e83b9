"""Ratings from every channel (docs/api.md "Other channels"): staff entries from
paper forms, phone calls and the 办不成事 window, and other systems' ratings with an
integration key, on a real server, into the statistics and the 差评 cases exactly
like a device rating."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from central import db, remote
from central.web import csrf
from testkit.server import rating_event

from .conftest import PASSWORD


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


class Hall:
    """One section with one registered window (a device) and two staff in the roster."""

    def __init__(self, api):
        self.api = api
        tag = uuid.uuid4().hex[:6]
        self.section, self.window = f"区-{tag}", f"W{tag}"
        self.staff, self.other = f"S{tag}", f"T{tag}"
        self.device = api.device(window=self.window, section=self.section, staff_no=self.staff)
        engine = db.engine_for(api.db_url)
        remote.put_staff(engine, self.staff, "王芳")
        remote.put_staff(engine, self.other, "李雷")

    def entry(self, role: str = "clerk", **fields) -> requests.Response:
        body = {"source": "paper", "window_no": self.window, "satisfaction": 5, "rated_at": today(), **fields}
        return self.api.post("/api/v1/entries", role=role, json=body)

    def ratings(self) -> list[dict]:
        r = self.api.get("/api/v1/ratings", role="admin", params={"section": self.section, "page_size": 1000})
        assert r.status_code == 200, r.text
        return r.json()["ratings"]

    def cases(self) -> list[dict]:
        r = self.api.get("/api/v1/cases", role="admin", params={"section": self.section, "page_size": 1000})
        assert r.status_code == 200, r.text
        return r.json()["cases"]


def add_integration(db_url: str, name: str, source: str) -> str:
    out = subprocess.run([sys.executable, "-m", "kiosk.cli", "admin", "add-integration", "--db", db_url,
                          "--name", name, "--source", source], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "shown once" in out.stderr
    key = out.stdout.strip()
    assert key.startswith("ki_")
    return key


def test_each_entry_source_counts_in_stats_and_opens_cases(api):
    hall = Hall(api)
    for source, sat in (("paper", 5), ("phone", 1), ("counter", 2)):
        r = hall.entry(source=source, satisfaction=sat, form_no=f"{source}-1",
                       reasons=["110"] if sat == 1 else [], comment="办理太慢", phone="13800138000")
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "accepted"
    stats = api.stats(section=hall.section)["total"]
    assert stats["count"] == 3
    assert stats["levels"]["5"] == 1 and stats["levels"]["1"] == 1 and stats["levels"]["2"] == 1
    assert stats["bad"] == 2
    rows = {r["source"]: r for r in hall.ratings()}
    assert set(rows) == {"paper", "phone", "counter"}
    assert {s: rows[s]["channel"] for s in rows} == {"paper": 5, "phone": 6, "counter": 5}
    assert rows["phone"]["staff_no"] == hall.staff and rows["phone"]["staff_name"] == "王芳"
    assert rows["phone"]["window_no"] == hall.window and rows["phone"]["section"] == hall.section
    assert rows["phone"]["reasons"] == ["110"] and rows["phone"]["comment"] == "办理太慢"
    assert rows["phone"]["day"] == today()
    cases = hall.cases()
    assert sorted(c["satisfaction"] for c in cases) == [1, 2]
    assert {c["rating_id"] for c in cases} == {rows["phone"]["id"], rows["counter"]["id"]}
    assert all(c["state"] == "open" for c in cases)


def test_same_form_number_is_a_duplicate_per_source(api):
    hall = Hall(api)
    first = hall.entry(form_no="F-0001", satisfaction=4)
    assert first.status_code == 201, first.text
    again = hall.entry(form_no="F-0001", satisfaction=4)
    assert again.status_code == 200, again.text
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    other_source = hall.entry(source="phone", form_no="F-0001", satisfaction=4)
    assert other_source.status_code == 201
    no_form = [hall.entry(satisfaction=3) for _ in range(2)]
    assert [r.status_code for r in no_form] == [201, 201]
    assert api.stats(section=hall.section)["total"]["count"] == 4


def test_named_staff_and_rfc3339_time(api):
    hall = Hall(api)
    r = hall.entry(staff_no=hall.other, rated_at="2026-11-30T01:30:00Z", satisfaction=4, project_no="P-9")
    assert r.status_code == 201, r.text
    row = hall.ratings()[0]
    assert (row["staff_no"], row["staff_name"], row["day"], row["project_no"]) == (hall.other, "李雷",
                                                                                  "2026-11-30", "P-9")


@pytest.mark.parametrize("fields, field", [
    ({"window_no": "no-such-window"}, "window_no"),
    ({"staff_no": "NOBODY"}, "staff_no"),
    ({"satisfaction": 6}, "satisfaction"),
    ({"satisfaction": True}, "satisfaction"),
    ({"rated_at": "yesterday"}, "rated_at"),
    ({"rated_at": "2999-01-01"}, "rated_at"),
    ({"source": "device"}, "source"),
    ({"satisfaction": 5, "reasons": ["110"]}, "reasons"),
    ({"phone": "call me"}, "phone"),
    ({"comment": "x" * 501}, "comment"),
])
def test_bad_entries_are_refused_naming_the_field(api, fields, field):
    hall = Hall(api)
    r = hall.entry(**fields)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(field), r.text
    assert hall.ratings() == []


def test_clerk_enters_and_reads_but_cannot_act_or_see_phones(api):
    hall = Hall(api)
    r = hall.entry(role="clerk", satisfaction=1, reasons=["110"], phone="13800138000")
    assert r.status_code == 201, r.text
    listed = api.get("/api/v1/ratings", role="clerk", params={"section": hall.section})
    assert listed.status_code == 200
    assert listed.json()["ratings"][0]["phone"] != "13800138000"
    assert "138" in listed.json()["ratings"][0]["phone"]
    case_id = hall.cases()[0]["id"]
    moved = api.post(f"/api/v1/cases/{case_id}/transition", role="clerk", json={"to": "verifying", "note": "x"})
    assert moved.status_code == 403
    followup = api.post(f"/api/v1/cases/{case_id}/followups", role="clerk",
                        json={"method": "phone", "reached": True, "satisfied": "yes"})
    assert followup.status_code == 403
    staff = api.http.put(api.url + f"/api/v1/staff/{hall.staff}", json={"name": "改名"},
                         headers=api.as_role("clerk"), timeout=10)
    assert staff.status_code == 403
    settings = api.http.put(api.url + f"/api/v1/devices/{hall.device.id}/settings", json={"window": "9"},
                            headers=api.as_role("clerk"), timeout=10)
    assert settings.status_code == 403
    assert hall.entry(role="viewer").status_code == 403
    assert hall.entry(role="supervisor").status_code == 201
    assert requests.post(api.url + "/api/v1/entries", json={}, timeout=10).status_code == 401


def test_cookie_session_needs_the_csrf_header(api):
    hall = Hall(api)
    name = f"clerk-{uuid.uuid4().hex[:6]}"
    from testkit.server import add_user
    add_user(api.db_url, name, PASSWORD, "clerk")
    s = requests.Session()
    token = s.post(api.url + "/api/v1/login", json={"username": name, "password": PASSWORD}, timeout=10).json()["token"]
    s.cookies.set("kiosk_session", token)
    body = {"source": "paper", "window_no": hall.window, "satisfaction": 5, "rated_at": today()}
    assert s.post(api.url + "/api/v1/entries", json=body, timeout=10).status_code == 403
    bad = s.post(api.url + "/api/v1/entries", json=body, headers={"X-CSRF-Token": "0" * 64}, timeout=10)
    assert bad.status_code == 403
    ok = s.post(api.url + "/api/v1/entries", json=body, headers={"X-CSRF-Token": csrf.token_for(token)}, timeout=10)
    assert ok.status_code == 201, ok.text


def test_integration_ratings_and_duplicates_by_external_id(api):
    hall = Hall(api)
    key = add_integration(api.db_url, f"sms-gw-{uuid.uuid4().hex[:4]}", "sms")
    h = {"Authorization": f"Bearer {key}"}
    body = {"external_id": "SMS-1", "window_no": hall.window, "satisfaction": 2, "rated_at": today(),
            "phone": "13900139000"}
    r = requests.post(api.url + "/api/v1/channel-ratings", json=body, headers=h, timeout=10)
    assert r.status_code == 201, r.text
    again = requests.post(api.url + "/api/v1/channel-ratings", json=body, headers=h, timeout=10)
    assert again.status_code == 200 and again.json() == {"id": r.json()["id"], "status": "duplicate"}
    other = add_integration(api.db_url, f"app-{uuid.uuid4().hex[:4]}", "app")
    same_id = requests.post(api.url + "/api/v1/channel-ratings", json={**body, "satisfaction": 5},
                            headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert same_id.status_code == 201, same_id.text
    missing = requests.post(api.url + "/api/v1/channel-ratings", json={**body, "external_id": None},
                            headers=h, timeout=10)
    assert missing.status_code == 400 and missing.json()["error"].startswith("external_id")
    for bad in ({}, {"Authorization": "Bearer ki_nope"}, api.as_role("admin"), hall.device.headers):
        assert requests.post(api.url + "/api/v1/channel-ratings", json=body, headers=bad,
                             timeout=10).status_code == 401
    rows = {r["source"]: r for r in hall.ratings()}
    assert (rows["sms"]["channel"], rows["app"]["channel"]) == (7, 2)
    assert rows["sms"]["device_id"].startswith("integration:")
    assert [c["rating_id"] for c in hall.cases()] == [rows["sms"]["id"]]
    assert api.stats(section=hall.section)["total"]["count"] == 2


def test_integration_key_opens_nothing_else(api):
    key = add_integration(api.db_url, f"gw-{uuid.uuid4().hex[:4]}", "sms")
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    batch = '{"device_id": "x", "boot_id": "b", "sent_mono_ms": 1, "events": []}'
    assert requests.post(api.url + "/api/v1/batches", data=batch, headers=h, timeout=10).status_code == 401
    assert requests.post(api.url + "/api/v1/heartbeat", data="{}", headers=h, timeout=10).status_code == 401
    for path in ("/api/v1/ratings", "/api/v1/cases", "/api/v1/devices", "/api/v1/staff", "/api/v1/me"):
        assert requests.get(api.url + path, headers=h, timeout=10).status_code == 401, path
    assert requests.post(api.url + "/api/v1/entries", json={}, headers=h, timeout=10).status_code == 401


def test_mixed_channels_counted_together(api):
    """A known data set: 2 device, 3 paper, 1 phone, 2 counter, 2 sms and 1 app ratings."""
    hall = Hall(api)
    events = [rating_event(5, window_no=hall.window, section=hall.section, staff_no=hall.staff),
              rating_event(2, window_no=hall.window, section=hall.section, staff_no=hall.staff)]
    assert [r["status"] for r in api.results(hall.device, events)] == ["accepted", "accepted"]
    for source, sat in (("paper", 5), ("paper", 4), ("paper", 1), ("phone", 3), ("counter", 2), ("counter", 5)):
        assert hall.entry(source=source, satisfaction=sat).status_code == 201
    sms = {"Authorization": f"Bearer {add_integration(api.db_url, f'sms-{uuid.uuid4().hex[:4]}', 'sms')}"}
    app = {"Authorization": f"Bearer {add_integration(api.db_url, f'app-{uuid.uuid4().hex[:4]}', 'app')}"}
    for headers, ext, sat in ((sms, "m1", 5), (sms, "m2", 1), (app, "a1", 4)):
        body = {"external_id": ext, "window_no": hall.window, "satisfaction": sat, "rated_at": today()}
        assert requests.post(api.url + "/api/v1/channel-ratings", json=body, headers=headers,
                             timeout=10).status_code == 201
    by_source: dict[str, int] = {}
    for row in hall.ratings():
        by_source[row["source"]] = by_source.get(row["source"], 0) + 1
    assert by_source == {"touch": 2, "paper": 3, "phone": 1, "counter": 2, "sms": 2, "app": 1}
    total = api.stats(section=hall.section)["total"]
    assert total["count"] == 11
    assert total["levels"] == {"5": 4, "4": 2, "3": 1, "2": 2, "1": 2}
    assert total["bad"] == 4
    assert len(hall.cases()) == 4


def test_bad_rating_alert_names_its_source(api):
    from central.web.alerts import NEW_BAD, build_message

    hall = Hall(api)
    assert hall.entry(source="phone", satisfaction=1).status_code == 201
    case = api.get(f"/api/v1/cases/{hall.cases()[0]['id']}", role="admin").json()
    text = build_message(NEW_BAD, case, fmt="generic", base_url="", tz=ZoneInfo("Asia/Shanghai"), alert_id=1)["text"]
    assert "来源：电话" in text
    device_case = dict(case, rating={**case["rating"], "source": "touch"})
    assert "来源：现场评价器" in build_message(NEW_BAD, device_case, fmt="generic", base_url="",
                                           tz=ZoneInfo("Asia/Shanghai"), alert_id=1)["text"]


def test_sms_example_script_maps_replies_and_posts_once(api):
    hall = Hall(api)
    key = add_integration(api.db_url, f"sms-ex-{uuid.uuid4().hex[:4]}", "sms")
    script = [sys.executable, "tools/sms_gateway_example.py", "--server", api.url, "--key", key,
              "--window", hall.window, "--sms-id", "SMS-9", "--reply", "1"]
    first = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and first.stdout.startswith("201"), first.stdout + first.stderr
    again = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert again.stdout.startswith("200") and "duplicate" in again.stdout
    bad = subprocess.run(script[:-4] + ["--sms-id", "SMS-10", "--reply", "5"], capture_output=True, text=True,
                         timeout=60)
    assert bad.stdout.startswith("201")
    rows = sorted((r["satisfaction"], r["source"]) for r in hall.ratings())
    assert rows == [(1, "sms"), (5, "sms")]  # reply "1" (非常满意) is wire 5, reply "5" is wire 1
