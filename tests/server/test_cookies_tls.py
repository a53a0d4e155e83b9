"""Cookies are ``Secure`` whenever the request came over TLS: directly, or
through a proxy listed in ``[server] trusted_proxies`` that says so in
``X-Forwarded-Proto``; an untrusted client cannot claim it."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid

import requests

from testkit.server import add_user, free_port, running_server

PASSWORD = "correct horse 1"


def _login(url: str, name: str, **kw) -> requests.Response:
    r = requests.post(url + "/api/v1/login", json={"username": name, "password": PASSWORD}, timeout=10, **kw)
    assert r.status_code == 200, r.text
    return r


def _session_cookie(r: requests.Response) -> str:
    return next(v for k, v in r.raw.headers.items() if k.lower() == "set-cookie" and "kiosk_session=" in v)


def test_secure_behind_a_trusted_proxy_only(tmp_path):
    db = str(tmp_path / "central.db")
    name = "tls-" + uuid.uuid4().hex[:6]
    add_user(db, name, PASSWORD, "viewer")
    with running_server(db) as url:  # default: the proxy on this machine (127.0.0.1, ::1) is trusted
        assert "secure" not in _session_cookie(_login(url, name)).lower()
        cookie = _session_cookie(_login(url, name, headers={"X-Forwarded-Proto": "https"}))
        assert "; secure" in cookie.lower() and "httponly" in cookie.lower()
        page = requests.get(url + "/login", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert "; secure" in page.headers["set-cookie"].lower()  # the login form's CSRF cookie too
    with running_server(db, trusted_proxies=["10.9.9.9"]) as url:  # the caller is not the proxy
        cookie = _session_cookie(_login(url, name, headers={"X-Forwarded-Proto": "https"}))
        assert "secure" not in cookie.lower()


@contextlib.contextmanager
def _tls_server(db: str, tmp_path):
    """The app under uvicorn with TLS on 127.0.0.1 (a self-signed certificate)."""
    import uvicorn

    from central import db as dbmod
    from central.app import create_app
    from central.config import load_settings

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    dbmod.upgrade(db)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(load_settings(None, db=db)), host="127.0.0.1", port=port,
                                           ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield url, str(cert)
    finally:
        server.should_exit = True
        thread.join(10)


def test_secure_when_served_over_tls_directly(tmp_path):
    db = str(tmp_path / "central.db")
    add_user(db, "direct", PASSWORD, "viewer")
    with _tls_server(db, tmp_path) as (url, cert):
        cookie = _session_cookie(_login(url, "direct", verify=cert))
        assert "; secure" in cookie.lower()
