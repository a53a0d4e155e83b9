"""Window QR codes (docs/web.md "QR codes"): the poster rendered in Chromium and its
code decoded back to the window's address, the phone page at a phone viewport
(levels, reasons, the cooldown misuse flag), rotation, 429 after 20 a minute and
the heartbeat's ``qr_url``, on a real server."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import requests

from central import db, remote
from testkit.server import add_device, add_user, free_port, running_server

from .conftest import PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def decode(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("qr") / "central.db")
    add_user(path, "admin", PASSWORD, "admin")
    token = add_device(path, "qr-dev-1", window="Q1", section="税务服务区", staff_no="C001")
    remote.put_staff(db.engine_for(path), "C001", "赵敏")
    port = free_port()
    with running_server(path, port=port, public_url=f"http://127.0.0.1:{port}") as url:
        s = requests.Session()
        s.post(url + "/api/v1/login", json={"username": "admin", "password": PASSWORD}, timeout=10).raise_for_status()
        yield {"url": str(url), "db": path, "admin": s, "device_token": token}


def qr_ratings(hall) -> list[dict]:
    r = hall["admin"].get(hall["url"] + "/api/v1/ratings", params={"window": "Q1", "page_size": 1000}, timeout=10)
    r.raise_for_status()
    return [x for x in r.json()["ratings"] if x["source"] == "qr"]


def window_url(hall) -> str:
    png = hall["admin"].get(hall["url"] + "/windows/Q1/qr.png", timeout=10)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    texts = decode(png.content)
    assert len(texts) == 1 and re.fullmatch(re.escape(hall["url"]) + r"/r/[A-Za-z0-9_-]{16}", texts[0]), texts
    return texts[0]


def test_poster_qr_decodes_to_the_window_address(hall, browser):
    url = window_url(hall)
    ctx = browser.new_context(viewport={"width": 800, "height": 1100})
    ctx.add_cookies([{"name": "kiosk_session", "value": hall["admin"].cookies["kiosk_session"], "url": hall["url"]}])
    page = ctx.new_page()
    page.goto(hall["url"] + "/windows/Q1/poster")
    assert "请扫码评价本次服务" in page.inner_text("#poster")
    assert "税务服务区" in page.inner_text("#poster") and "Q1" in page.inner_text("#poster")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#poster").screenshot(path=str(SHOTS / "web_qr_poster.png"))
    assert decode(page.locator("#poster .qrbox").screenshot()) == [url]
    page.emulate_media(media="print")
    assert not page.locator(".top").is_visible()
    ctx.close()
    assert requests.get(hall["url"] + "/windows/Q1/qr.png", timeout=10, allow_redirects=False).status_code == 303


def test_phone_page_rates_and_flags_the_second_rating(hall, browser):
    url = window_url(hall)
    before = len(qr_ratings(hall))
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    assert "请评价本次服务" in page.inner_text("h1")
    assert not page.locator("#reasons-1").is_visible()
    page.click("label.lvb1")
    assert page.locator("#reasons-1").is_visible() and not page.locator("#reasons-5").is_visible()
    page.check("#reasons-1 input[value='110']")
    page.fill("textarea[name=comment]", "等了很久")
    page.fill("input[name=phone]", "13700137000")
    page.screenshot(path=str(SHOTS / "web_qr_phone.png"), full_page=True)
    page.click("#submit")
    page.wait_for_selector("#thanks")
    page.goto(url)
    page.click("label.lvb5")
    page.click("#submit")
    page.wait_for_selector("#thanks")
    assert errors == []
    ctx.close()
    rows = sorted(qr_ratings(hall)[: len(qr_ratings(hall)) - before], key=lambda r: r["satisfaction"])
    assert [(r["satisfaction"], r["misuse"]) for r in rows] == [(1, False), (5, True)]
    first = rows[0]
    assert (first["section"], first["window_no"], first["staff_no"], first["staff_name"], first["channel"]) == (
        "税务服务区", "Q1", "C001", "赵敏", 3)
    assert first["reasons"] == ["110"] and first["comment"] == "等了很久"
    assert first["phone"] == "13700137000"  # admin sees it
    cases = hall["admin"].get(hall["url"] + "/api/v1/cases", params={"window": "Q1"}, timeout=10).json()["cases"]
    assert first["id"] in {c["rating_id"] for c in cases}


def test_post_needs_the_page_token(hall):
    url = window_url(hall)
    r = requests.post(url, data={"satisfaction": "5"}, timeout=10)
    assert r.status_code == 403
    s = requests.Session()
    page = s.get(url, timeout=10)
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text).group(1)
    assert s.post(url, data={"satisfaction": "5", "form_token": "0" * 64}, timeout=10).status_code == 403
    bad = s.post(url, data={"satisfaction": "9", "form_token": token}, timeout=10)
    assert bad.status_code == 400 and "satisfaction" in bad.text
    assert s.post(url, data={"satisfaction": "4", "form_token": token}, timeout=10).status_code == 200


def test_rotation_invalidates_the_old_address(hall, browser):
    old = window_url(hall)
    ctx = browser.new_context()
    ctx.add_cookies([{"name": "kiosk_session", "value": hall["admin"].cookies["kiosk_session"], "url": hall["url"]}])
    page = ctx.new_page()
    page.goto(hall["url"] + "/windows/Q1/poster")
    page.click("#rotate")
    page.wait_for_url("**/windows/Q1/poster")
    ctx.close()
    new = window_url(hall)
    assert new != old
    assert requests.get(old, timeout=10).status_code == 404
    assert requests.get(new, timeout=10).status_code == 200


def test_heartbeat_carries_the_window_qr_url(hall):
    r = requests.post(hall["url"] + "/api/v1/heartbeat", json={"pending": 0},
                      headers={"Authorization": "Bearer " + hall["device_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["values"]["qr_url"] == window_url(hall)


def test_more_than_20_a_minute_from_one_address_get_429(tmp_path):
    path = str(tmp_path / "central.db")
    add_user(path, "admin", PASSWORD, "admin")
    token = add_device(path, "qr-dev-2", window="Q2", section="社保", staff_no="")
    with running_server(path) as url:
        hb = requests.post(url + "/api/v1/heartbeat", json={}, headers={"Authorization": f"Bearer {token}"},
                           timeout=10).json()
        assert "qr_url" not in hb["settings"].get("values", {})  # no public_url: no QR address
        s = requests.Session()
        s.post(url + "/api/v1/login", json={"username": "admin", "password": PASSWORD}, timeout=10).raise_for_status()
        qr_url = decode(s.get(url + "/windows/Q2/qr.png", timeout=10).content)[0]
        phone = requests.Session()
        token_ = re.search(r'name="form_token" value="([0-9a-f]+)"', phone.get(qr_url, timeout=10).text).group(1)
        codes = [phone.post(qr_url, data={"satisfaction": "5", "form_token": token_}, timeout=10).status_code
                 for _ in range(21)]
        assert codes == [200] * 20 + [429]
        last = phone.post(qr_url, data={"satisfaction": "5", "form_token": token_}, timeout=10)
        assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0
        rows = s.get(url + "/api/v1/ratings", params={"page_size": 100}, timeout=10).json()["ratings"]
        assert len(rows) == 20
        assert sum(1 for r in rows if r["misuse"]) == 19
