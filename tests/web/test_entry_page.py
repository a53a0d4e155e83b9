"""The entry page (docs/web.md "Entering ratings") driven from the keyboard in
headless Chromium: the window picks its staff, a digit picks the level, Enter
saves, a repeated form number is caught, the last entries show beside the form;
an entry is corrected and withdrawn from that list, its history kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from testkit.server import add_device, add_user, running_server

from .conftest import PASSWORD
from .test_axe import axe_source

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("entry") / "central.db")
    for name, role in (("clerk1", "clerk"), ("clerk2", "clerk"), ("viewer1", "viewer"), ("admin1", "admin")):
        add_user(path, name, PASSWORD, role)
    add_device(path, "entry-dev-1", window="E1", section="公安服务区", staff_no="D001")
    add_device(path, "entry-dev-2", window="E2", section="公安服务区", staff_no="D002")
    with running_server(path) as url:
        yield str(url)


def session(url: str, name: str) -> requests.Session:
    s = requests.Session()
    s.post(url + "/api/v1/login", json={"username": name, "password": PASSWORD}, timeout=10).raise_for_status()
    return s


def entry_page(browser, url: str, name: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_cookies([{"name": "kiosk_session", "value": session(url, name).cookies["kiosk_session"], "url": url}])
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/entry")
    return ctx, page, errors


def submit(page) -> None:
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_keyboard_entry_saves_and_catches_a_repeated_form(site, browser):
    ctx, page, errors = entry_page(browser, site, "clerk1")
    assert page.evaluate("document.activeElement.id") == "window_no"
    page.keyboard.type("E2")
    page.keyboard.press("Tab")
    assert page.input_value("#staff_no") == "D002"
    page.keyboard.press("Tab")
    page.keyboard.press("5")  # 5th from the left: 非常不满意
    assert page.is_checked("input[name=satisfaction][value='1']")
    assert page.locator("#reasons-1").is_visible() and not page.locator("#reasons-5").is_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.fill("#form_no", "P-100")
    page.focus("#reasons-1 input >> nth=0")
    submit(page)
    assert page.locator("#saved").count() == 1, page.inner_text("main")
    assert page.locator("#recent tbody tr").count() == 1
    assert "P-100" in page.inner_text("#recent")
    assert page.evaluate("document.activeElement.id") == "window_no"
    page.keyboard.type("E2")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("1")
    page.fill("#form_no", "P-100")
    submit(page)
    page.wait_for_selector("#duplicate")
    assert "P-100" in page.inner_text("#duplicate")
    page.fill("#form_no", "P-101")
    submit(page)
    assert page.locator("#saved").count() == 1, page.inner_text("main")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "web_entry.png"), full_page=True)
    assert errors == []
    ctx.close()
    rows = session(site, "admin1").get(site + "/api/v1/ratings", params={"window": "E2"}, timeout=10).json()["ratings"]
    assert sorted((r["satisfaction"], r["source"], r["staff_no"]) for r in rows) == [(1, "paper", "D002"),
                                                                                   (5, "paper", "D002")]
    bad = next(r for r in rows if r["satisfaction"] == 1)
    assert bad["reasons"] and bad["case_id"]


def test_unknown_window_is_named_and_viewer_is_refused(site, browser):
    ctx, page, _ = entry_page(browser, site, "clerk1")
    page.keyboard.type("NOPE")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("2")
    submit(page)
    page.wait_for_selector("#error")
    assert "window_no" in page.inner_text("#error")
    ctx.close()
    viewer = session(site, "viewer1").get(site + "/entry", timeout=10)
    assert viewer.status_code == 403
    assert "/entry" not in session(site, "viewer1").get(site + "/ratings", timeout=10).text


def test_correct_then_withdraw_an_entry_from_the_page(site, browser):
    ctx, page, errors = entry_page(browser, site, "clerk2")
    page.fill("#window_no", "E1")
    page.dispatch_event("#window_no", "change")
    page.check("input[name=satisfaction][value='1']")
    page.check("#reasons-1 input >> nth=0")
    page.fill("#form_no", "C-1")
    page.fill("input[name=comment]", "等了很久")
    submit(page)
    assert page.locator("#saved").count() == 1, page.inner_text("main")
    old = page.get_attribute("#recent tbody tr >> nth=0", "data-id")

    with page.expect_navigation():
        page.click("#recent a.fix")
    assert page.locator("#fixing").count() == 1
    assert (page.input_value("#window_no"), page.input_value("#form_no"), page.input_value("#staff_no")) == (
        "E1", "C-1", "D001")
    assert page.is_checked("input[name=satisfaction][value='1']")
    assert page.is_checked("#reasons-1 input >> nth=0")
    assert page.input_value("input[name=comment]") == "等了很久"
    page.check("input[name=satisfaction][value='4']")
    page.dispatch_event("input[name=satisfaction][value='4']", "change")
    assert not page.locator("#reasons-1").is_visible()
    page.fill("#reason", "表上勾的是满意")
    page.screenshot(path=str(SHOTS / "web_entry_correct.png"), full_page=True)
    with page.expect_navigation():
        page.press("#reason", "Enter")
    assert page.locator("#corrected").count() == 1, page.inner_text("main")
    assert "#" in page.inner_text("#corrected")  # its 差评 case went with it
    assert page.locator("#recent tbody tr").count() == 2
    assert page.locator("#recent tr.corrected").count() == 1
    assert page.get_attribute("#recent tr.corrected", "data-id") == old

    admin = session(site, "admin1")
    history = admin.get(f"{site}/api/v1/entries/{old}", timeout=10).json()
    assert [(v["status"], v["satisfaction"]) for v in history["versions"]] == [("corrected", 1), ("current", 4)]
    new = history["current"]
    assert history["versions"][1]["comment"] == "等了很久" and history["versions"][1]["form_no"] == "C-1"
    assert not [c for c in admin.get(site + "/api/v1/cases", params={"window": "E1"}, timeout=10).json()["cases"]
                if c["rating_id"] in (old, new)]

    other = session(site, "clerk1").get(f"{site}/entry", params={"correct": new}, timeout=10)
    assert other.status_code == 403

    page.goto(f"{site}/entry?correct={new}")
    assert page.locator("#history tbody tr").count() == 2
    first = page.inner_text("#history tbody tr >> nth=0")
    assert "clerk2" in first and "表上勾的是满意" in first and "已更正" in first
    page.evaluate(axe_source())
    serious = [v["id"] for v in page.evaluate("axe.run(document).then(r => r.violations)")
               if v["impact"] in ("serious", "critical")]
    assert serious == []
    page.fill("#reason", "同一张表录了两次")
    with page.expect_navigation():
        page.click("#withdraw")
    assert page.locator("#corrected").count() == 1, page.inner_text("main")
    assert page.locator("#recent tr.corrected").count() == 2
    assert admin.get(f"{site}/api/v1/entries/{old}", timeout=10).json()["current"] is None
    assert errors == []
    again = page.goto(f"{site}/entry?correct={new}")  # a withdrawn entry is corrected no more
    assert again.status == 404 and page.locator("#error").count() == 1
    ctx.close()
