"""差评工单 (docs/api.md): opened by ingest, deadlines, and every row of the
transition table through the API (allowed, wrong role, same person, missing
field, illegal from-state), on SQLite and PostgreSQL. The rows come from
``central.workflow.TRANSITIONS``, so a row added there is tested here."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
import requests

from central import workflow
from testkit.server import detail_event, rating_event

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
LATER = (date.today() + timedelta(days=20)).isoformat()
MUCH_LATER = (date.today() + timedelta(days=40)).isoformat()


def _case(api, rating_id: str) -> dict:
    page = api.get("/api/v1/cases", role="viewer", params={"page_size": 1000}).json()
    return next(c for c in page["cases"] if c["rating_id"] == rating_id)


class People:
    """Two supervisors (A acts, B approves) and a viewer, each logged in once."""

    def __init__(self, api):
        self.api = api
        self.headers = {name: api.new_user(role, name)
                        for name, role in (("a", "supervisor"), ("b", "supervisor"), ("viewer", "viewer"))}

    def post(self, who: str, path: str, **kw) -> requests.Response:
        return self.api.http.post(self.api.url + path, headers=self.headers[who], timeout=30, **kw)

    def move(self, who: str, case_id: int, body: dict) -> requests.Response:
        return self.post(who, f"/api/v1/cases/{case_id}/transition", json=body)

    def attach(self, case_id: int) -> int:
        r = self.api.http.post(self.api.url + f"/api/v1/cases/{case_id}/attachments", params={"name": "报告.pdf"},
                               data=PDF, headers={**self.headers["a"], "Content-Type": "application/pdf"},
                               timeout=30)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def followup(self, case_id: int) -> None:
        r = self.post("a", f"/api/v1/cases/{case_id}/followups",
                      json={"method": "phone", "reached": True, "satisfied": "yes", "note": "回访满意"})
        assert r.status_code == 201, r.text

    def body(self, row: workflow.Transition, case_id: int) -> dict:
        """A complete body for ``row`` (uploading the file it needs)."""
        body = {"to": row.to, "note": f"{row.zh}: done"}
        if "due_date" in row.required:
            body["due_date"] = MUCH_LATER if row.from_ == "planned" else LATER
        if "attachment_ids" in row.required:
            body["attachment_ids"] = [self.attach(case_id)]
        if "followup" in row.required:
            self.followup(case_id)
        return body


#: How to bring a fresh case to each state: (state, who) steps, A for requests, B for approvals.
PATHS = {
    "open": [],
    "invalid_requested": [("invalid_requested", "a")],
    "verified": [("verified", "a")],
    "planned": [("verified", "a"), ("planned", "a")],
    "unfixable_requested": [("verified", "a"), ("unfixable_requested", "a")],
    "unfixable": [("verified", "a"), ("unfixable_requested", "a"), ("unfixable", "b")],
    "rectified": [("verified", "a"), ("rectified", "a")],
    "fed_back": [("verified", "a"), ("rectified", "a"), ("fed_back", "a")],
}


@pytest.fixture(scope="module")
def people(api) -> People:
    return People(api)


def new_case(api, people: People, state: str = "open", *, phone: str | None = None) -> int:
    dev = api.device()
    ev = rating_event(2)
    evs = [ev] + ([detail_event(ev["id"], ["213"], phone=phone)] if phone else [])
    api.results(dev, evs)
    cid = _case(api, ev["id"])["id"]
    here = "open"
    for to, who in PATHS[state]:
        r = people.move(who, cid, people.body(workflow.rule(here, to), cid))
        assert r.status_code == 200, r.text
        here = to
    return cid


ROWS = [pytest.param(row, id=row.key) for row in workflow.TRANSITIONS]
FOUR_EYES = [pytest.param(row, id=row.key) for row in workflow.TRANSITIONS if row.four_eyes]
MISSING = [pytest.param(row, field, id=f"{row.key}-{field}") for row in workflow.TRANSITIONS for field in row.required]


@pytest.mark.parametrize("row", ROWS)
def test_row_allowed(api, people, row):
    cid = new_case(api, people, row.from_)
    who = "b" if row.four_eyes else "a"
    r = people.move(who, cid, people.body(row, cid))
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["state"] == row.to and case["state_zh"] == workflow.STATE_ZH[row.to]
    last = case["transitions"][-1]
    assert (last["from"], last["to"], last["label_zh"]) == (row.from_, row.to, row.zh)
    assert last["by"].startswith(who + "-") and last["note"] == f"{row.zh}: done"
    if "due_date" in row.required:
        assert case["due_date"] == (MUCH_LATER if row.from_ == "planned" else LATER)
        assert case["deadline"].startswith(
            (date.fromisoformat(case["due_date"])).isoformat() + "T15:59:59")  # 23:59:59 in Shanghai
    if "attachment_ids" in row.required:
        assert last["data"]["attachment_ids"] == [case["attachments"][-1]["id"]]


@pytest.mark.parametrize("row", ROWS)
def test_row_wrong_role(api, people, row):
    cid = new_case(api, people, row.from_)
    r = people.move("viewer", cid, {"to": row.to, "note": "x", "due_date": MUCH_LATER})
    assert r.status_code == 403, r.text
    assert "viewer" in r.json()["error"]
    assert api.get(f"/api/v1/cases/{cid}", role="viewer").json()["state"] == row.from_


@pytest.mark.parametrize("row", FOUR_EYES)
def test_row_same_person(api, people, row):
    cid = new_case(api, people, row.from_)
    r = people.move("a", cid, people.body(row, cid))  # A made the request, the plan or the feedback
    assert r.status_code == 409, r.text
    assert "another person" in r.json()["error"]
    assert api.get(f"/api/v1/cases/{cid}", role="viewer").json()["state"] == row.from_


@pytest.mark.parametrize(("row", "field"), MISSING)
def test_row_missing_field(api, people, row, field):
    cid = new_case(api, people, row.from_)
    who = "b" if row.four_eyes else "a"
    body = people.body(row, cid) if field != "followup" else {"to": row.to, "note": "called"}
    body.pop(field, None)
    r = people.move(who, cid, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(field + ":")
    assert api.get(f"/api/v1/cases/{cid}", role="viewer").json()["state"] == row.from_


@pytest.mark.parametrize("row", ROWS)
def test_row_illegal_from_state(api, people, row):
    wrong = next(s for s in PATHS if workflow.rule(s, row.to) is None)
    cid = new_case(api, people, wrong)
    body = {"to": row.to, "note": "x", "due_date": LATER}
    r = people.move("b", cid, body)
    assert r.status_code == 409, r.text
    assert f"cannot go to {row.to!r}" in r.json()["error"]


def test_every_state_is_reached_and_final_states_have_no_moves():
    reached = {"open"} | {t.to for t in workflow.TRANSITIONS}
    assert reached == set(workflow.STATES)
    assert [m.to for m in workflow.moves_from("invalid")] == []
    assert [m.to for m in workflow.moves_from("closed")] == []


def test_extension_needs_a_later_date(api, people):
    cid = new_case(api, people, "planned")
    row = workflow.rule("planned", "planned")
    r = people.move("b", cid, {"to": "planned", "note": "延期", "due_date": LATER})
    assert r.status_code == 400 and "after the current one" in r.json()["error"]
    r = people.move("b", cid, people.body(row, cid))
    assert r.status_code == 200 and r.json()["due_date"] == MUCH_LATER


def test_plan_date_in_the_past_and_foreign_attachment(api, people):
    cid = new_case(api, people, "verified")
    other = new_case(api, people, "verified")
    att = people.attach(other)
    r = people.move("a", cid, {"to": "planned", "note": "m", "due_date": "2020-01-01", "attachment_ids": [att]})
    assert r.status_code == 400 and r.json()["error"].startswith("due_date:")
    r = people.move("a", cid, {"to": "planned", "note": "m", "due_date": LATER, "attachment_ids": [att]})
    assert r.status_code == 400 and "not attachments of case" in r.json()["error"]


def test_verify_records_reasons_learned_on_the_call(api, people):
    cid = new_case(api, people)
    r = people.move("a", cid, {"to": "verified", "note": "电话核实", "reasons": ["115"]})
    assert r.status_code == 400 and "reasons" in r.json()["error"]  # 115 belongs to level 1
    r = people.move("a", cid, {"to": "verified", "note": "电话核实", "reasons": ["213", "214"]})
    assert r.status_code == 200
    assert r.json()["verified_reasons"] == ["213", "214"]


def test_unknown_target_and_unknown_case(api, people):
    cid = new_case(api, people)
    assert people.move("a", cid, {"to": "done", "note": "x"}).status_code == 400
    assert people.move("a", 999_999, {"to": "verified", "note": "x"}).status_code == 404
    r = people.move("a", cid, {"to": "verified", "note": "a\x00b"})
    assert r.status_code == 400 and r.json()["error"].startswith("note:")
    r = people.move("a", cid, {"to": "verified", "note": "全角\u3000空格\n第二行", "attachment_ids": [True]})
    assert r.status_code == 200 and r.json()["transitions"][-1]["note"] == "全角\u3000空格\n第二行"


def test_followups_are_checked_and_listed(api, people):
    cid = new_case(api, people, phone="13812345678")
    bad = [({"method": "fax", "reached": True}, "method"), ({"method": "phone"}, "reached"),
           ({"method": "phone", "reached": True, "satisfied": "maybe"}, "satisfied"),
           ({"method": "phone", "reached": True, "at": "2999-01-01T00:00:00Z"}, "at")]
    for body, field in bad:
        r = people.post("a", f"/api/v1/cases/{cid}/followups", json=body)
        assert r.status_code == 400 and r.json()["error"].startswith(field), r.text
    assert people.post("viewer", f"/api/v1/cases/{cid}/followups",
                       json={"method": "phone", "reached": True}).status_code == 403
    r = people.post("a", f"/api/v1/cases/{cid}/followups",
                    json={"at": "2026-11-20T02:00:00Z", "method": "sms", "reached": False, "note": "未接通"})
    assert r.status_code == 201
    case = api.get(f"/api/v1/cases/{cid}", role="viewer").json()
    assert [(f["method"], f["reached"], f["satisfied"], f["note"]) for f in case["followups"]] == \
        [("sms", False, "unknown", "未接通")]
    assert case["followed_up"] is False and case["phone"] == "138****5678"


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
    assert _case(api, old["id"])["days_left"] < 0 <= _case(api, new["id"])["days_left"]
    overdue = api.get("/api/v1/cases", role="viewer", params={"overdue": "true", "page_size": 1000}).json()
    ids = {c["rating_id"] for c in overdue["cases"]}
    assert old["id"] in ids and new["id"] not in ids


def test_views_action_and_mine_to_approve(api, people):
    section = "V-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    evs = [rating_event(2, section=section, staff_name="张三") for _ in range(3)]
    api.results(dev, evs + [detail_event(evs[0]["id"], ["213"])])
    ids = [_case(api, e["id"])["id"] for e in evs]
    assert people.move("a", ids[1], {"to": "invalid_requested", "note": "误触"}).status_code == 200
    for to in ("verified", "rectified"):
        assert people.move("a", ids[2], {"to": to, "note": to}).status_code == 200

    def listed(who, **params):
        r = api.http.get(api.url + "/api/v1/cases", headers=people.headers[who],
                         params={"section": section, **params}, timeout=10)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["cases"]], r.json()["cases"]

    assert set(listed("a", view="action")[0]) == {ids[0], ids[1]}  # rectified waits for no one
    assert listed("a", view="approve")[0] == []  # A asked: not A's to approve
    assert listed("b", view="approve")[0] == [ids[1]]
    _, rows = listed("a", view="all")
    first = next(c for c in rows if c["id"] == ids[0])
    assert first["staff_name"] == "张三" and first["reasons"] == ["213"]
    assert first["reasons_zh"] == ["窗口人员业务不熟练"] and first["days_left"] == 5


def test_history_in_chinese(api, people):
    cid = new_case(api, people, "fed_back")
    r = people.move("b", cid, {"to": "closed", "note": "复核通过"})
    steps = r.json()["transitions"]
    assert [s["label_zh"] for s in steps] == ["收到差评", "核实属实", "立行立改", "已反馈", "监督复核通过"]
    assert r.json()["state_zh"] == "已办结" and r.json()["moves"] == []
