"""Corrections of staff entries (docs/api.md "Correcting an entry"), on a real server:
a corrected entry leaves the statistics, its case and its unsent push record in the
same transaction that stores its replacement; a withdrawn one just leaves; the history
keeps every version; a refused correction changes nothing."""

from __future__ import annotations

import requests
import sqlalchemy as sa

from central import db
from central.db import province_outbox

from .test_entries import Hall


def _correct(api, rating_id: str, role: str = "clerk", headers=None, **body) -> requests.Response:
    if headers is not None:
        return api.http.post(f"{api.url}/api/v1/entries/{rating_id}/correction", json=body, headers=headers,
                             timeout=30)
    return api.post(f"/api/v1/entries/{rating_id}/correction", role=role, json=body)


def _history(api, rating_id: str, role: str = "clerk") -> dict:
    r = api.get(f"/api/v1/entries/{rating_id}", role=role)
    assert r.status_code == 200, r.text
    return r.json()


def _push_records(api) -> dict[str, str]:
    with db.engine_for(api.db_url).connect() as conn:
        return dict(conn.execute(sa.select(province_outbox.c.rating_id, province_outbox.c.status)).all())


def _figures(api, hall: Hall) -> tuple[dict, dict]:
    """The rollup figures and the same counted from the ratings (the source filter path)."""
    rolled = api.stats(section=hall.section)["total"]
    counted = api.stats(section=hall.section, source="paper,phone,counter")["total"]
    return rolled, counted


def test_correcting_the_level_moves_the_rating_and_its_case(api):
    hall = Hall(api)
    first = hall.entry(form_no="F-100", satisfaction=1, reasons=["110"], comment="等太久", phone="13800138000")
    assert first.status_code == 201, first.text
    old = first.json()["id"]
    assert [c["rating_id"] for c in hall.cases()] == [old]
    assert old in _push_records(api)

    r = _correct(api, old, satisfaction=4, reason="表上勾的是满意，录错了")
    assert r.status_code == 201, r.text
    answer = r.json()
    new = answer["replaced_by"]
    assert answer["status"] == "corrected" and answer["id"] == old and new != old
    assert answer["case_withdrawn"] is not None and answer["province_had_it"] is False

    rolled, counted = _figures(api, hall)
    assert rolled == counted
    assert (rolled["count"], rolled["bad"], rolled["levels"]["4"], rolled["levels"]["1"]) == (1, 0, 1, 0)
    assert hall.cases() == []
    rows = hall.ratings()
    assert [(x["id"], x["satisfaction"], x["source"]) for x in rows] == [(new, 4, "paper")]
    assert rows[0]["comment"] == "等太久" and rows[0]["reasons"] == []
    pushes = _push_records(api)
    assert old not in pushes and pushes[new] == "pending"

    for asked in (old, new):
        h = _history(api, asked)
        assert h["current"] == new
        was, now = h["versions"]
        assert (was["id"], was["status"], was["satisfaction"], was["reasons"]) == (old, "corrected", 1, ["110"])
        assert was["reason"] == "表上勾的是满意，录错了" and was["replaced_by"] == new
        assert was["corrected_by"] == was["entered_by"] == now["entered_by"]
        assert (now["id"], now["status"], now["satisfaction"], now["form_no"]) == (new, "current", 4, "F-100")
        assert "13800138000" not in str(h) and now["phone"].startswith("138")  # masked for a clerk
    assert "13800138000" in str(_history(api, old, role="admin"))

    again = hall.entry(form_no="F-100", satisfaction=1)
    assert again.status_code == 200 and again.json() == {"id": new, "status": "duplicate"}


def test_correcting_good_to_bad_and_to_another_window(api):
    hall, other = Hall(api), Hall(api)
    first = hall.entry(satisfaction=5).json()["id"]
    bad = _correct(api, first, satisfaction=2, reasons=["207"], reason="电话里说的是不满意")
    assert bad.status_code == 201, bad.text
    second = bad.json()["replaced_by"]
    opened = hall.cases()
    assert [(c["rating_id"], c["state"]) for c in opened] == [(second, "open")]
    moved = _correct(api, second, window_no=other.window, reason="窗口号录错")
    assert moved.status_code == 201, moved.text
    third = moved.json()["replaced_by"]
    assert moved.json()["case_withdrawn"] == opened[0]["id"]
    assert api.stats(section=hall.section)["total"]["count"] == 0 and hall.cases() == []
    there = api.stats(section=other.section)["total"]
    assert (there["count"], there["bad"], there["levels"]["2"]) == (1, 1, 1)
    assert [(c["rating_id"], c["window_no"], c["staff_no"]) for c in other.cases()] == [
        (third, other.window, other.staff)]
    assert [v["status"] for v in _history(api, first)["versions"]] == ["corrected", "corrected", "current"]


