"""A scripted, misbehaving central server on 127.0.0.1 port 0 (in the manner
of requests' tests/testserver), plus helpers to fill a real buffer and build
an uploader whose waiting is recorded instead of slept."""

from __future__ import annotations

import collections
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kiosk.buffer import Buffer
from kiosk.clock import FakeClock
from kiosk.events import Window, rating, unrated
from kiosk.levels import LEVELS
from sync.client import Client
from sync.uploader import Backoff, Uploader
from testkit.pg import new_pg_database
from testkit.proxy import rst_close

WINDOW = Window(window_no="A01", section="综合服务区", staff_no="1001", staff_name="张三", channel=4)


def make_events(n: int, clock: FakeClock | None = None, start: int = 0) -> list[dict[str, Any]]:
    """``n`` valid events: mostly ratings of every level, some unrated prompts."""
    clock = clock or FakeClock()
    out = []
    for i in range(start, start + n):
        clock.advance(0.5)
        if i % 10 == 9:
            out.append(unrated(clock, WINDOW, prompt_id=f"p-{i}"))
        else:
            out.append(rating(clock, LEVELS[i % 5], "touch", WINDOW))
    return out


def fill(buf: Buffer, n: int, start: int = 0) -> list[dict[str, Any]]:
    events = make_events(n, start=start)
    with buf.db.atomic():
        for ev in events:
            buf.append(ev)
    return events


