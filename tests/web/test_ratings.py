"""The ratings list: search, reasons, comments, and phone numbers masked unless admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from .conftest import PHONE, as_user


def test_ratings_search_reasons_and_masked_phone(page, site):
    as_user(page, site, "viewer")
    page.goto(site.url + "/ratings")
    total = int(page.locator("#ratings-total").inner_text().split()[0])
    api = site.api("/api/v1/ratings", "viewer", **{"from": "2000-01-01"})
    assert total == api["total"]
    page.select_option("select[name=satisfaction]", "2")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**satisfaction=2**")
    rows = page.locator("#ratings tbody tr[data-id]").all()
    want = [r for r in site.data.ratings if r["satisfaction"] == 2]
    assert len(rows) == len(want) > 0
    assert all("不满意" in r.inner_text() for r in rows)
    assert "没有提供材料样本" in rows[0].locator(".reasons").inner_text()
    page.goto(f"{site.url}/ratings?satisfaction=1&section=综合服务区")
    row = page.locator(f"#ratings tr[data-id='{site.data.xss_rating_id}']")
    assert row.locator(".phone").inner_text() == "138****5678"
    assert PHONE not in page.content()
    assert not page.errors, page.errors


def test_admin_sees_the_whole_phone(page, site):
    as_user(page, site, "admin")
    page.goto(f"{site.url}/ratings?satisfaction=1&section=综合服务区")
    row = page.locator(f"#ratings tr[data-id='{site.data.xss_rating_id}']")
    assert row.locator(".phone").inner_text() == PHONE


def test_claims_and_unknown_staff_are_marked(page, tmp_path):
    from testkit.server import add_device, add_user, make_batch

    from .conftest import PASSWORD, ev_rating, web_server

    db = str(tmp_path / "central.db")
    add_user(db, "viewer", PASSWORD, "viewer")
    token = add_device(db, "mark-1", window="4", section="综合服务区", staff_no="A004")
    now = datetime.now(UTC) - timedelta(minutes=1)
    ok = ev_rating(5, t=now, section="综合服务区", window="4", staff="A004", name="钱七")
    odd = ev_rating(4, t=now, section="社保医保", window="9", staff="Z999", name="某人")
    with web_server(db) as url:
        r = requests.post(url + "/api/v1/batches", json=make_batch("mark-1", [ok, odd]),
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert {x["status"] for x in r.json()["results"]} == {"accepted"}
        session = requests.post(url + "/api/v1/login", json={"username": "viewer", "password": PASSWORD},
                                timeout=10).json()["token"]
        page.context.add_cookies([{"name": "kiosk_session", "value": session, "url": str(url)}])
        page.goto(f"{url}/ratings?from=2000-01-01")
        plain, marked = page.locator(f"tr[data-id='{ok['id']}']"), page.locator(f"tr[data-id='{odd['id']}']")
        assert plain.locator(".claimed, .staff-flag").count() == 0
        assert marked.locator(".staff-flag").count() == 1
        assert "社保医保 9" in marked.locator(".claimed").get_attribute("title")
        assert "综合服务区" in marked.inner_text()  # counted where the device is registered
