"""Login: the form, wrong passwords, CSRF, the rate limit, cookie flags, headers, logout."""

from __future__ import annotations

import re

import requests

from .conftest import PASSWORD, login


def _login_form(s: requests.Session, url: str) -> str:
    r = s.get(url + "/login")
    assert r.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)


def test_pages_need_login(site):
    for path in ("/overview", "/ratings", "/devices", "/cases", "/cases/1"):
        r = requests.get(site.url + path, allow_redirects=False, timeout=10)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
    for path in ("/export/ratings.csv", "/export/ratings.xlsx", "/export/national.json"):
        assert requests.get(site.url + path, timeout=10).status_code == 401, path


def test_login_logout_in_the_browser(page, context, site):
    login(page, site, "viewer")
    assert page.locator("#whoami").inner_text().startswith("viewer")
    cookie = next(c for c in context.cookies() if c["name"] == "kiosk_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    page.click("button:has-text('退出')")
    page.wait_for_url("**/login")
    page.goto(site.url + "/overview")
    assert "/login" in page.url
    assert not page.errors, page.errors


def test_wrong_password_and_language(page, site):
    page.goto(site.url + "/login?lang=en")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator("#error").inner_text() == "Wrong username or password."
    page.goto(site.url + "/login")  # the language stays (cookie)
    assert page.locator("h1").inner_text() == "Log in"
    page.goto(site.url + "/login?lang=zh")
    assert page.locator("h1").inner_text() == "登录"


def test_login_form_needs_its_csrf_token(site):
    s = requests.Session()
    _login_form(s, site.url)
    r = s.post(site.url + "/login", data={"username": "admin", "password": PASSWORD}, allow_redirects=False)
    assert r.status_code == 403
    assert "kiosk_session" not in s.cookies
    # a token that belongs to another browser's pre-session cookie does not help either
    other = requests.Session()
    token = _login_form(other, site.url)
    r = s.post(site.url + "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 403
    # a cross-site origin is refused even with the right token
    token = _login_form(s, site.url)
    r = s.post(site.url + "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token},
               headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert r.status_code == 403
    r = s.post(site.url + "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token,
                                          "next": "//evil.example/x"}, allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/overview"  # never off-site


def test_login_is_rate_limited(site):
    from central import db
    from central.auth import add_user
    add_user(db.engine_for(site.db), "target", PASSWORD, "viewer")
    s = requests.Session()
    for _ in range(5):
        token = _login_form(s, site.url)
        r = s.post(site.url + "/login", data={"username": "target", "password": "guess-guess",
                                              "csrf_token": token}, allow_redirects=False)
        assert r.status_code == 401
    token = _login_form(s, site.url)
    r = s.post(site.url + "/login", data={"username": "target", "password": PASSWORD, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 429  # even the right password waits
    assert int(r.headers["retry-after"]) > 0
    # another account from the same address is not locked out by it
    token = _login_form(s, site.url)
    r = s.post(site.url + "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 303


def test_security_headers(site):
    s = site.session("viewer")
    for path in ("/login", "/overview", "/board", "/static/site.css"):
        h = s.get(site.url + path, timeout=10).headers
        assert h["x-content-type-options"] == "nosniff", path
        assert h["x-frame-options"] == "DENY", path
        assert h["referrer-policy"] == "same-origin", path
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
