"""Deeply nested JSON on any endpoint is a 400 with a one-line error: never a
500, never a traceback in the server's log."""

from __future__ import annotations

import pytest
import requests

DEEP = b"[" * 20_000 + b"]" * 20_000  # past the JSON parser's recursion limit
NESTED = b'{"a": ' * 200 + b"1" + b"}" * 200  # within it, but no sane body nests so deep


def _bodies(name: str) -> list[bytes]:
    return [DEEP, NESTED, b'{"%s": ' % name.encode() + b"[" * 5000 + b"]" * 5000 + b"}"]


@pytest.fixture(scope="module")
def targets(api):
    dev = api.device()
    admin = api.as_role("admin")
    return [
        ("POST", "/api/v1/batches", dev.headers, "events"),
        ("POST", "/api/v1/heartbeat", dev.headers, "hardware"),
        ("POST", "/api/v1/login", {}, "username"),
        ("POST", "/api/v1/enroll", {}, "code"),
        ("POST", "/api/v1/cases/1/transition", admin, "note"),
        ("PUT", f"/api/v1/devices/{dev.id}/settings", admin, "settings"),
        ("PUT", "/api/v1/staff/A001", admin, "name"),
    ]


def test_deeply_nested_json_is_a_400_with_one_line(api, server, targets):
    for method, path, headers, field in targets:
        for body in _bodies(field):
            r = requests.request(method, api.url + path, data=body, timeout=30,
                                 headers={**headers, "Content-Type": "application/json"})
            assert r.status_code == 400, (path, body[:20], r.status_code, r.text[:200])
            error = r.json()["error"]
            assert "\n" not in error and error, (path, error)
    log = server.log()
    assert "Traceback" not in log and "RecursionError" not in log, log[-2000:]


def test_the_error_says_what_is_wrong(api):
    dev = api.device()
    r = requests.post(api.url + "/api/v1/batches", data=DEEP, timeout=30,
                      headers={**dev.headers, "Content-Type": "application/json"})
    assert r.json()["error"] == "the JSON body nests deeper than 32 levels"
    # an ordinary batch still goes through after all that
    from testkit.server import rating_event
    assert api.results(dev, [rating_event(5)])[0]["status"] == "accepted"
