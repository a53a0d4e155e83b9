"""The overview shows exactly what ``GET /api/v1/stats`` returns for the same filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .conftest import as_user

FIELDS = {"count": "count", "bad": "bad", "bad_unrectified": "bad_unrectified", "unrated": "unrated"}


def _range() -> tuple[str, str]:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    return (today - timedelta(days=4)).isoformat(), today.isoformat()


def _page_doc(page) -> dict:
    """The totals and the group table as numbers read off the page."""
    def num(sel: str) -> str:
        return page.locator(sel).get_attribute("data-value")

    total = {"count": int(num("#total-count")), "bad": int(num("#total-bad")),
             "bad_unrectified": int(num("#total-unrectified")), "unrated": int(num("#total-unrated")),
             "good_rate": float(num("#total-good-rate")) if num("#total-good-rate") else None,
             "levels": {k: int(page.locator(f"#totals ~ div .lvn[data-level='{k}']").inner_text())
                        for k in ("5", "4", "3", "2", "1")}}
    groups = []
    for row in page.locator("#groups tbody tr[data-key]").all():
        g = {"key": row.get_attribute("data-key")}
        for f in FIELDS:
            g[f] = int(row.locator(f"td[data-field={f}]").inner_text())
        g["levels"] = {k: int(row.locator(f"td[data-field=l{k}]").inner_text()) for k in ("5", "4", "3", "2", "1")}
        gr = row.locator("td[data-field=good_rate]").get_attribute("data-value")
        g["good_rate"] = float(gr) if gr else None
        groups.append(g)
    return {"total": total, "groups": groups}


def _strip(doc: dict) -> dict:
    keep = ("count", "bad", "bad_unrectified", "unrated", "good_rate", "levels")
    return {"total": {k: doc["total"][k] for k in keep},
            "groups": [{"key": g["key"], **{k: g[k] for k in keep}} for g in doc["groups"]]}


@pytest.mark.parametrize("group_by,extra", [
    ("section", {}), ("window", {}), ("staff", {}),
    ("window", {"section": "综合服务区"}), ("staff", {"include_misuse": "1"}),
])
def test_overview_numbers_equal_the_api(page, site, group_by, extra):
    as_user(page, site, "viewer")
    f, t = _range()
    qs = "&".join(f"{k}={v}" for k, v in {"from": f, "to": t, "group_by": group_by, **extra}.items())
    page.goto(f"{site.url}/overview?{qs}")
    shown = _page_doc(page)
    api = site.api("/api/v1/stats", "viewer", **{"from": f, "to": t, "group_by": group_by,
                                                 **({"section": extra["section"]} if "section" in extra else {}),
                                                 **({"include_misuse": "true"} if "include_misuse" in extra else {})})
    assert shown == _strip(api)
    assert api["total"]["count"] > 0 and len(api["groups"]) > 1 or "section" in extra
    assert not page.errors, page.errors


def test_overview_known_totals_and_chart(page, site):
    """The known data set, counted by hand from what was uploaded."""
    as_user(page, site, "viewer")
    f, t = _range()
    page.goto(f"{site.url}/overview?from={f}&to={t}")
    ratings = [e for e in site.data.ratings if not e["misuse"]]
    invalid = 0  # the case tests may have invalidated cases; the API is the judge of those
    doc = site.api("/api/v1/stats", **{"from": f, "to": t})
    invalid = len(ratings) - doc["total"]["count"]
    assert int(page.locator("#total-count").get_attribute("data-value")) == len(ratings) - invalid
    assert int(page.locator("#total-unrated").get_attribute("data-value")) == 12
    page.wait_for_selector("#trend-chart[data-rendered='1']")
    assert page.locator("#trend-chart canvas").count() >= 1
    box = page.locator("#trend-chart").bounding_box()
    for x in (0.4, 0.6, 0.8):  # the tooltip shows without breaking the CSP
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * 0.6)
        page.wait_for_timeout(100)
    assert not page.errors, page.errors
    # the filter form drives the page
    page.select_option("select[name=section]", "不动产登记")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**section=**")
    api = site.api("/api/v1/stats", **{"from": f, "to": t, "section": "不动产登记"})
    assert int(page.locator("#total-count").get_attribute("data-value")) == api["total"]["count"]
    assert not page.errors, page.errors


def test_overview_in_english(page, site):
    as_user(page, site, "viewer")
    page.goto(site.url + "/overview?lang=en")
    assert page.locator("h1").inner_text().startswith("Overview")
    assert "Good rate" in page.locator("#totals").inner_text()