def test_withdrawing_an_entry_and_correcting_twice(api):
    hall = Hall(api)
    rid = hall.entry(satisfaction=1, reasons=["110"], form_no="W-1").json()["id"]
    r = _correct(api, rid, withdraw=True, reason="同一张表录了两次")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn" and r.json()["replaced_by"] is None
    rolled, counted = _figures(api, hall)
    assert rolled == counted and rolled["count"] == 0 and rolled["bad"] == 0
    assert hall.cases() == [] and hall.ratings() == []
    h = _history(api, rid)
    assert h["current"] is None and [v["status"] for v in h["versions"]] == ["withdrawn"]
    twice = _correct(api, rid, satisfaction=5, reason="再改")
    assert twice.status_code == 409 and "withdrawn" in twice.json()["error"]
    # the form number is free again: the form can be entered anew
    assert hall.entry(form_no="W-1", satisfaction=3).status_code == 201

    first = hall.entry(satisfaction=4).json()["id"]
    new = _correct(api, first, satisfaction=3, reason="录错").json()["replaced_by"]
    stale = _correct(api, first, satisfaction=5, reason="又录错")
    assert stale.status_code == 409 and new in stale.json()["error"]


def test_who_may_correct(api):
    hall = Hall(api)
    rid = hall.entry(role="clerk", satisfaction=3).json()["id"]
    someone = api.new_user("clerk", "clerk2")
    assert _correct(api, rid, headers=someone, satisfaction=4, reason="x").status_code == 403
    assert _correct(api, rid, role="viewer", satisfaction=4, reason="x").status_code == 403
    assert _correct(api, rid, headers={}, satisfaction=4, reason="x").status_code == 401
    assert api.stats(section=hall.section)["total"]["levels"]["3"] == 1
    r = _correct(api, rid, role="supervisor", satisfaction=4, reason="主管核对原表")
    assert r.status_code == 201, r.text
    assert _history(api, rid)["versions"][0]["corrected_by"].startswith("supervisor")
    assert _correct(api, "no-such-entry", satisfaction=4, reason="x").status_code == 404
    assert api.get("/api/v1/entries/no-such-entry", role="clerk").status_code == 404
    assert requests.get(f"{api.url}/api/v1/entries/{rid}", timeout=10).status_code == 401


def test_a_device_rating_is_no_staff_entry(api):
    from testkit.server import rating_event

    hall = Hall(api)
    ev = rating_event(satisfaction=5)
    assert api.results(hall.device, [ev])[0]["status"] == "accepted"
    r = _correct(api, ev["id"], role="admin", satisfaction=1, reason="x")
    assert r.status_code == 404 and "staff entry" in r.json()["error"]
    assert api.stats(section=hall.section)["total"]["count"] == 1


def test_a_refused_correction_changes_nothing(api):
    hall = Hall(api)
    rid = hall.entry(satisfaction=1, reasons=["110"], form_no="R-1").json()["id"]
    taken = hall.entry(satisfaction=5, form_no="R-2").json()["id"]
    before = (_figures(api, hall), hall.cases(), hall.ratings(), _push_records(api))
    for body, field, status in (
            ({"satisfaction": 4}, "reason", 400),
            ({"reason": "x", "window_no": "no-such-window"}, "window_no", 400),
            ({"reason": "x", "satisfaction": 7}, "satisfaction", 400),
            ({"reason": "x", "source": "qr"}, "source", 400),
            ({"reason": "x", "colour": "red"}, "colour", 400),
            ({"reason": "x", "form_no": "R-2"}, "form_no", 409)):
        r = _correct(api, rid, **body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"].startswith(field), r.text
    assert (_figures(api, hall), hall.cases(), hall.ratings(), _push_records(api)) == before
    assert taken in {x["id"] for x in hall.ratings()}


def test_a_case_in_work_is_the_supervisors_to_close(api):
    hall = Hall(api)
    rid = hall.entry(satisfaction=1, reasons=["110"]).json()["id"]
    case_id = hall.cases()[0]["id"]
    moved = api.post(f"/api/v1/cases/{case_id}/transition", role="supervisor",
                     json={"to": "verified", "note": "联系群众核实属实"})
    assert moved.status_code == 200, moved.text
    r = _correct(api, rid, satisfaction=5, reason="录错")
    assert r.status_code == 409 and f"#{case_id}" in r.json()["error"]
    assert [c["rating_id"] for c in hall.cases()] == [rid]
    assert api.stats(section=hall.section)["total"]["bad"] == 1


def test_a_pushed_rating_is_noted_and_its_record_kept(api):
    hall = Hall(api)
    rid = hall.entry(satisfaction=5, project_no="P-77").json()["id"]
    with db.engine_for(api.db_url).begin() as conn:
        conn.execute(province_outbox.update().where(province_outbox.c.rating_id == rid).values(status="sent"))
    r = _correct(api, rid, satisfaction=4, reason="录错")
    assert r.status_code == 201, r.text
    assert r.json()["province_had_it"] is True
    pushes = _push_records(api)
    assert pushes[rid] == "sent" and pushes[r.json()["replaced_by"]] == "pending"
    assert _history(api, rid)["versions"][0]["province_had_it"] is True
