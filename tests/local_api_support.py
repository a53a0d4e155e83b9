"""Shared by the local API tests: an in-process device with its API on a real
127.0.0.1 socket, a real headless device process, and raw HTTP over a socket
for requests that no well-behaved client library would send."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from kiosk.device import Device
from kiosk.local_api import LocalApi

from .conftest import kiosk_cmd, write_config

TOKEN = "local-api-test-token-5c1f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Running:
    """An in-process device and its local API."""

    device: Device
    api: LocalApi
    url: str

    @property
    def port(self) -> int:
        return self.api.port

    def post(self, path: str = "/v1/prompt", **kw) -> requests.Response:
        kw.setdefault("json", {})
        return requests.post(self.url + path, headers={**AUTH, **kw.pop("headers", {})}, timeout=5, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, headers={**AUTH, **kw.pop("headers", {})}, timeout=5, **kw)

    def raw(self, data: bytes) -> Reply:
        return raw_request(self.port, data)

    def prompts_opened(self) -> int:
        """Prompts the session opened so far (each is remembered by id)."""
        return len(self.device.session.prompts)


def running_devices(make_cfg, clock):
    """The ``running`` fixture (``running = pytest.fixture(running_devices)`` in a
    test module): running(token=TOKEN, max_prompts_per_minute=60, **ui) → :class:`Running`."""
    started = []

    def start(token: str = TOKEN, max_prompts_per_minute: int = 60, **ui) -> Running:
        cfg = make_cfg(ui={"mode": "transaction", **ui})
        device = Device(cfg, clock=clock)
        device.start()
        api = LocalApi(device, "127.0.0.1:0", token, max_prompts_per_minute=max_prompts_per_minute)
        api.start()
        started.append((device, api))
        return Running(device, api, api.address)

    yield start
    for device, api in started:
        api.stop()
        device.close()


@dataclass
class Reply:
    status: int | None
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def parse_reply(data: bytes) -> Reply:
    if not data:
        return Reply(None, {}, b"")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, body)


@contextlib.contextmanager
def scripted_server(body: bytes, content_type: str = "application/json"):
    """A real HTTP server on 127.0.0.1 that answers every GET and POST with ``body``; yields its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Scripted(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def read_reply(s: socket.socket) -> Reply:
    """Read until the server closes (or resets) the connection, parse the reply."""
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return parse_reply(got)


def raw_request(port: int, data: bytes, timeout: float = 10) -> Reply:
    """Send ``data`` as it is, read until the server closes, parse the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_reply(s)


def post_bytes(port: int, body: bytes, *, host: str | None = None, headers: str = "",
               length: str | None = None) -> bytes:
    """A raw ``POST /v1/prompt`` with the test token; ``length`` overrides Content-Length
    ("" leaves it out)."""
    host = host if host is not None else f"127.0.0.1:{port}"
    cl = str(len(body)) if length is None else length
    head = "POST /v1/prompt HTTP/1.1\r\n"
    if host:
        head += f"Host: {host}\r\n"
    head += f"Authorization: Bearer {TOKEN}\r\n" + headers
    if cl:
        head += f"Content-Length: {cl}\r\n"
    return head.encode() + b"\r\n" + body


@dataclass
class DeviceProcess:
    """A real ``kiosk run --headless`` process; its stderr is collected."""

    proc: subprocess.Popen
    url: str
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return "".join(self.lines)


def device_config(tmp_path: Path, local_api: str = f'token = "{TOKEN}"', ui: str = 'mode = "transaction"') -> Path:
    return write_config(tmp_path / "kiosk.toml", f'''
[device]
id = "api-dev"
window = "A01"
data_dir = "{tmp_path / 'data'}"
[staff]
no = "1001"
[ui]
{ui}
[hardware.keyboard]
enabled = false
[local_api]
bind = "127.0.0.1:0"
{local_api}
''')


def start_device(config: Path, env: dict | None = None) -> DeviceProcess:
    import os

    full_env = {k: v for k, v in os.environ.items() if k != "KIOSK_CONFIG"}
    full_env.update(env or {})
    proc = subprocess.Popen(kiosk_cmd("run", "--headless", "--config", str(config)), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=full_env)
    lines: list[str] = []
    deadline = time.monotonic() + 30
    url = None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"local API on (http://127\.0\.0\.1:(\d+))", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        raise AssertionError("the device did not start its local API:\n" + "".join(lines) + proc.stderr.read())
    dev = DeviceProcess(proc, url, int(url.rsplit(":", 1)[1]), lines)
    threading.Thread(target=lambda: [lines.append(ln) for ln in proc.stderr], daemon=True).start()
    return dev


def stop_device(dev: DeviceProcess) -> int:
    dev.proc.terminate()
    try:
        return dev.proc.wait(20)
    finally:
        dev.proc.kill()
