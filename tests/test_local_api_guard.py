"""What the local API refuses, on raw sockets: bad lengths, oversized and deeply
nested bodies, foreign Host and Origin headers, OPTIONS. Nothing refused opens
a prompt, nothing leaves a traceback in the device's log."""

from __future__ import annotations

import contextlib
import json
import socket

import pytest

from .local_api_support import (
    AUTH,
    Reply,
    device_config,
    post_bytes,
    raw_request,
    read_reply,
    running_devices,
    scripted_server,
    start_device,
    stop_device,
)

running = pytest.fixture(running_devices)

MiB = 1024 * 1024


def _one_line_error(reply: Reply) -> str:
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert list(body) == ["error"] and "\n" not in body["error"], body
    return body["error"]


# --- Content-Length and the body cap (the device's local API) ------------------------

@pytest.mark.parametrize("length, status, message", [
    ("", 411, "Content-Length is required on POST"),
    ("-1", 400, "Content-Length '-1' is not valid"),
    ("-5", 400, "is not valid: expected one number of bytes"),
    ("abc", 400, "Content-Length 'abc' is not valid"),
    ("1e3", 400, "is not valid"),
    ("70000", 413, "body larger than 65536 bytes (70000 announced)"),
    ("209715200", 413, "body larger than 65536 bytes"),
])
def test_content_length_must_be_one_sane_number(running, length, status, message):
    r = running()
    reply = r.raw(post_bytes(r.port, b'{"project_no": "P1"}', length=length))
    assert reply.status == status
    assert message in _one_line_error(reply)
    assert r.prompts_opened() == 0


def test_two_content_lengths_and_chunked_bodies_are_refused(running):
    r = running()
    body = b'{"project_no": "P1"}'
    reply = r.raw(post_bytes(r.port, body, headers=f"Content-Length: {len(body)}\r\n"))
    assert reply.status == 400 and "is not valid" in _one_line_error(reply)
    chunked = b"14\r\n" + body + b"\r\n0\r\n\r\n"
    reply = r.raw(post_bytes(r.port, chunked, length="", headers="Transfer-Encoding: chunked\r\n"))
    assert reply.status == 411 and "Transfer-Encoding is not supported" in _one_line_error(reply)
    assert r.prompts_opened() == 0


def test_a_body_shorter_than_announced_is_refused(running):
    r = running()
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as s:
        s.sendall(post_bytes(r.port, b'{"project_no": "P1"}', length="100"))
        s.shutdown(socket.SHUT_WR)  # the client gives up half way
        reply = read_reply(s)
    assert reply.status == 400 and "shorter than its Content-Length (20 of 100" in _one_line_error(reply)
    assert r.prompts_opened() == 0


def test_an_oversized_body_is_answered_before_it_is_sent(running):
    """413 comes back on the announced length alone: the client can stop sending."""
    r = running()
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as s:
        s.sendall(post_bytes(r.port, b"", length=str(100 * MiB)))
        reply = read_reply(s)
    assert reply.status == 413 and reply.headers["connection"] == "close"


# --- deeply nested JSON -----------------------------------------------------------------

@pytest.mark.parametrize("depth", [17, 2000, 30000])
def test_deeply_nested_json_is_a_400(running, depth, caplog):
    r = running()
    body = b"[" * depth + b"]" * depth
    assert len(body) <= 64 * 1024
    reply = r.raw(post_bytes(r.port, body))
    assert reply.status == 400
    assert _one_line_error(reply) == "bad request body: JSON nested deeper than 16 levels"
    nested = json.dumps({"project_no": "P1", "x": "s"}).encode().replace(b'"s"', b"[" * depth + b"]" * depth)
    reply = r.raw(post_bytes(r.port, nested))
    assert reply.status == 400 and "nested deeper" in _one_line_error(reply)
    assert r.prompts_opened() == 0
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


