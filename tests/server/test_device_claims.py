"""A device speaks only for itself: a detail must be about one of its own
ratings; the window and section come from its registration (a different claim
is kept for audit); a staff number that is neither in the roster nor the
device's registered staff is flagged."""

from __future__ import annotations

import uuid

from testkit.server import detail_event, rating_event, unrated_event


def _listed(api, rating_id: str, section: str) -> dict:
    rows = api.get("/api/v1/ratings", role="admin", params={"section": section, "page_size": 1000}).json()
    return next(r for r in rows["ratings"] if r["id"] == rating_id)


def test_a_detail_about_another_devices_rating_is_rejected(api):
    a, b = api.device("own"), api.device("other")
    rating = rating_event(1)
    assert api.results(a, [rating])[0]["status"] == "accepted"
    stolen = detail_event(rating["id"], ["115"], comment="not mine")
    assert api.results(b, [stolen]) == [{"id": stolen["id"], "status": "rejected",
                                          "error": "rating_id: a rating of another device"}]
    own = detail_event(rating["id"], ["115"])
    assert api.results(a, [own])[0]["status"] == "accepted"
    case = api.get("/api/v1/cases", role="viewer", params={"page_size": 1000}).json()["cases"]
    case_id = next(c["id"] for c in case if c["rating_id"] == rating["id"])
    assert api.get(f"/api/v1/cases/{case_id}", role="viewer").json()["comment"] is None


def test_window_and_section_come_from_the_registration(api):
    section = "登记-" + uuid.uuid4().hex[:6]
    dev = api.device("reg", window="7", section=section, staff_no="D200")
    claimed = rating_event(5, window_no="3", section="综合服务区", staff_no="D200")
    matching = rating_event(4, window_no="7", section=section, staff_no="D200")
    un = unrated_event(window_no="3", section="综合服务区", staff_no="D200")
    assert {r["status"] for r in api.results(dev, [claimed, matching, un])} == {"accepted"}
    row = _listed(api, claimed["id"], section)
    assert (row["window_no"], row["section"]) == ("7", section)
    assert (row["claimed_window_no"], row["claimed_section"]) == ("3", "综合服务区")
    row = _listed(api, matching["id"], section)
    assert (row["claimed_window_no"], row["claimed_section"]) == (None, None)
    stats = api.stats(section=section, group_by="window")
    assert [(g["key"], g["count"], g["unrated"]) for g in stats["groups"]] == [("7", 2, 1)]
    assert api.stats(section="综合服务区", window="3")["total"]["count"] == 0
    # a supervisor moves the device: its remote settings are its registration from then on
    r = api.http.put(f"{api.url}/api/v1/devices/{dev.id}/settings", json={"window": "8"},
                     headers=api.as_role("admin"), timeout=10)
    assert r.status_code == 200, r.text
    moved = rating_event(5, window_no="8", section=section, staff_no="D200")
    api.results(dev, [moved])
    row = _listed(api, moved["id"], section)
    assert (row["window_no"], row["claimed_window_no"]) == ("8", None)


def test_a_staff_number_outside_the_roster_and_the_registration_is_flagged(api):
    section = "工号-" + uuid.uuid4().hex[:6]
    r = api.http.put(f"{api.url}/api/v1/staff/R100", json={"name": "王五"}, headers=api.as_role("admin"),
                     timeout=10)
    assert r.status_code == 204
    dev = api.device("staff", window="2", section=section, staff_no="D200")
    events = {no: rating_event(5, window_no="2", section=section, staff_no=no) for no in ("R100", "D200", "X999")}
    api.results(dev, list(events.values()))
    flags = {no: _listed(api, ev["id"], section)["staff_flagged"] for no, ev in events.items()}
    assert flags == {"R100": False, "D200": False, "X999": True}
    # flagged, not dropped: it still counts
    assert api.stats(section=section)["total"]["count"] == 3
