"""整改率, 回访率 and overdue in /api/v1/stats (docs/api.md "Counting") for a known
data set that takes a case through each outcome, before and after the steps,
in the totals, in every group and from the monthly rollup."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest

from testkit.server import detail_event, rating_event

from .test_cases import LATER, People

DAY = "2026-11-10"
T = "2026-11-10T02:00:00.000Z"  # deadlines (5 natural days) are long past
PHONE = "13912345678"

#: case → (window, has a phone, the steps: (to, who, extra body)); "fu+"/"fu-" = a follow-up reached / not.
PLAN = {
    "c1": ("1", True, [("verified", "a"), ("rectified", "a"), "fu+", ("fed_back", "a"), ("closed", "b")]),
    "c2": ("1", True, [("verified", "a"), ("planned", "a"), "fu-"]),
    "c3": ("1", False, [("verified", "a"), ("planned", "a"), ("rectified", "a")]),
    "c4": ("1", True, [("verified", "a"), ("unfixable_requested", "a"), ("unfixable", "b"), "fu+",
                       ("fed_back", "a")]),
    "c5": ("2", True, ["fu+", ("invalid_requested", "a"), ("invalid", "b")]),
    "c6": ("2", True, []),
    "c7": ("2", False, [("verified", "a")]),
    "c8": ("2", False, [("invalid_requested", "a")]),
}


def _totals(s: dict) -> dict:
    keys = ("count", "bad", "bad_unrectified", "rectified", "rectify_rate", "overdue", "followup_rate")
    return {k: s[k] for k in keys}


@pytest.fixture(scope="module")
def loop(api):
    section = "L-" + uuid.uuid4().hex[:6]
    devs = {w: api.device(section=section, window=w) for w in ("1", "2")}  # one device per window
    people = People(api)
    good = [rating_event(level, created_at=T, section=section, window_no="1", staff_no="A1") for level in (5, 4, 3)]
    bad, details = {}, []
    for name, (window, phone, _) in PLAN.items():
        ev = rating_event(2 if name in ("c1", "c3", "c5", "c7") else 1, created_at=T, section=section,
                          window_no=window, staff_no="A" + window)
        bad[name] = ev
        if phone:
            details.append(detail_event(ev["id"], [], phone=PHONE, created_at=T))
    for w, dev in devs.items():
        mine = [e for e in good + list(bad.values()) if e["window_no"] == w]
        ids = {e["id"] for e in mine}
        mine += [d for d in details if d["rating_id"] in ids]
        assert {r["status"] for r in api.results(dev, mine)} == {"accepted"}
    page = api.get("/api/v1/cases", role="viewer", params={"section": section}).json()["cases"]
    ids = {c["rating_id"]: c["id"] for c in page}
    return section, people, {name: ids[ev["id"]] for name, ev in bad.items()}


def _stats(api, section, **kw):
    return api.stats(**{"from": DAY, "to": DAY, "section": section, **kw})


def _run_steps(api, people: People, cases: dict[str, int]) -> None:
    from central import workflow

    for name, (_, _, steps) in PLAN.items():
        cid, here = cases[name], "open"
        for step in steps:
            if isinstance(step, str):
                r = people.post("a", f"/api/v1/cases/{cid}/followups",
                                json={"method": "phone", "reached": step == "fu+", "satisfied": "yes"})
                assert r.status_code == 201, r.text
                continue
            to, who = step
            body = people.body(workflow.rule(here, to), cid)
            body.pop("followup", None)
            if to == "planned":
                body["due_date"] = LATER
            r = people.move(who, cid, body)
            assert r.status_code == 200, (name, to, r.text)
            here = to


def test_known_data_set_before_and_after(api, loop):
    section, people, cases = loop
    before = _stats(api, section, group_by="window")
    assert _totals(before["total"]) == {"count": 11, "bad": 8, "bad_unrectified": 8, "rectified": 0,
                                        "rectify_rate": 0.0, "overdue": 8, "followup_rate": 0.0}
    _run_steps(api, people, cases)
    after = _stats(api, section, group_by="window")
    print("\nknown data set, before:", json.dumps(_totals(before["total"])),
          "\nknown data set, after: ", json.dumps(_totals(after["total"])),
          "\nby window after:", json.dumps({g["key"]: _totals(g) for g in after["groups"]}))
    # c5 is invalid (leaves everything); c1 closed, c3 rectified, c4 unfixable → fed_back count as
    # rectified (§9); c2 is planned with a later due date (not overdue); c6, c7, c8 are overdue.
    assert _totals(after["total"]) == {"count": 10, "bad": 7, "bad_unrectified": 4, "rectified": 3,
                                       "rectify_rate": pytest.approx(3 / 7, abs=1e-6), "overdue": 3,
                                       "followup_rate": 0.5}
    groups = {g["key"]: _totals(g) for g in after["groups"]}
    assert groups == {
        "1": {"count": 7, "bad": 4, "bad_unrectified": 1, "rectified": 3, "rectify_rate": 0.75, "overdue": 0,
              "followup_rate": pytest.approx(2 / 3, abs=1e-6)},
        "2": {"count": 3, "bad": 3, "bad_unrectified": 3, "rectified": 0, "rectify_rate": 0.0, "overdue": 3,
              "followup_rate": 0.0},
    }
    # the same figures from the monthly rollup (a whole month is read from it)
    month = api.stats(**{"from": "2026-11-01", "to": "2026-11-30", "section": section})
    assert _totals(month["total"]) == _totals(after["total"])
    by_staff = {g["key"]: g["rectified"] for g in _stats(api, section, group_by="staff")["groups"]}
    assert by_staff == {"A1": 3, "A2": 0}


def test_rollups_equal_a_recount_from_the_cases(api, loop, db_url):
    """The stored counts agree with the cases table after all the steps above."""
    import sqlalchemy as sa

    from central import db

    section, _, _ = loop
    c = db.cases.c
    with db.engine_for(db_url).connect() as conn:
        rows = conn.execute(sa.select(c.state, c.has_phone, c.reached).where(c.section == section)).all()
    valid = [r for r in rows if r.state != "invalid"]
    total = _stats(api, section)["total"]
    assert total["bad"] == len(valid)
    assert total["rectified"] == sum(r.state in ("rectified", "fed_back", "closed") for r in valid)
    phoned = [r for r in valid if r.has_phone]
    assert total["followup_rate"] == pytest.approx(sum(r.reached for r in phoned) / len(phoned))


def test_a_phone_arriving_after_the_rating_counts(api):
    section = "P-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    days = {"from": (date.today() - timedelta(days=1)).isoformat(),
            "to": (date.today() + timedelta(days=1)).isoformat(), "section": section}
    ev = rating_event(1, section=section)
    api.results(dev, [ev])
    assert api.stats(**days)["total"]["followup_rate"] is None
    api.results(dev, [detail_event(ev["id"], ["115"], phone=PHONE)])
    assert api.stats(**days)["total"]["followup_rate"] == 0.0


def test_two_approvers_at_once_count_once(api):
    """Two people approve the same 认定无效 at the same moment: one wins, the other gets 409,
    and the case leaves the statistics exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    section = "X-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    people = People(api)
    people.headers["c"] = api.new_user("supervisor", "c")
    evs = [rating_event(1, created_at=T, section=section) for _ in range(6)]
    api.results(dev, evs)
    ids = [c["id"] for c in api.get("/api/v1/cases", role="viewer", params={"section": section}).json()["cases"]]
    for cid in ids:
        assert people.move("a", cid, {"to": "invalid_requested", "note": "误按"}).status_code == 200
    with ThreadPoolExecutor(4) as pool:
        codes = [list(pool.map(lambda who, cid=cid: people.move(who, cid, {"to": "invalid", "note": "同意"}).status_code,
                               ["b", "c"])) for cid in ids]
    assert all(sorted(pair) == [200, 409] for pair in codes), codes
    total = _stats(api, section)["total"]
    assert (total["count"], total["bad"], total["bad_unrectified"]) == (0, 0, 0)
