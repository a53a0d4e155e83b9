"""``kiosk demo --no-ui``: server, enrolment, uploader and the console device
start on one machine; console ratings reach the statistics and the board;
end of input stops everything."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from .conftest import ROOT, kiosk_cmd, kiosk_env

pytestmark = pytest.mark.timeout(180)


class Lines:
    """Collects a pipe's lines on a thread so the test can wait for one."""

    def __init__(self, pipe):
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._t.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen within {timeout}s:\n" + "\n".join(self.lines[-40:]))


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_takes_console_ratings_to_the_board(tmp_path):
    proc = subprocess.Popen(kiosk_cmd("demo", "--no-ui", "--dir", str(tmp_path / "demo"), "--port", "0"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=kiosk_env(), cwd=ROOT)
    out = Lines(proc.stdout)
    try:
        board = out.wait_for(r"board\s+(http://127\.0\.0\.1:(\d+))/board")
        url, port = board.group(1), int(board.group(2))
        login = out.wait_for(r"login\s+admin / (\S+)")
        out.wait_for(r"dashboard\s+http://127\.0\.0\.1:\d+/$")
        out.wait_for(r"^READY ")

        def press(key: str, answer: str) -> None:
            proc.stdin.write(key + "\n")
            proc.stdin.flush()
            out.wait_for(answer)

        press("1", r"^ACK 1 非常满意")
        time.sleep(2.1)  # past the demo's 2 s cooldown
        press("5", r"^ACK 5 非常不满意")
        press("4", r"^NAK 4 cooldown \(stored as misuse\)")  # too soon: stored, flagged

        deadline = time.monotonic() + 15
        stats = None
        while time.monotonic() < deadline:
            stats = requests.get(url + "/api/v1/stats", params={"include_misuse": "true"}, timeout=5).json()
            if stats["total"]["count"] == 3:
                break
            time.sleep(0.2)
        assert stats["total"]["count"] == 3, stats
        assert stats["total"]["levels"] == {"5": 1, "4": 0, "3": 0, "2": 1, "1": 1}
        plain = requests.get(url + "/api/v1/stats", timeout=5).json()["total"]
        assert plain["count"] == 2 and plain["bad"] == 1 and plain["good_rate"] == 0.5

        r = requests.get(url + "/board", timeout=5)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        r = requests.post(url + "/api/v1/login", json={"username": "admin", "password": login.group(1)}, timeout=5)
        assert r.status_code == 200, r.text
        devices = requests.get(url + "/api/v1/devices", timeout=5,
                               headers={"Authorization": f"Bearer {r.json()['token']}"}).json()
        assert [d["device_id"] for d in devices] == ["demo-a01"]

        proc.stdin.close()  # end of input stops the demo
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out._t.join(5)
    assert any(line.startswith("demo stopped") for line in out.lines)
    assert not port_open(port), "the server is still listening"
    # Nothing of the demo is left running.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "demo") not in ps


def test_display_detection(tmp_path):
    from central.demo import display_available

    assert display_available({}, dev_root=str(tmp_path)) is False
    assert display_available({"DISPLAY": ":0"}, dev_root=str(tmp_path)) is True
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, dev_root=str(tmp_path)) is True
    (tmp_path / "dri").mkdir()
    (tmp_path / "dri" / "card1").write_text("")
    assert display_available({}, dev_root=str(tmp_path)) is True


@pytest.fixture
def other_server():
    """Another HTTP server listening on 127.0.0.1 (it answers 200 to everything)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        server_version = "OtherApp/1.0"

        def do_GET(self):  # noqa: N802 - the http.server spelling
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_demo_refuses_a_port_another_server_answers_on(tmp_path, other_server):
    port = other_server
    proc = subprocess.run(kiosk_cmd("demo", "--no-ui", "--dir", str(tmp_path / "demo"), "--port", str(port)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=kiosk_env(), cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiosk: error: --port"), proc.stderr
    assert f"127.0.0.1:{port} is already in use by another server (HTTP 200, OtherApp/1.0" in lines[0]
    assert "choose another --port" in lines[0]
    assert not (tmp_path / "demo").exists(), "nothing is prepared for a demo that cannot start"
    # The other server is untouched.
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "ok"


def test_demo_refuses_a_port_out_of_range(tmp_path):
    proc = subprocess.run(kiosk_cmd("demo", "--no-ui", "--dir", str(tmp_path / "demo"), "--port", "70000"),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=kiosk_env(), cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "kiosk: error: --port 70000 is out of range: give 1..65535, or 0 for a free port"
