"""The hall board on a television and a phone (Debian's Chromium): it fills 1080p
and 4K screens, rotates through the hall total, the sections, the windows and the
工号, keeps its figures through a server stop and recovers by itself without a
reload, shows "—" for a rate without data, and stays legible at phone width.
Screenshots go to docs/screenshots/board_*.png."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from testkit.server import ServerProcess, add_device, free_port, make_batch, rating_event, running_server

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HALL = "南山区政务服务中心"
# (section, window, staff, levels given)
PLACES = [("综合服务区", "1", "A001", [5, 5, 4, 3, 5, 2]), ("综合服务区", "2", "A002", [5, 4, 1]),
          ("不动产登记", "5", "B005", [5, 5, 5, 4]), ("社保医保", "9", "C009", [3, 2, 5])]


def upload(server: str, db: str, place: tuple, levels: list[int]) -> None:
    section, window, staff, _ = place
    device_id = f"tv-{staff}"
    token = add_device(db, device_id, window=window, section=section, staff_no=staff)
    events = [rating_event(s, window_no=window, section=section, staff_no=staff, staff_name="某某") for s in levels]
    r = requests.post(server + "/api/v1/batches", json=make_batch(device_id, events),
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.json()


def board_server(db: str) -> contextlib.AbstractContextManager[ServerProcess]:
    """A real server on a fixed port: fetches every second, 2 rows a page, a page per 工号."""
    return running_server(db, port=free_port(), hall_name=HALL,
                          web={"board_refresh_seconds": 1, "board_rows": 2, "board_show_staff": True})


@pytest.fixture(scope="module")
def tv(tmp_path_factory) -> Iterator[ServerProcess]:
    db = str(tmp_path_factory.mktemp("tv") / "central.db")
    with board_server(db) as server:
        for place in PLACES:
            upload(server, db, place, place[3])
        yield server


@pytest.fixture
def screen(browser):
    made = []

    def open_page(width: int, height: int):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        made.append(ctx)
        page = ctx.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        return page

    yield open_page
    for ctx in made:
        ctx.close()


def wait_until(page, js: str, timeout: float = 30.0) -> None:
    """Poll the expression ``js`` in the page until it is true (the page's CSP forbids
    the string evaluation ``page.wait_for_function`` needs)."""
    for _ in range(int(timeout * 10)):
        if page.evaluate(js):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {timeout} s: {js}")


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.mark.parametrize("width,height,shot", [(1920, 1080, "board_1080p.png"), (3840, 2160, "board_4k.png")])
def test_board_fills_the_screen(screen, tv, width, height, shot):
    page = screen(width, height)
    page.goto(tv + "/board?interval=3600")
    page.wait_for_selector("#board-total")
    head, foot, tiles = box(page, ".boardhead"), box(page, ".boardfoot"), box(page, "#board-total")
    left, right = min(head["x"], tiles["x"]), max(head["x"] + head["width"], tiles["x"] + tiles["width"])
    top, bottom = head["y"], foot["y"] + foot["height"]
    assert right - left >= 0.85 * width, (left, right)
    assert bottom - top >= 0.80 * height, (top, bottom)
    assert tiles["width"] >= 0.85 * width and tiles["height"] >= 0.5 * height, tiles
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    # nothing tiny: every text on the board is at least 2 % of the screen's height
    sizes = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.offsetParent !== null && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
        .map(e => parseFloat(getComputedStyle(e).fontSize))""")
    assert sizes and min(sizes) >= 0.02 * height, sorted(sizes)[:5]
    big = page.locator("#board-total .count .v").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= 0.06 * height
    assert page.locator("#board-hall").inner_text() == HALL
    assert page.locator("#board-period").inner_text() == "本月"
    assert page.locator("#board-clock").inner_text().count(":") == 1
    page.screenshot(path=str(SHOTS / shot))
    if width == 1920:
        page.goto(tv + "/board?interval=1")
        page.wait_for_selector("#board-page[data-kind=section]")
        table = box(page, "#board")
        assert table["width"] >= 0.85 * width
        page.screenshot(path=str(SHOTS / "board_section.png"))
    assert not page.errors, page.errors


