"""差评 cases: a supervisor moves a case through every state from the pages, each
step recorded with who and when; a viewer can read but not act."""

from __future__ import annotations

import re

from .conftest import as_user


def _act(page, to: str, note: str) -> None:
    form = page.locator(f"#act-{to}")
    if note:
        form.locator("textarea[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_supervisor_moves_a_case_through_every_state(page, site):
    as_user(page, site, "sup")
    case = site.case_for(site.data.bad_ids[0])
    page.goto(f"{site.url}/cases")
    page.click(f"#cases tr[data-id='{case['id']}'] a")
    page.wait_for_url(f"**/cases/{case['id']}")
    assert page.locator("#case-state").get_attribute("data-state") == "open"
    assert sorted(f.get_attribute("id") for f in page.locator("form.act").all()) == ["act-invalid", "act-verified"]
    steps = [("verified", "调取录像，情况属实"), ("rectified", "已对窗口人员进行培训"), ("fed_back", "已电话回访，群众认可")]
    for to, note in steps:
        _act(page, to, note)
        assert page.locator("#case-state").get_attribute("data-state") == to
    history = page.locator("#history li").all()
    assert [h.get_attribute("data-to") for h in history] == ["open", "verified", "rectified", "fed_back"]
    for h, (_to, note) in zip(history[1:], steps):
        assert h.locator(".by").inner_text() == "sup"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", h.locator(".at").inner_text())
        assert h.locator(".note").inner_text() == note
    assert page.locator("form.act").count() == 0  # a final state
    api = site.api(f"/api/v1/cases/{case['id']}")
    assert api["state"] == "fed_back"
    assert [(t["to"], t["by"], t["note"]) for t in api["transitions"][1:]] == [(to, "sup", n) for to, n in steps]
    assert not page.errors, page.errors


def test_invalid_needs_a_reason_and_leaves_the_statistics(page, site):
    as_user(page, site, "sup")
    case = site.case_for(site.data.bad_ids[1])
    before = site.api("/api/v1/stats", **{"from": case["day"], "to": case["day"]})["total"]
    page.goto(f"{site.url}/cases/{case['id']}")
    # the browser asks for the reason; without the browser's check the server refuses too
    page.locator("#act-invalid textarea").evaluate("e => e.removeAttribute('required')")
    _act(page, "invalid", "")
    assert page.locator("#error").is_visible()
    assert page.locator("#case-state").get_attribute("data-state") == "open"
    _act(page, "invalid", "系统测试误按")
    assert page.locator("#case-state").get_attribute("data-state") == "invalid"
    after = site.api("/api/v1/stats", **{"from": case["day"], "to": case["day"]})["total"]
    assert after["count"] == before["count"] - 1
    assert after["bad"] == before["bad"] - 1
    assert after["bad_unrectified"] == before["bad_unrectified"] - 1


def test_a_wrong_step_is_refused(site):
    s = site.session("sup")
    case = site.case_for(site.data.bad_ids[2])
    page = s.get(f"{site.url}/cases/{case['id']}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = s.post(f"{site.url}/cases/{case['id']}/transition", data={"csrf_token": token, "to": "fed_back",
                                                                   "note": "跳步"}, allow_redirects=False)
    assert r.status_code == 409
    assert site.api(f"/api/v1/cases/{case['id']}")["state"] == "open"


def test_viewer_reads_but_cannot_act(page, site):
    as_user(page, site, "viewer")
    case = site.case_for(site.data.bad_ids[3])
    page.goto(f"{site.url}/cases/{case['id']}")
    assert page.locator("form.act").count() == 0
    assert page.locator("#readonly").is_visible()
    # a hand-made POST with the viewer's own valid CSRF token is still refused
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    r = page.request.post(f"{site.url}/cases/{case['id']}/transition",
                          form={"csrf_token": token, "to": "verified", "note": "x"}, max_redirects=0)
    assert r.status == 403
    assert site.api(f"/api/v1/cases/{case['id']}")["state"] == "open"


def test_transition_needs_the_csrf_token(site):
    s = site.session("sup")
    case = site.case_for(site.data.bad_ids[3])
    for token in (None, "0" * 64):
        data = {"to": "verified", "note": "x", **({"csrf_token": token} if token else {})}
        r = s.post(f"{site.url}/cases/{case['id']}/transition", data=data, allow_redirects=False)
        assert r.status_code == 403
    # and a token of another session does not fit this one
    other = site.session("sup")
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      other.get(f"{site.url}/cases/{case['id']}").text).group(1)
    r = s.post(f"{site.url}/cases/{case['id']}/transition", data={"to": "verified", "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 403
    assert site.api(f"/api/v1/cases/{case['id']}")["state"] == "open"


def test_case_list_shows_deadline_and_overdue(site):
    import sqlalchemy as sa

    from central import db
    case = site.case_for(site.data.bad_ids[4])
    with db.write_tx(db.engine_for(site.db)) as conn:  # a case whose deadline has passed
        conn.execute(db.cases.update().where(db.cases.c.id == case["id"])
                     .values(deadline=sa.func.datetime("now", "-1 day")))
    s = site.session("viewer")
    html = s.get(f"{site.url}/cases?overdue=1").text
    assert f'data-id="{case["id"]}"' in html and 'data-overdue="1"' in html
    api = site.api("/api/v1/cases", overdue="true")
    assert html.count('data-overdue="1"') == len(api["cases"]) == 1
    assert re.search(r'id="overdue-count">已超期 1<', html)
