"""The public hall board: no login, no personal data, the figures of the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests

from .conftest import PHONE, STAFF


def test_board_without_login_shows_the_api_figures(page, site):
    page.goto(site.url + "/board?period=year&interval=1")
    assert page.url.endswith("/board?period=year&interval=1")  # no redirect to the login
    total = page.locator("#board-total").inner_text()
    page.wait_for_selector("#board-page[data-kind=section]")
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    api = requests.get(site.url + "/api/v1/stats", params={"from": today.replace(month=1, day=1).isoformat(),
                                                           "to": today.isoformat(), "group_by": "section"},
                       timeout=10).json()
    # the pages rotate every second: the table is read in one go, while the section page shows
    table = page.wait_for_function("""() => {
        const box = document.querySelector('#board-page');
        if (!box || box.dataset.kind !== 'section') return null;
        return [...box.querySelectorAll('#board tbody tr[data-key]')].map(
            tr => [tr.dataset.key, [...tr.querySelectorAll('th, td')].map(c => c.innerText)]);
    }""").json_value()
    assert [key for key, _cells in table] == [g["key"] for g in api["groups"]]
    for (_key, cells), g in zip(table, api["groups"]):
        assert cells[1:7] == [str(g["count"])] + [str(g["levels"][k]) for k in ("5", "4", "3", "2", "1")]
        assert cells[7:9] == [str(g["bad"]), str(g["bad_unrectified"])]
        assert cells[9] == f"{g['good_rate'] * 100:.2f}%"
    assert str(api["total"]["count"]) in total
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # the script fetches /board.json instead
    assert not page.errors, page.errors


def test_board_has_no_personal_data(site):
    html = requests.get(site.url + "/board?period=year", timeout=10).text
    digits = re.sub(r"\D", "", PHONE)
    assert digits not in html and digits[-4:] + "<" not in html and "****" not in html
    for _section, _w, staff_no, name in STAFF:
        assert name not in html and staff_no not in html
    assert "张三" not in html and "comment" not in html.lower()
    assert "__xss" not in html


def test_board_is_readable_on_a_big_screen(browser, site):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = ctx.new_page()
        page.goto(site.url + "/board")
        size = page.locator("#board-total .v").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 60  # readable from across the hall
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        ctx.close()


def test_board_follows_public_stats_false(tmp_path):
    from .conftest import web_server

    with web_server(str(tmp_path / "private.db"), server={"public_stats": False}) as url:
        r = requests.get(url + "/board", allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert requests.get(url + "/export/stats.csv", timeout=10).status_code == 401
        assert requests.get(url + "/board.json", timeout=10).status_code == 401