def test_brackets_inside_strings_are_not_nesting(running):
    r = running()
    body = json.dumps({"project_no": "[" * 40, "ticket_no": "{\\\"[[[" * 5}).encode()
    resp = r.post(json=None, data=body)
    assert resp.status_code == 201 and resp.json()["project_no"] == "[" * 40


def test_deep_nesting_on_a_real_device_leaves_no_traceback(tmp_path):
    """``kiosk run --headless``: 400 with one line, the device still opens prompts, its log is clean."""
    import requests

    dev = start_device(device_config(tmp_path))
    try:
        for depth in (2000, 30000):
            reply = raw_request(dev.port, post_bytes(dev.port, b"[" * depth + b"]" * depth))
            assert reply.status == 400, reply
            assert _one_line_error(reply) == "bad request body: JSON nested deeper than 16 levels"
        ok = requests.post(dev.url + "/v1/prompt", json={"project_no": "P1"}, headers=AUTH, timeout=10)
        assert ok.status_code == 201
    finally:
        assert stop_device(dev) == 0
    log = dev.log()
    assert "Traceback" not in log and "RecursionError" not in log and "Exception occurred" not in log, log


# --- Host, Origin, OPTIONS: no web page may open prompts ----------------------------------------

@pytest.mark.parametrize("host", [
    "evil.example:{port}",           # DNS rebinding: the page's own name, resolved to 127.0.0.1
    "evil.example",
    "127.0.0.1.evil.example:{port}",
    "localhost.:{port}0",
    "127.0.0.1:{other}",             # another port
    "127.0.0.1",                     # no port: port 80
    "",                              # no Host header at all
    "127.0.0.1:{port}@evil.example",
])
def test_a_foreign_host_is_refused(running, host):
    r = running()
    reply = r.raw(post_bytes(r.port, b"{}", host=host.format(port=r.port, other=r.port + 1)))
    assert reply.status == 403
    assert "is not this device" in _one_line_error(reply)
    assert r.prompts_opened() == 0


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_this_device_by_address_or_localhost_is_accepted(running, host):
    r = running()
    reply = r.raw(post_bytes(r.port, b"{}", host=host.format(port=r.port)))
    assert reply.status == 201, reply


@pytest.mark.parametrize("header", [
    "Origin: http://evil.example",
    "Origin: null",                  # a sandboxed frame or a file:// page
    "Origin: http://127.0.0.1:{port}",
    "Sec-Fetch-Site: cross-site",
])
def test_requests_from_a_web_page_are_refused(running, header):
    r = running()
    reply = r.raw(post_bytes(r.port, b'{"project_no": "P1"}', headers=header.format(port=r.port) + "\r\n"))
    assert reply.status == 403 and "requests from web pages are refused" in _one_line_error(reply)
    assert r.prompts_opened() == 0
    assert r.get("/v1/prompt/x", headers={"Origin": "http://evil.example"}).status_code == 403


def test_a_browser_without_the_token_gets_403_not_401(running):
    r = running()
    reply = r.raw(f"POST /v1/prompt HTTP/1.1\r\nHost: evil.example:{r.port}\r\nContent-Length: 2\r\n\r\n{{}}"
                  .encode())
    assert reply.status == 403


def test_options_preflight_is_refused(running):
    r = running()
    reply = r.raw(f"OPTIONS /v1/prompt HTTP/1.1\r\nHost: 127.0.0.1:{r.port}\r\n"
                  "Access-Control-Request-Method: POST\r\n\r\n".encode())
    assert reply.status == 403 and "OPTIONS (CORS preflight) is refused" in _one_line_error(reply)
    assert not [h for h in reply.headers if h.startswith("access-control-")]
    reply = r.raw(f"OPTIONS /v1/prompt HTTP/1.1\r\nHost: 127.0.0.1:{r.port}\r\n"
                  "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n".encode())
    assert reply.status == 403 and not [h for h in reply.headers if h.startswith("access-control-")]


