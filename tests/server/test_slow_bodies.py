"""A client that sends its headers and then trickles or stalls the body holds
no batch slot: the body is read under a deadline before the batch counts
against ``max_inflight_batches``, and a body that does not arrive in time is a
408. Real sockets against a real ``kiosk server``."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import requests

from testkit.server import add_device, make_batch, rating_event, running_server


def _stalled(url: str, token: str, declared: int = 100_000) -> socket.socket:
    """A connection that sent a batch's headers and its first bytes, then nothing."""
    u = urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    s.sendall((f"POST /api/v1/batches HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Bearer {token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n").encode()
              + b'{"schema": 1, "device_id": ')
    return s


def _wait_until_served(url: str, n: int) -> None:
    """Give the server the time to take the stalled requests in (it answers
    /healthz in between; the old code then held a slot for each)."""
    for _ in range(n):
        requests.get(url + "/healthz", timeout=10).raise_for_status()
    time.sleep(1.0)


def test_forty_stalled_bodies_from_one_token_do_not_shed_another_device(tmp_path):
    db = str(tmp_path / "central.db")
    slow = add_device(db, "slow-1")
    good = add_device(db, "good-1")
    with running_server(db, max_inflight_batches=4) as url:
        socks = [_stalled(url, slow) for _ in range(40)]
        try:
            _wait_until_served(url, 5)
            ev = rating_event(5)
            r = requests.post(url + "/api/v1/batches", json=make_batch("good-1", [ev]),
                              headers={"Authorization": f"Bearer {good}"}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["results"] == [{"id": ev["id"], "status": "accepted"}]
        finally:
            for s in socks:
                s.close()


def _answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or goes quiet)."""
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            return data
        if not chunk:
            return data
        data += chunk
        if b"\r\n\r\n" in data:
            s.settimeout(2)


def test_a_body_that_does_not_arrive_in_time_is_a_408(tmp_path):
    db = str(tmp_path / "central.db")
    slow = add_device(db, "slow-2")
    with running_server(db, body_timeout_seconds=1) as url:
        s = _stalled(url, slow)
        try:
            answer = _answer(s)
        finally:
            s.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert b"did not arrive within 1 s" in answer
        # a trickle is no better than a stall: one byte a quarter second, far below 1 MiB per second
        u = urlsplit(url)
        body = json.dumps(make_batch("slow-2", [rating_event(4)])).encode()
        t = socket.create_connection((u.hostname, u.port), timeout=30)
        try:
            t.sendall((f"POST /api/v1/batches HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Bearer {slow}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode())
            t.settimeout(0.25)
            answer = b""
            for byte in body:
                try:
                    t.sendall(bytes([byte]))
                    answer += t.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if answer:
                    break
        finally:
            t.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        # and the server still takes a batch sent at an ordinary pace
        ev = rating_event(3)
        r = requests.post(url + "/api/v1/batches", json=make_batch("slow-2", [ev]),
                          headers={"Authorization": f"Bearer {slow}"}, timeout=30)
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted"
