"""差评工单: opened by ingest, deadlines, transitions with who/when/note, roles."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from testkit.server import detail_event, rating_event


def _case(api, rating_id: str) -> dict:
    page = api.get("/api/v1/cases", role="viewer", params={"page_size": 1000}).json()
    return next(c for c in page["cases"] if c["rating_id"] == rating_id)


def test_every_bad_rating_opens_one_case(api):
    section = "C-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    evs = [rating_event(level, section=section) for level in (5, 4, 3, 2, 1)]
    evs.append(rating_event(1, section=section, misuse=True))
    api.results(dev, evs)
    api.results(dev, evs)  # duplicates open nothing more
    page = api.get("/api/v1/cases", role="viewer", params={"section": section}).json()
    assert page["total"] == 2
    assert sorted(c["satisfaction"] for c in page["cases"]) == [1, 2]
    assert {c["state"] for c in page["cases"]} == {"open"}


def test_deadline_is_rectify_days_after_the_rating(api):
    dev = api.device()
    ev = rating_event(2, created_at="2026-11-20T03:04:05.678Z")
    api.results(dev, [ev])
    case = _case(api, ev["id"])
    assert case["rated_at"] == "2026-11-20T03:04:05.678Z"
    assert case["deadline"] == "2026-11-25T03:04:05.678Z"
    assert case["day"] == "2026-11-20"


def test_overdue_filter(api):
    dev = api.device()
    old = rating_event(1, created_at=(datetime.utcnow() - timedelta(days=6)).isoformat(timespec="milliseconds") + "Z")
    new = rating_event(1)
    api.results(dev, [old, new])
    assert _case(api, old["id"])["overdue"] is True
    assert _case(api, new["id"])["overdue"] is False
    overdue = api.get("/api/v1/cases", role="viewer", params={"overdue": "true", "page_size": 1000}).json()
    ids = {c["rating_id"] for c in overdue["cases"]}
    assert old["id"] in ids and new["id"] not in ids


def test_full_loop_with_history(api):
    dev = api.device()
    ev = rating_event(2)
    api.results(dev, [ev, detail_event(ev["id"], ["213", "214"], comment="不熟练", phone="13812345678")])
    cid = _case(api, ev["id"])["id"]
    for to in ("verified", "rectified", "fed_back"):
        r = api.post(f"/api/v1/cases/{cid}/transition", role="supervisor", json={"to": to, "note": f"did {to}"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == to
    detail = api.get(f"/api/v1/cases/{cid}", role="viewer").json()
    assert [(t["from"], t["to"]) for t in detail["transitions"]] == [
        (None, "open"), ("open", "verified"), ("verified", "rectified"), ("rectified", "fed_back")]
    assert detail["transitions"][2]["note"] == "did rectified"
    assert detail["transitions"][2]["by"].startswith("supervisor-")
    assert all(t["at"].endswith("Z") for t in detail["transitions"])
    assert detail["reasons"] == ["213", "214"] and detail["comment"] == "不熟练"
    assert detail["phone"] == "138****5678"
    assert api.get(f"/api/v1/cases/{cid}", role="admin").json()["phone"] == "13812345678"
    # a final state goes nowhere
    r = api.post(f"/api/v1/cases/{cid}/transition", role="supervisor", json={"to": "invalid", "note": "x"})
    assert r.status_code == 409


@pytest.mark.parametrize(("path", "status"), [
    (["rectified"], 409), (["fed_back"], 409), (["verified", "verified"], 409),
    (["verified", "fed_back"], 409), (["bogus"], 400),
])
def test_illegal_transitions(api, path, status):
    dev = api.device()
    ev = rating_event(1)
    api.results(dev, [ev])
    cid = _case(api, ev["id"])["id"]
    codes = [api.post(f"/api/v1/cases/{cid}/transition", role="admin", json={"to": to, "note": "n"}).status_code
             for to in path]
    assert codes[-1] == status and all(c == 200 for c in codes[:-1])


def test_invalid_needs_a_reason_and_leaves_the_stats(api):
    section = "I-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    ev = rating_event(1, section=section, created_at="2026-11-15T04:00:00.000Z")
    api.results(dev, [ev, rating_event(5, section=section, created_at="2026-11-15T04:00:00.000Z")])
    q = {"from": "2026-11-15", "to": "2026-11-15", "section": section}
    before = api.stats(**q)["total"]
    assert (before["count"], before["bad"], before["bad_unrectified"]) == (2, 1, 1)
    cid = _case(api, ev["id"])["id"]
    r = api.post(f"/api/v1/cases/{cid}/transition", role="supervisor", json={"to": "invalid", "note": "  "})
    assert r.status_code == 400 and "note" in r.json()["error"]
    r = api.post(f"/api/v1/cases/{cid}/transition", role="supervisor",
                 json={"to": "invalid", "note": "误触: 儿童按键"})
    assert r.status_code == 200
    after = api.stats(**q)["total"]
    assert after == {"count": 1, "levels": {"5": 1, "4": 0, "3": 0, "2": 0, "1": 0}, "bad": 0,
                     "bad_unrectified": 0, "good_rate": 1.0, "unrated": 0}


def test_roles(api):
    dev = api.device()
    ev = rating_event(2)
    api.results(dev, [ev])
    cid = _case(api, ev["id"])["id"]
    assert api.get("/api/v1/cases").status_code == 401
    assert api.get(f"/api/v1/cases/{cid}").status_code == 401
    assert api.post(f"/api/v1/cases/{cid}/transition", json={"to": "verified"}).status_code == 401
    r = api.post(f"/api/v1/cases/{cid}/transition", role="viewer", json={"to": "verified"})
    assert r.status_code == 403
    assert api.get(f"/api/v1/cases/{cid}", role="viewer").json()["state"] == "open"
    assert api.post(f"/api/v1/cases/{cid}/transition", role="supervisor", json={"to": "verified"}).status_code == 200
    assert api.get("/api/v1/cases/999999999", role="viewer").status_code == 404