def test_any_ip_literal_is_accepted_only_when_bound_to_all_addresses(running):
    r = running()
    assert not r.api.host_allowed(f"192.168.1.20:{r.port}")
    r.api.bind_host = "0.0.0.0"  # as with bind = "0.0.0.0:8765": the queue system is on the LAN
    assert r.api.host_allowed(f"192.168.1.20:{r.port}") and r.api.host_allowed(f"[fe80::1]:{r.port}")
    assert not r.api.host_allowed(f"queue.example:{r.port}")


@contextlib.contextmanager
def chromium(*args: str):
    """A headless Chromium page (Debian's chromium, never a downloaded one)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", *args])
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_a_page_from_another_origin_cannot_open_a_prompt(running):
    """A page served from another local port posts to the API with a form, a
    no-cors fetch and a CORS fetch carrying the (leaked) token: no prompt opens."""
    r = running(token="change-me")
    target = r.url + "/v1/prompt"
    page_html = f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}" enctype="text/plain" target="sink">
<input name='{{"project_no": "FORM", "x": "' value='"}}'></form><iframe name="sink"></iframe>
<script>
window.results = [];
fetch("{target}", {{method: "POST", mode: "no-cors", body: '{{"project_no": "NOCORS"}}',
       headers: {{"Content-Type": "text/plain"}}}}).then(() => results.push("nocors sent"),
       e => results.push("nocors " + e));
fetch("{target}", {{method: "POST", body: '{{"project_no": "CORS"}}',
       headers: {{"Content-Type": "application/json", "Authorization": "Bearer change-me"}}}})
  .then(() => results.push("cors sent"), e => results.push("cors failed"));
document.getElementById("f").submit();
</script></body></html>""".encode()
    with scripted_server(page_html, "text/html") as site, chromium() as page:
        page.goto(site + "/")
        page.wait_for_function("window.results.length >= 2", timeout=15000)
        page.wait_for_load_state("networkidle")
        assert "cors failed" in page.evaluate("window.results")  # the preflight was refused
    assert r.prompts_opened() == 0
    assert r.device.session.prompt is None


def test_dns_rebinding_in_chromium_cannot_open_a_prompt(running):
    """DNS rebinding: a page from rebind.example:<port>, whose name then resolves
    to 127.0.0.1, is same-origin with the API and may send any header, even a
    leaked token. Its Host (and Origin) still name the page: 403.

    Chromium's own local-network block is switched off: other browsers and the
    web views inside queue systems have none, and the device must not rely on it."""
    r = running(token="change-me")
    origin = f"http://rebind.example:{r.port}"
    html = """<!doctype html><script>
window.results = [];
fetch("/v1/prompt", {method: "POST", body: '{"project_no": "REBIND"}',
      headers: {"Content-Type": "application/json", "Authorization": "Bearer change-me"}})
  .then(r => r.text().then(t => results.push(r.status + " " + t)), e => results.push("failed " + e));
</script>"""
    with chromium("--host-resolver-rules=MAP rebind.example 127.0.0.1",
                  "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests") as page:
        # The attacker's server answered for the page; the API calls go to the device.
        page.route(origin + "/", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
        page.goto(origin + "/")
        page.wait_for_function("window.results.length >= 1", timeout=15000)
        result = page.evaluate("window.results[0]")
    assert result.startswith("403 ") and "is not this device" in result, result
    assert r.prompts_opened() == 0


@pytest.mark.parametrize("request_bytes, status", [
    (b"POST /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /v1/prompt/x HTTP/1.1\r\nX-Big: " + b"y" * 70000 + b"\r\n\r\n", 431),
    (b"GET /v1/prompt/x HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
    (b"BREW /v1/prompt HTTP/1.1\r\n\r\n", 501),
    (b"GARBAGE\r\n\r\n", 400),
])
def test_malformed_requests_are_one_line_json_too(running, request_bytes, status):
    r = running()
    reply = r.raw(request_bytes)
    assert reply.status == status
    assert _one_line_error(reply)