def test_board_rotates_through_every_page(screen, tv):
    doc = requests.get(tv + "/board.json", timeout=10).json()
    expected = [f"{p['kind']}:{p['n']}" for p in doc["pages"]]
    # 4 sections' worth of places, 2 rows a page: 2 section pages, 2 window pages, 2 staff pages
    assert expected == ["total:1", "section:1", "section:2", "window:1", "window:2", "staff:1", "staff:2"]
    page = screen(1920, 1080)
    page.goto(tv + "/board?interval=1")
    page.evaluate("""() => { window.__seen = [];
        const b = document.getElementById('board-page');
        const note = () => { const k = b.dataset.kind + ':' + b.dataset.n;
                             if (window.__seen[window.__seen.length - 1] !== k) window.__seen.push(k); };
        note(); new MutationObserver(note).observe(b, {attributes: true, childList: true}); }""")
    wait_until(page, "window.__seen.length >= 8")
    seen = page.evaluate("window.__seen")
    assert seen[:8] == expected + ["total:1"], seen
    rows = requests.get(tv + "/board.json", timeout=10).json()["pages"]
    windows = [r["key"] for p in rows if p["kind"] == "window" for r in p["rows"]]
    assert windows == ["1", "2", "5", "9"]
    total = rows[0]["rows"][0]
    assert total["count"] == sum(len(p[3]) for p in PLACES) and total["bad"] == 3
    assert not page.errors, page.errors


def test_board_survives_a_server_stop_without_a_reload(screen, tmp_path):
    db = str(tmp_path / "central.db")
    with board_server(db) as server:
        upload(server, db, PLACES[0], [5, 4, 1])
        page = screen(1920, 1080)
        navigations = []
        page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
        page.goto(server + "/board?interval=3600")
        page.evaluate("window.__loaded_once = 'yes'")
        count = page.locator("#board-total .count .v")
        assert count.inner_text() == "3"
        assert page.locator("#board-offline").is_hidden()
        assert page.locator("#board-updated").inner_text().startswith("数据更新于 ")

        server.stop()
        page.wait_for_selector("#board-offline", state="visible", timeout=20000)
        assert count.inner_text() == "3"  # the last figures stay on screen
        assert page.locator("#board-updated").inner_text().startswith("数据更新于 ")
        page.screenshot(path=str(SHOTS / "board_offline.png"))

        server.start()
        upload(server, db, PLACES[2], [5, 5])
        wait_until(page, "document.querySelector('#board-total .count .v').textContent === '5'")
        page.wait_for_selector("#board-offline", state="hidden", timeout=20000)
        assert page.evaluate("window.__loaded_once") == "yes"  # no reload happened
        assert len(navigations) == 1, navigations
        assert not page.errors, page.errors


def test_rates_without_data_show_a_dash(screen, tmp_path):
    with board_server(str(tmp_path / "empty.db")) as server:
        page = screen(1920, 1080)
        page.goto(server + "/board?interval=3600")
        for tile in ("#board-good-rate", "#board-rectify-rate"):
            assert page.locator(tile + " .v").inner_text() == "—"
            assert "none" in page.locator(tile).get_attribute("class")
        assert page.locator("#board-total .count .v").inner_text() == "0"


def test_board_is_legible_at_phone_width(screen, tv):
    page = screen(390, 844)
    page.goto(tv + "/board?interval=1")
    page.wait_for_selector("#board-page[data-kind=section]")
    heads = page.evaluate("""() => [...document.querySelectorAll('#board th, .tile .k, h1, h2')]
        .filter(e => e.offsetParent !== null).map(e => { const s = getComputedStyle(e), r = e.getBoundingClientRect();
            const lh = parseFloat(s.lineHeight) || 1.2 * parseFloat(s.fontSize);
            return {text: e.textContent, w: r.width, h: r.height, font: parseFloat(s.fontSize), lh: lh}; })""")
    assert len(heads) >= 11
    for h in heads:
        assert h["w"] >= 2 * h["font"], h  # never one character a line
        assert h["h"] < 3 * h["lh"], h
        assert h["font"] >= 12, h
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SHOTS / "board_phone.png"), full_page=True)
    assert not page.errors, page.errors
