"""GET /api/v1/stats (docs/api.md): arithmetic on a known data set, misuse,
invalidated cases, unrated prompts, filters, grouping and timezone days."""

from __future__ import annotations

import uuid

import pytest
import requests

from testkit.server import rating_event, running_server, unrated_event

DAY = "2026-11-10"
T = "2026-11-10T02:00:00.000Z"  # 10:00 in Asia/Shanghai


def _case_of(api, rating_id: str) -> int:
    cases = api.get("/api/v1/cases", role="supervisor", params={"page_size": 1000}).json()["cases"]
    return next(c["id"] for c in cases if c["rating_id"] == rating_id)


def _move(api, case_id: int, *states: str) -> None:
    """Steps by one supervisor; ``invalid`` is requested by one and approved by another (§9)."""
    for to in states:
        steps = [("invalid_requested", "supervisor"), ("invalid", "admin")] if to == "invalid" else [(to, "supervisor")]
        for step, role in steps:
            r = api.post(f"/api/v1/cases/{case_id}/transition", role=role, json={"to": step, "note": f"→ {step}"})
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def known(api):
    """A section with a known mix of ratings, misuse, unrated and case states."""
    section = "S-" + uuid.uuid4().hex[:6]
    # one device per window: a device's window comes from its registration
    dev1, dev2 = api.device(section=section, window="1"), api.device(section=section, window="2")

    def r(level, window, staff, **kw):
        return rating_event(level, created_at=T, section=section, window_no=window, staff_no=staff, **kw)

    w1 = [r(5, "1", "A1"), r(5, "1", "A1"), r(4, "1", "A1"), r(3, "1", "A1"), r(2, "1", "A1"), r(1, "1", "A1")]
    w2 = [r(5, "2", "B2"), r(1, "2", "B2", misuse=True), r(2, "2", "B2")]
    un = [unrated_event(created_at=T, section=section, window_no="1", staff_no="A1"),
          unrated_event(created_at=T, section=section, window_no="1", staff_no="A1"),
          unrated_event(created_at=T, section=section, window_no="2", staff_no="B2")]
    res = api.results(dev1, w1 + un[:2]) + api.results(dev2, w2 + un[2:])
    assert {x["status"] for x in res} == {"accepted"}
    _move(api, _case_of(api, w1[4]["id"]), "verified", "rectified")   # w1 level 2: rectified
    _move(api, _case_of(api, w1[5]["id"]), "verified")                # w1 level 1: still unrectified
    _move(api, _case_of(api, w2[2]["id"]), "invalid")                 # w2 level 2: leaves the stats
    return section


def test_totals(api, known):
    s = api.stats(**{"from": DAY, "to": DAY, "section": known})
    assert s["from"] == DAY and s["to"] == DAY
    assert s["total"] == {"count": 7, "levels": {"5": 3, "4": 1, "3": 1, "2": 1, "1": 1}, "bad": 2,
                          "bad_unrectified": 1, "good_rate": pytest.approx(5 / 7, abs=1e-6), "unrated": 3,
                          "rectified": 1, "rectify_rate": 0.5, "overdue": 1, "followup_rate": None}
    assert s["groups"] == []


def test_include_misuse(api, known):
    s = api.stats(**{"from": DAY, "to": DAY, "section": known, "include_misuse": "true"})
    t = s["total"]
    assert t["count"] == 8 and t["levels"]["1"] == 2 and t["bad"] == 3
    assert t["bad_unrectified"] == 1  # a misuse press opens no case
    assert t["good_rate"] == pytest.approx(5 / 8, abs=1e-6)


def test_group_by(api, known):
    base = {"from": DAY, "to": DAY, "section": known}
    by_window = {g["key"]: g for g in api.stats(**base, group_by="window")["groups"]}
    assert set(by_window) == {"1", "2"}
    assert by_window["1"]["count"] == 6 and by_window["1"]["bad"] == 2
    assert by_window["1"]["bad_unrectified"] == 1 and by_window["1"]["unrated"] == 2
    assert by_window["1"]["good_rate"] == pytest.approx(4 / 6, abs=1e-6)
    assert by_window["2"] == {"key": "2", "count": 1, "levels": {"5": 1, "4": 0, "3": 0, "2": 0, "1": 0},
                              "bad": 0, "bad_unrectified": 0, "good_rate": 1.0, "unrated": 1,
                              "rectified": 0, "rectify_rate": None, "overdue": 0, "followup_rate": None}
    by_staff = {g["key"]: g["count"] for g in api.stats(**base, group_by="staff")["groups"]}
    assert by_staff == {"A1": 6, "B2": 1}
    by_day = api.stats(**base, group_by="day")["groups"]
    assert [g["key"] for g in by_day] == [DAY]
    by_section = api.stats(**base, group_by="section")["groups"]
    assert [(g["key"], g["count"]) for g in by_section] == [(known, 7)]


def test_filters(api, known):
    base = {"from": DAY, "to": DAY, "section": known}
    assert api.stats(**base, window="2")["total"]["count"] == 1
    assert api.stats(**base, staff_no="A1")["total"]["unrated"] == 2
    assert api.stats(**{"from": "2026-11-11", "to": "2026-11-30", "section": known})["total"]["count"] == 0
    empty = api.stats(**base, window="nope")["total"]
    assert empty == {"count": 0, "levels": {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}, "bad": 0,
                     "bad_unrectified": 0, "good_rate": None, "unrated": 0, "rectified": 0,
                     "rectify_rate": None, "overdue": 0, "followup_rate": None}


def test_timezone_day_boundary(api):
    section = "TZ-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    late = rating_event(5, created_at="2026-12-01T16:30:00.000Z", section=section)   # 00:30 on 12-02 in Shanghai
    early = rating_event(4, created_at="2026-12-01T15:59:59.999Z", section=section)  # 23:59 on 12-01
    api.results(dev, [late, early])
    assert api.stats(**{"from": "2026-12-02", "to": "2026-12-02", "section": section})["total"]["levels"] == \
        {"5": 1, "4": 0, "3": 0, "2": 0, "1": 0}
    assert api.stats(**{"from": "2026-12-01", "to": "2026-12-01", "section": section})["total"]["levels"] == \
        {"5": 0, "4": 1, "3": 0, "2": 0, "1": 0}
    days = api.stats(**{"from": "2026-12-01", "to": "2026-12-02", "section": section, "group_by": "day"})
    assert [(g["key"], g["count"]) for g in days["groups"]] == [("2026-12-01", 1), ("2026-12-02", 1)]


def test_bad_queries(api):
    assert api.get("/api/v1/stats", params={"from": "2026-12-02", "to": "2026-12-01"}).status_code == 400
    assert api.get("/api/v1/stats", params={"group_by": "planet"}).status_code == 400
    assert api.get("/api/v1/stats", params={"from": "yesterday"}).status_code == 400
    assert api.get("/api/v1/stats", params={"section": "a\x00b"}).status_code == 400
    assert api.get("/api/v1/stats").status_code == 200  # defaults: this month so far


def test_stats_can_require_login(db_url):
    with running_server(db_url, public_stats=False) as url:
        assert requests.get(url + "/api/v1/stats", timeout=10).status_code == 401
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
