"""The overview as a supervisor's problem finder: KPIs against the previous period
(read from the DOM, compared with ``GET /api/v1/stats``), 需关注 with its links, the
sortable group table, the heat map against a SQL recount, and the 30-day default.

The data: the web tests' known data set uploaded through ``POST /api/v1/batches``
(this period) plus a few ratings 30 days earlier (the previous period); one case's
deadline and one device's last heartbeat are moved into the past with SQLAlchemy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from central.db import cases, devices, ratings
from central.workflow import NOT_OVERDUE
from testkit.server import add_device, add_user

from .conftest import PASSWORD, STAFF, Site, as_user, ev_detail, ev_rating, known_dataset, upload_by_window, web_server

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def ov_site(tmp_path_factory) -> Iterator[Site]:
    db = str(tmp_path_factory.mktemp("ovkpi") / "central.db")
    for user, role in (("admin", "admin"), ("sup", "supervisor")):
        add_user(db, user, PASSWORD, role)
    data = known_dataset()
    before = datetime.now(UTC) - timedelta(days=31)
    for i, (section, window, staff, name) in enumerate(STAFF):
        for sat in (5, 5, 4) if window != "1" else (5, 2):
            r = ev_rating(sat, t=before - timedelta(minutes=i), section=section, window=window, staff=staff,
                          name=name)
            data.events.append(r)
            if sat <= 2:
                data.events.append(ev_detail(r, ["207"]))
    token = add_device(db, "ov-dev-1", window="1", section="综合服务区", staff_no="A001")
    with web_server(db) as url:
        upload_by_window(str(url), db, data.events, {("综合服务区", "1"): "ov-dev-1"})
        engine = sa.create_engine(f"sqlite:///{db}")
        with engine.begin() as conn:
            first = conn.execute(sa.select(cases.c.id).where(cases.c.window_no == "5")
                                 .order_by(cases.c.id)).scalars().first()
            conn.execute(cases.update().where(cases.c.id == first)
                         .values(deadline=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)))
            conn.execute(devices.update().where(devices.c.device_id == "web-dev-3")
                         .values(last_seen_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=3)))
        engine.dispose()
        site = Site(str(url), db, data, token)
        site.overdue_case = first  # type: ignore[attr-defined]
        yield site


KPI_IDS = {"count": "total-count", "good_rate": "total-good-rate", "bad": "total-bad",
           "bad_unrectified": "total-unrectified", "overdue": "total-overdue", "rectify_rate": "total-rectify-rate"}


def _num(text: str) -> float | None:
    return float(text) if text else None


def test_kpis_and_their_change_equal_the_api(ov_site, page):
    as_user(page, ov_site, "sup")
    today = datetime.now(UTC).astimezone(TZ).date()
    page.goto(ov_site.url + "/overview")
    cur = ov_site.api("/api/v1/stats", "sup", **{"from": (today - timedelta(days=29)).isoformat(),
                                                 "to": today.isoformat()})["total"]
    p_to = today - timedelta(days=30)
    prev = ov_site.api("/api/v1/stats", "sup", **{"from": (p_to - timedelta(days=29)).isoformat(),
                                                  "to": p_to.isoformat()})["total"]
    assert prev["count"] == 11 and prev["bad"] == 1  # the previous period's own ratings
    assert page.locator("#period").inner_text().endswith(f"{p_to - timedelta(days=29)} — {p_to}")
    for key, element in KPI_IDS.items():
        assert _num(page.locator(f"#{element}").get_attribute("data-value")) == cur[key], key
        box = page.locator(f"#kpi-{key}")
        assert _num(box.get_attribute("data-prev")) == prev[key], key
        delta = _num(box.locator(".delta").get_attribute("data-delta"))
        if cur[key] is None or prev[key] is None:
            assert delta is None
            continue
        want = round((cur[key] - prev[key]) * 100, 2) if key.endswith("rate") else cur[key] - prev[key]
        assert delta == want, key
        text = box.locator(".delta").inner_text()
        assert text.startswith("▲" if want > 0 else "▼" if want < 0 else "="), text  # not colour only
        assert "较上期" in text
    bad = page.locator("#kpi-bad .delta")
    assert "bad" in (bad.get_attribute("class") or "")  # more 差评 than before: shown as worse
    colour = bad.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(179, 38, 30)"  # #b3261e: 6.1:1 on white
    page.screenshot(path="docs/screenshots/web_overview.png", full_page=True)
    assert not page.errors


def test_attention_lists_rising_windows_overdue_cases_and_offline_devices(ov_site, page):
    as_user(page, ov_site, "sup")
    page.goto(ov_site.url + "/overview")
    windows = page.locator("#att-windows li[data-key]")
    assert windows.count() >= 1
    five = page.locator("#att-windows li[data-key='5']")
    assert five.locator("a").first.get_attribute("href") == "/cases?view=all&window=5"
    assert "window=5" in (five.locator("a").nth(1).get_attribute("href") or "")
    staff = page.locator("#att-staff li[data-key='B005']")
    assert "王五" in staff.inner_text()
    assert staff.locator("a").first.get_attribute("href") == "/cases?view=all&staff_no=B005"
    case = page.locator(f"#att-overdue li[data-id='{ov_site.overdue_case}']")
    assert case.locator("a").get_attribute("href") == f"/cases/{ov_site.overdue_case}"
    assert case.locator(".source").get_attribute("data-source") == "touch"
    assert "评价器·触摸屏" in case.inner_text()
    engine = sa.create_engine(f"sqlite:///{ov_site.db}")
    with engine.connect() as conn:
        late = conn.execute(sa.select(sa.func.count()).select_from(cases).where(
            cases.c.state.not_in(NOT_OVERDUE), cases.c.deadline < datetime.now(UTC).replace(tzinfo=None))).scalar()
    engine.dispose()
    assert int(page.locator("#att-overdue-total").inner_text()) == late >= 1
    dev = page.locator("#att-devices li[data-id='web-dev-3']")
    assert dev.get_attribute("data-status") == "stale" and "失联" in dev.inner_text()
    assert dev.locator("a").get_attribute("href") == "/devices#dev-web-dev-3"
    assert page.locator("#att-devices li[data-id='ov-dev-1']").get_attribute("data-status") == "never"
    page.locator("#attention").screenshot(path="docs/screenshots/web_attention.png")
    page.click("#att-windows li[data-key='5'] a >> nth=0")
    page.wait_for_url("**/cases?view=all&window=5")
    assert page.locator("#devices, table").count() >= 1
    # filtered by source, the attention links keep the filter and the overdue cases are that source's
    page.goto(ov_site.url + "/overview?source=touch")
    assert page.locator("#att-windows li[data-key='5'] a").first.get_attribute("href") == \
        "/cases?view=all&window=5&source=touch"
    assert page.locator(f"#att-overdue li[data-id='{ov_site.overdue_case}']").count() == 1
    page.goto(ov_site.url + "/overview?source=paper")
    assert page.locator("#att-overdue li[data-id]").count() == 0
    assert page.locator("#att-overdue-total").inner_text() == "0"
    page.goto(ov_site.url + "/devices#dev-web-dev-3")
    assert page.locator("#dev-web-dev-3").get_attribute("data-status") == "stale"


def test_group_table_sorts_numerically_and_by_any_column(ov_site, page):
    as_user(page, ov_site, "sup")
    page.goto(ov_site.url + "/overview?group_by=staff")
    keys = lambda: page.locator("#groups tbody tr[data-key]").evaluate_all(  # noqa: E731
        "rows => rows.map(r => r.getAttribute('data-key'))")
    assert "张三" in page.locator("#groups tr[data-key='A001'] td").first.inner_text()  # the name beside 工号
    link = page.locator("#groups tr[data-key='A001'] a.to-ratings").get_attribute("href")
    assert "staff_no=A001" in link and "from=" in link
    assert page.locator("#groups tr[data-key='A001'] a.to-cases").get_attribute("href") == \
        "/cases?view=all&staff_no=A001"
    # make the numeric sort observable: 10 must come after 9, not before it as text would
    page.evaluate("""() => { const rows = document.querySelectorAll('#groups tbody tr[data-key]');
        rows.forEach((r, i) => r.querySelector('[data-field=count]').setAttribute('data-sort', i ? '1' : '10'));
        rows[1].querySelector('[data-field=count]').setAttribute('data-sort', '9'); }""")
    first_two = keys()[:2]
    head = page.locator("#groups thead th").nth(1)
    head.locator("button").click()
    assert head.get_attribute("aria-sort") == "ascending"
    order = keys()
    assert order.index(first_two[1]) < order.index(first_two[0])  # 9 before 10
    head.locator("button").click()
    assert head.get_attribute("aria-sort") == "descending" and keys()[0] == first_two[0]
    counts = page.locator("#groups tbody tr[data-key] [data-field=bad]").evaluate_all(
        "cells => cells.map(c => +c.getAttribute('data-sort'))")
    bad_head = page.locator("#groups thead th").nth(7)
    bad_head.locator("button").click()
    after = page.locator("#groups tbody tr[data-key] [data-field=bad]").evaluate_all(
        "cells => cells.map(c => +c.getAttribute('data-sort'))")
    assert after == sorted(counts) and head.get_attribute("aria-sort") == "none"
    page.locator("#groups thead th").nth(0).locator("button").click()
    names = keys()
    assert names in (sorted(names), sorted(names, reverse=True))


def test_heat_map_counts_equal_a_sql_recount(ov_site, page):
    as_user(page, ov_site, "sup")
    today = datetime.now(UTC).astimezone(TZ).date()
    page.goto(ov_site.url + "/overview")
    page.wait_for_selector("#heatmap-chart[data-rendered='1']")
    import json
    grid = json.loads(page.locator("#heatmap-data").inner_text())["grid"]
    engine = sa.create_engine(f"sqlite:///{ov_site.db}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ratings.c.rated_at).where(
            ratings.c.day >= today - timedelta(days=29), ratings.c.misuse == sa.false())).scalars().all()
    engine.dispose()
    want = [[0] * 24 for _ in range(7)]
    for t in rows:
        local = t.replace(tzinfo=UTC).astimezone(TZ)
        want[local.weekday()][local.hour] += 1
    assert grid == want and sum(map(sum, grid)) == len(rows) > 0
    page.locator("#heatmap-chart").screenshot(path="docs/screenshots/web_heatmap.png")


@pytest.mark.parametrize("path", ["/overview", "/ratings", "/export/stats.csv", "/export/ratings.csv"])
def test_the_default_range_is_the_last_30_days_everywhere(ov_site, path):
    today = datetime.now(UTC).astimezone(TZ).date()
    first = today - timedelta(days=29)
    r = ov_site.session("sup").get(ov_site.url + path)
    assert r.status_code == 200
    if path.startswith("/export"):
        assert f"_{first}_{today}." in r.headers["content-disposition"]
    else:
        assert re.search(rf'name="from" value="{first}"', r.text) and re.search(rf'name="to" value="{today}"', r.text)
