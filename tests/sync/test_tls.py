"""TLS is always verified: a server whose certificate is not trusted is an
error naming the CA setting; ``[sync] ca_bundle`` makes a private CA work."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest

from kiosk.exceptions import ConfigError
from sync import TransportError
from sync.client import Client

from .conftest import ScriptedServer, fill


@pytest.fixture
def tls_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True)
    srv = ScriptedServer()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.httpd.socket = ctx.wrap_socket(srv.httpd.socket, server_side=True)
    srv.url = srv.url.replace("http://", "https://")
    yield srv, cert
    srv.close()


def test_untrusted_certificate_is_refused(tls_server):
    srv, _cert = tls_server
    client = Client(srv.url, "tok", timeout=5)
    with pytest.raises(TransportError, match="TLS error.*ca_bundle"):
        client.post_json("/api/v1/heartbeat", {"device_id": "d"})
    assert srv.heartbeats == []
    client.close()


def test_ca_bundle_is_used(tls_server, buf, make_uploader):
    srv, cert = tls_server
    fill(buf, 3)
    up = make_uploader(srv.url, timeout=5)
    up.client.close()
    up.client = Client(srv.url, "tok", ca_bundle=str(cert), timeout=5)
    assert up.client.verify == str(cert)
    assert up.step().kind == "ok"
    assert len(srv.store) == 3


def test_missing_ca_bundle_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="sync.ca_bundle"):
        Client("https://example.invalid", "tok", ca_bundle=str(tmp_path / "nope.pem"))
