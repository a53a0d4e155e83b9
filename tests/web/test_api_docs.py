"""``/docs`` works without internet: Swagger UI comes from the server itself
(no CDN), under a Content-Security-Policy, and renders the API in headless
Chromium with every request going to the server."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from .conftest import web_server


def test_docs_are_served_locally_under_a_csp(site, page):
    r = requests.get(site.url + "/docs", timeout=10)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "cdn" not in r.text and "http://" not in r.text and "https://" not in r.text
    hosts = set()
    page.on("request", lambda req: hosts.add(urlsplit(req.url).netloc))
    page.goto(site.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "好差评 central server" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector("[data-path=\"/api/v1/batches\"]", timeout=15000)
    assert hosts == {urlsplit(site.url).netloc}, hosts
    assert not [e for e in page.errors if "Content Security Policy" in e or "Refused" in e], page.errors


def test_docs_can_be_switched_off(tmp_path):
    with web_server(str(tmp_path / "central.db"), {"docs": False}) as url:
        assert requests.get(url + "/docs", timeout=10).status_code == 404
        assert requests.get(url + "/openapi.json", timeout=10).status_code == 200
