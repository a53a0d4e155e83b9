"""The provincial push page in the browser: counts by status, the refused
records with the platform's reason and re-push, the 差评 waiting for reasons
linked to their cases; admins only."""

from __future__ import annotations

import time

import requests

from testkit.province_platform import FakePlatform
from testkit.server import add_device, add_user, make_batch, rating_event

from .conftest import PASSWORD, Site, as_user, web_server


def _wait(fn, what: str) -> None:
    end = time.monotonic() + 60
    while not fn():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_province_page_shows_and_repushes(page, tmp_path):
    db = str(tmp_path / "c.db")
    for user, role in (("admin", "admin"), ("sup", "supervisor")):
        add_user(db, user, PASSWORD, role)
    token = add_device(db, "pv-dev", window="3", section="综合服务区", staff_no="A001")
    with FakePlatform("shandong") as fp:
        fp.refuse[("PV-1", 2)] = "事项编码不存在"
        cfg = {"enabled": True, "profile": "shandong", "url": fp.url, "poll_seconds": 0.1, "area_code": "370102"}
        with web_server(db, {"timezone": "Asia/Shanghai"}, province=cfg) as url:
            site = Site(str(url), db, None, token)  # type: ignore[arg-type]
            evs = [rating_event(5, project_no="PV-1"), rating_event(4, project_no="PV-1"),
                   rating_event(2, project_no="PV-2"), rating_event(5)]
            r = requests.post(url + "/api/v1/batches", json=make_batch("pv-dev", evs),
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 200
            counts = lambda: site.api("/api/v1/province")["counts"]  # noqa: E731
            _wait(lambda: counts()["sent"] == 1 and counts()["rejected"] == 1 and counts()["skipped"] == 1,
                  "the first answers")
            as_user(page, site, "sup")
            assert page.goto(url + "/province").status == 403
            page.errors.clear()  # the refused page load itself
            as_user(page, site, "admin")
            page.goto(url + "/overview")
            page.click("nav a[href='/province']")
            page.wait_for_url("**/province")
            assert page.locator("#counts [data-status=sent] b").inner_text() == "1"
            assert page.locator("#counts [data-status=waiting_detail] b").inner_text() == "1"
            row = page.locator("#rejected tbody tr").first
            assert "事项编码不存在" in row.inner_text() and "PV-1" in row.inner_text()
            case_link = page.locator("#waiting a[href^='/cases/']")
            assert case_link.count() == 1
            page.screenshot(path="docs/screenshots/province.png", full_page=True)
            del fp.refuse[("PV-1", 2)]
            row.locator("button").click()
            page.wait_for_url("**/province")
            _wait(lambda: counts()["sent"] == 2, "the re-pushed record")
            page.reload()
            assert page.locator("#counts [data-status=sent] b").inner_text() == "2"
            assert "没有被拒绝的记录" in page.locator("#rejected").inner_text()
            assert not page.errors
    assert fp.receipts[("PV-1", 2)] == 1
