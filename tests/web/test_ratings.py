"""The ratings list: search, reasons, comments, and phone numbers masked unless admin."""

from __future__ import annotations

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