class ScriptedServer:
    """A central-server stand-in. Each batch request takes the next action from
    ``script`` (default ``"ok"``):

    - ``"ok"``: dedup by id, one result per event (the correct server)
    - ``("status", code, headers, body)``: a whole-batch answer, nothing stored
    - ``"hang"``: store the batch, then answer nothing until the client gives up
    - ``"reset"``: store, send the headers and part of the body, then RST
    - ``"truncate"``: store, promise a longer body than is sent, close
    - ``"garbage"``: store, 200 with a body that is not JSON
    - ``"no_results"`` / ``"short"`` / ``"wrong_ids"`` / ``"bad_status"``: store, 200 with a wrong body
    - ``"reset_before"``: RST before reading the request (nothing stored)

    Batches with more than ``max_events`` events are answered 413. Events for
    which ``reject_if(event)`` is true get ``rejected``.
    """

    def __init__(self, max_events: int = 500, reject_if: Callable[[dict], bool] | None = None):
        self.script: collections.deque = collections.deque()
        self.store: dict[str, str] = {}
        self.deliveries: collections.Counter = collections.Counter()
        self.batches: list[dict] = []
        self.raw_bodies: list[bytes] = []  # every request body as received (after gunzip)
        self.heartbeats: list[dict] = []
        self.headers: list[dict] = []
        self.paths: list[str] = []
        self.max_events = max_events
        self.reject_if = reject_if
        self.heartbeat_script: collections.deque = collections.deque()
        self.batch_gate: threading.Event | None = None
        self.lock = threading.Lock()
        self.hang_seconds = 5.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- request handling -------------------------------------------------------

    def apply(self, events: list[dict]) -> list[dict]:
        """The correct server's verdicts: store new ids, dedup known ones."""
        out = []
        with self.lock:
            for ev in events:
                payload = json.dumps(ev, sort_keys=True)
                self.deliveries[ev["id"]] += 1
                if self.reject_if and self.reject_if(ev):
                    out.append({"id": ev["id"], "status": "rejected", "error": "scripted rejection"})
                elif ev["id"] not in self.store:
                    self.store[ev["id"]] = payload
                    out.append({"id": ev["id"], "status": "accepted"})
                elif self.store[ev["id"]] == payload:
                    out.append({"id": ev["id"], "status": "duplicate"})
                else:
                    out.append({"id": ev["id"], "status": "rejected", "error": "conflict"})
        return out

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        self.paths.append(path)
        action = "ok"
        queue = self.heartbeat_script if path == "/api/v1/heartbeat" else self.script
        if queue:
            action = queue.popleft()
        if action == "reset_before":
            rst_close(h.connection)
            h.close_connection = True
            return
        length = int(h.headers.get("Content-Length", 0))
        raw = h.rfile.read(length)
        if h.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        self.raw_bodies.append(raw)
        self.headers.append(dict(h.headers))
        if path == "/api/v1/heartbeat":
            self.heartbeats.append(body)
            if isinstance(action, tuple):
                return self.respond(h, action[1], {"detail": "scripted"}, action[2] if len(action) > 2 else {})
            return self.respond(h, 200, {"server_time": "2026-12-01T00:00:00.000Z", "settings": {}})
        if path != "/api/v1/batches":
            return self.respond(h, 404, {"detail": "not found"})
        if self.batch_gate is not None:
            self.batch_gate.wait(30)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.002)  # long enough for a second request in flight to overlap
            self.batch(h, body, action)
        finally:
            with self.lock:
                self.in_flight -= 1

    def batch(self, h: BaseHTTPRequestHandler, body: dict, action) -> None:
        self.batches.append(body)
        events = body["events"]
        if isinstance(action, tuple) and action[0] == "status":
            _, code, headers, detail = action
            return self.respond(h, code, {"detail": detail}, headers)
        if len(events) > self.max_events:
            return self.respond(h, 413, {"detail": f"at most {self.max_events} events"})
        results = self.apply(events)
        ok = {"server_time": "2026-12-01T00:00:00.000Z", "results": results}
        if action == "ok":
            return self.respond(h, 200, ok)
        if action == "hang":
            self._stopping.wait(self.hang_seconds)
            h.close_connection = True
            return
        if action == "reset":
            data = json.dumps(ok).encode()
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(data) + data[:len(data) // 3])
            h.wfile.flush()
            time.sleep(0.05)
            rst_close(h.connection)
            h.close_connection = True
            return
        if action == "truncate":
            data = json.dumps(ok).encode()
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(data) + data[:len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_WR)
            return
        if action == "garbage":
            return self.respond_raw(h, 200, b"<html>502 Bad Gateway from the hall proxy</html>", "text/html")
        if action == "no_results":
            return self.respond(h, 200, {"server_time": ok["server_time"]})
        if action == "short":
            return self.respond(h, 200, {"server_time": ok["server_time"], "results": results[:-1]})
        if action == "wrong_ids":
            bad = [dict(r) for r in results]
            bad[0]["id"] = "not-an-id-we-sent"
            return self.respond(h, 200, {"server_time": ok["server_time"], "results": bad})
        if action == "bad_status":
            bad = [dict(r) for r in results]
            bad[-1]["status"] = "maybe"
            return self.respond(h, 200, {"server_time": ok["server_time"], "results": bad})
        raise AssertionError(f"unknown scripted action {action!r}")

    def respond(self, h, code: int, body: Any, headers: dict | None = None) -> None:
        self.respond_raw(h, code, json.dumps(body).encode(), "application/json", headers)

    @staticmethod
    def respond_raw(h, code: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def buf(tmp_path):
    b = Buffer(tmp_path / "data" / "buffer.db")
    yield b
    b.close()


class Waits:
    """A ``wait(seconds)`` that records and returns at once (never stops)."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        return False


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def make_uploader(buf):
    """make_uploader(server_url, **kw) → an Uploader on ``buf`` with a 1 s timeout,
    a deterministic backoff (rng = 0.5) and one batch per step unless
    ``pipeline=N`` is given, one request on the wire unless ``in_flight=N``."""
    made = []

    def make(url: str, *, token: str = "tok", timeout: float = 1.0, batch_size: int = 100,
             buffer: Buffer | None = None, **kw) -> Uploader:
        client = Client(url, token, timeout=timeout)
        kw.setdefault("backoff", Backoff(base=1.0, cap=180.0, rng=lambda: 0.5))
        kw.setdefault("clock", FakeClock())
        kw.setdefault("pipeline", 0)
        kw.setdefault("in_flight", 1)  # scripted answers go to requests in order; see test_in_flight.py
        up = Uploader(buffer or buf, client, device_id="test-dev", batch_size=batch_size, **kw)
        made.append(up)
        return up

    yield make
    for up in made:
        up.close()


# --- the real central server ------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]
STATS_RANGE = {"from": "2026-11-01", "to": "2027-01-31", "include_misuse": "true"}


@pytest.fixture(params=BACKENDS)
def central_db(request, tmp_path):
    """A fresh central database URL: a SQLite file, or a database in the PostgreSQL cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "central.db")
    return new_pg_database(request.getfixturevalue("pg_base_url"))


def server_stats(url: str) -> dict:
    import requests

    r = requests.get(url + "/api/v1/stats", params=STATS_RANGE, timeout=10)
    r.raise_for_status()
    return r.json()["total"]


def assert_stats_match(url: str, buffer: Buffer) -> None:
    """The server's public aggregates equal what the device buffered and synced."""
    c = buffer.counts()
    total = server_stats(url)
    assert total["levels"] == c["ratings_by_level"]
    assert total["count"] == sum(c["ratings_by_level"].values())
    assert total["unrated"] == c["unrated"]
