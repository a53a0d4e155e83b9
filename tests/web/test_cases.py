"""差评 cases in the browser (docs/api.md): a supervisor takes one case through
each outcome (立行立改, 限期整改, 暂不能整改, 认定无效) from the pages and a second
supervisor approves the four-eyes steps; a screenshot of the case page is
taken in every state (into ``$KIOSK_WEB_SCREENSHOTS`` when set, e.g.
``docs/screenshots``). The case list defaults to what needs action; a viewer
reads but cannot act; forms need their CSRF token."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from testkit.server import add_user

from .conftest import PASSWORD, as_user

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("KIOSK_WEB_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def sup2(site) -> str:
    add_user(site.db, "sup2", PASSWORD, "supervisor")
    return "sup2"


def _state(page) -> str:
    return page.locator("#case-state").get_attribute("data-state")


def _act(page, to: str, note: str = "", **fields) -> None:
    form = page.locator(f"#act-{to}")
    for name, value in fields.items():
        form.locator(f"input[name={name}]").fill(value)
    if note:
        form.locator("textarea[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def _upload(page, tmp_path: Path, name: str, data: bytes) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    page.locator("#upload-form input[type=file]").set_input_files(str(f))
    page.locator("#upload-form button[type=submit]").click()
    page.wait_for_load_state()


def _followup(page, note: str) -> None:
    form = page.locator("#followup-form")
    form.locator("select[name=method]").select_option("phone")
    form.locator("select[name=reached]").select_option("1")
    form.locator("select[name=satisfied]").select_option("yes")
    form.locator("textarea[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


class Shooter:
    def __init__(self, page, out: Path):
        self.page, self.out, self.taken = page, out, {}

    def __call__(self, outcome: str) -> None:
        state = _state(self.page)
        self.page.evaluate("window.scrollTo(0, 0)")
        path = self.out / f"web_case_{outcome}_{state}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken[(outcome, state)] = path


def _open(page, site, case_id: int) -> None:
    page.goto(f"{site.url}/cases/{case_id}")
    assert _state(page)


def test_each_outcome_with_a_second_supervisor(browser, site, sup2, shots, tmp_path):
    """One case per outcome, every state photographed, the approvals by sup2."""
    a_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    b_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    a, b = a_ctx.new_page(), b_ctx.new_page()
    errors: list[str] = []
    for pg in (a, b):
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
    as_user(a, site, "sup")
    as_user(b, site, sup2)
    shoot_a, shoot_b = Shooter(a, shots), Shooter(b, shots)
    ids = [site.case_for(r)["id"] for r in site.data.bad_ids[5:9]]
    due = (date.today() + timedelta(days=10)).isoformat()
    later = (date.today() + timedelta(days=20)).isoformat()

    # 1. 立行立改: verify, fix at once, call back, feed back; sup2 closes it
    _open(a, site, ids[0])
    assert _state(a) == "open" and a.locator("#stepper li.now").inner_text().endswith("核实")
    shoot_a("fixed")
    _act(a, "verified", "电话联系群众，情况属实")
    shoot_a("fixed")
    _act(a, "rectified", "已当场向群众说明并补办")
    shoot_a("fixed")
    assert a.locator("#act-fed_back").inner_text().count("请先记录回访")
    _followup(a, "群众表示满意")
    _act(a, "fed_back", "已将整改结果告知群众")
    assert _state(a) == "fed_back"
    shoot_a("fixed")
    assert a.locator("#act-closed .blocked").is_visible()  # the one who fed back may not review
    _open(b, site, ids[0])
    _act(b, "closed", "复核通过")
    assert _state(b) == "closed" and b.locator("#stepper li.done").count() == 4
    shoot_b("fixed")

    # 2. 限期整改: a written report and a due date; sup2 extends it; then rectified, fed back, closed
    _open(a, site, ids[1])
    _act(a, "verified", "核实属实：材料清单不全", )
    _upload(a, tmp_path, "限期整改报告.pdf", PDF)
    assert a.locator("#attachments li").count() == 1
    _act(a, "planned", "更新材料清单并培训窗口人员", due_date=due)
    assert _state(a) == "planned" and a.locator("#deadline").inner_text().startswith(due)
    shoot_a("planned")
    assert a.locator("#act-planned .blocked").is_visible()  # who set the plan may not extend it
    _open(b, site, ids[1])
    _act(b, "planned", "印刷新清单需要更多时间", due_date=later)
    assert b.locator("#deadline").inner_text().startswith(later)
    _open(a, site, ids[1])
    _upload(a, tmp_path, "整改后.png", PNG)
    _act(a, "rectified", "新清单已上墙")
    shoot_a("planned")
    _followup(a, "群众认可")
    _act(a, "fed_back")
    _open(b, site, ids[1])
    _act(b, "closed", "复核通过")
    assert _state(b) == "closed"
    shoot_b("planned")

    # 3. 暂不能整改: a formal document, approved by sup2, then fed back and closed
    _open(a, site, ids[2])
    _act(a, "verified", "核实属实：系统不支持")
    _upload(a, tmp_path, "情况说明.pdf", PDF)
    _act(a, "unfixable_requested", "需省级系统升级，暂不能整改")
    assert _state(a) == "unfixable_requested"
    shoot_a("unfixable")
    _open(b, site, ids[2])
    _act(b, "unfixable", "同意")
    assert _state(b) == "unfixable"
    shoot_b("unfixable")
    _open(a, site, ids[2])
    _followup(a, "已向群众解释原因")
    _act(a, "fed_back", "已告知群众")
    shoot_a("unfixable")
    _open(b, site, ids[2])
    _act(b, "closed", "复核通过")
    shoot_b("unfixable")

    # 4. 认定无效: requested by sup, the same person cannot approve, sup2 does
    _open(a, site, ids[3])
    _act(a, "invalid_requested", "群众误按，已电话确认")
    assert _state(a) == "invalid_requested"
    shoot_a("invalid")
    assert a.locator("#act-invalid .blocked").is_visible()
    _open(b, site, ids[3])
    _act(b, "invalid", "同意认定无效")
    assert _state(b) == "invalid" and b.locator("form.act").count() == 0
    shoot_b("invalid")

    states = {s for _, s in shoot_a.taken} | {s for _, s in shoot_b.taken}
    assert states == {"open", "verified", "rectified", "fed_back", "closed", "planned", "unfixable_requested",
                      "unfixable", "invalid_requested", "invalid"}
    for path in list(shoot_a.taken.values()) + list(shoot_b.taken.values()):
        assert path.stat().st_size > 10_000
    # the history in Chinese, and who did what
    api = site.api(f"/api/v1/cases/{ids[1]}")
    assert [(t["label_zh"], t["by"]) for t in api["transitions"]] == [
        ("收到差评", "system"), ("核实属实", "sup"), ("限期整改", "sup"), ("延期", "sup2"), ("已整改", "sup"),
        ("已反馈", "sup"), ("监督复核通过", "sup2")]
    assert [x["name"] for x in api["attachments"]] == ["限期整改报告.pdf", "整改后.png"]
    assert errors == []
    a_ctx.close()
    b_ctx.close()


def test_history_and_labels_are_chinese(page, site, sup2):
    as_user(page, site, "sup")
    case = site.case_for(site.data.bad_ids[9])
    page.goto(f"{site.url}/cases/{case['id']}")
    first = page.locator("#history li").first
    assert first.locator(".step").inner_text() == "收到差评"
    assert first.locator(".by").inner_text() == "系统"
    assert "system" not in page.locator("#history").inner_text()
    assert page.locator("#act-verified h3").inner_text() == "核实属实"
    assert page.locator("#act-invalid_requested h3").inner_text() == "申请认定无效"
    page.goto(f"{site.url}/cases/{case['id']}?lang=en")
    assert page.locator("#history li .step").first.inner_text() == "差评 received"
    page.goto(f"{site.url}/cases/{case['id']}?lang=zh")


def test_case_list_serves_who_must_act(page, site, sup2, shots):
    as_user(page, site, "sup")
    page.goto(f"{site.url}/cases")
    assert page.locator("#views a.on").get_attribute("data-view") == "action"
    states = {r.get_attribute("data-state") for r in page.locator("#cases tbody tr[data-id]").all()}
    assert states <= {"open", "invalid_requested", "verified", "planned", "unfixable_requested", "fed_back"}
    deadlines = [r.inner_text() for r in page.locator("#cases tbody tr[data-id] td:nth-child(2)").all()]
    assert deadlines == sorted(deadlines)
    row = page.locator("#cases tbody tr[data-id]").first
    assert re.search(r"剩余 \d+ 天|今天到期|已超期", row.inner_text())
    assert row.locator("td:nth-child(6)").inner_text().strip()  # the staff member's name
    page.screenshot(path=str(shots / "web_cases_action.png"), full_page=True)
    # something for sup2 to approve, then sup2's "mine to approve" view lists it and sup's does not
    case = site.case_for(site.data.bad_ids[10])
    r = page.request.post(f"{site.url}/api/v1/cases/{case['id']}/transition",
                          headers={"Authorization": "Bearer " + site.api_token("sup")},
                          data={"to": "invalid_requested", "note": "重复评价"})
    assert r.status == 200
    page.goto(f"{site.url}/cases?view=approve")
    assert page.locator(f"#cases tr[data-id='{case['id']}']").count() == 0
    as_user(page, site, sup2)
    page.goto(f"{site.url}/cases?view=approve")
    assert page.locator(f"#cases tr[data-id='{case['id']}']").count() == 1
    assert int(page.locator("#approve-count").inner_text()) >= 1
    page.screenshot(path=str(shots / "web_cases_approve.png"), full_page=True)


def test_a_missing_field_is_refused_in_chinese(page, site):
    as_user(page, site, "sup")
    case = site.case_for(site.data.bad_ids[11])
    page.goto(f"{site.url}/cases/{case['id']}")
    page.locator("#act-verified textarea").evaluate("e => e.removeAttribute('required')")
    _act(page, "verified", "")
    assert page.locator("#error").inner_text() == "请填写说明（必填）。"
    assert _state(page) == "open"


def test_a_wrong_step_is_refused(site):
    s = site.session("sup")
    case = site.case_for(site.data.bad_ids[2])
    page = s.get(f"{site.url}/cases/{case['id']}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = s.post(f"{site.url}/cases/{case['id']}/transition", data={"csrf_token": token, "to": "fed_back",
                                                                   "note": "跳步"}, allow_redirects=False)
    assert r.status_code == 409
    assert "工单状态已变化" in r.text
    assert site.api(f"/api/v1/cases/{case['id']}")["state"] == "open"


def test_viewer_reads_but_cannot_act(page, site):
    as_user(page, site, "viewer")
    case = site.case_for(site.data.bad_ids[3])
    page.goto(f"{site.url}/cases/{case['id']}")
    assert page.locator("form.act").count() == 0
    assert page.locator("#readonly").is_visible()
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    for path, form in (("transition", {"to": "verified", "note": "x"}),
                       ("followups", {"method": "phone", "reached": "1"})):
        r = page.request.post(f"{site.url}/cases/{case['id']}/{path}", form={"csrf_token": token, **form},
                              max_redirects=0)
        assert r.status == 403
    assert site.api(f"/api/v1/cases/{case['id']}")["state"] == "open"


def test_transition_needs_the_csrf_token(site):
    s = site.session("sup")
    case = site.case_for(site.data.bad_ids[3])
    for token in (None, "0" * 64):
        data = {"to": "verified", "note": "x", **({"csrf_token": token} if token else {})}
        r = s.post(f"{site.url}/cases/{case['id']}/transition", data=data, allow_redirects=False)
        assert r.status_code == 403
    other = site.session("sup")
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      other.get(f"{site.url}/cases/{case['id']}").text).group(1)
    r = s.post(f"{site.url}/cases/{case['id']}/transition", data={"to": "verified", "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 403
    r = s.post(f"{site.url}/cases/{case['id']}/attachments", files={"file": ("a.pdf", PDF, "application/pdf")},
               allow_redirects=False)
    assert r.status_code == 403
    assert site.api(f"/api/v1/cases/{case['id']}")["state"] == "open"


def test_a_wrong_file_is_refused_on_the_page(page, site, tmp_path):
    as_user(page, site, "sup")
    case = site.case_for(site.data.bad_ids[12])
    page.goto(f"{site.url}/cases/{case['id']}")
    _upload(page, tmp_path, "fake.pdf", b"<html>not a pdf</html>")
    assert "PDF、PNG 或 JPEG" in page.locator("#error").inner_text()
    assert page.locator("#attachments li").count() == 0


def test_case_list_shows_deadline_and_overdue(site):
    import sqlalchemy as sa

    from central import db
    case = site.case_for(site.data.bad_ids[4])
    with db.write_tx(db.engine_for(site.db)) as conn:  # a case whose deadline has passed
        conn.execute(db.cases.update().where(db.cases.c.id == case["id"])
                     .values(deadline=sa.func.datetime("now", "-1 day")))
    s = site.session("viewer")
    html = s.get(f"{site.url}/cases?view=all&overdue=1").text
    assert f'data-id="{case["id"]}"' in html and "已超期" in html
    api = site.api("/api/v1/cases", overdue="true")
    assert html.count('class="pill red days"') == len(api["cases"]) == 1
    assert re.search(r'id="overdue-count">已超期 1<', html)


def test_board_overview_and_export_show_the_rectified_rate(site):
    """差评整改率 on the public board, the loop figures on the overview, the same numbers as the API."""
    total = site.api("/api/v1/stats")["total"]
    board = requests.get(site.url + "/board.json", timeout=10).json()
    assert board["pages"][0]["kind"] == "total"
    assert board["pages"][0]["rows"][0]["rectify_rate"] == total["rectify_rate"]
    html = site.session("viewer").get(site.url + "/overview").text
    for field in ("rectified", "overdue"):
        assert f'id="total-{field}" data-value="{total[field]}"' in html
    assert 'id="total-rectify-rate"' in html and 'id="total-followup-rate"' in html
    csv_text = site.session("viewer").get(site.url + "/export/stats.csv").content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].endswith("差评已整改数,差评整改率,超期未整改数,实名差评回访率")
