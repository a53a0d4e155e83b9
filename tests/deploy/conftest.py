"""Fixtures for the deployment tests: a fake systemd notify socket, device
configs in tmp_path and a way to run the real ``kiosk`` command."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class NotifySocket:
    """A real AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET.

    Every datagram is recorded as ``(monotonic time, text)``.
    """

    def __init__(self, abstract: bool = False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"kiosk-test-{os.getpid()}-{id(self)}"
            self.sock.bind(b"\0" + name.encode())
            self.env_value = "@" + name
            self._dir = None
        else:
            self._dir = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")  # short: sun_path has 108 bytes
            path = os.path.join(self._dir, "notify")
            self.sock.bind(path)
            self.env_value = path
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._recv, daemon=True)
        self._thread.start()

    def _recv(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def texts(self) -> list[str]:
        return [m for _, m in self.messages]

    def times_of(self, line: str) -> list[float]:
        return [t for t, m in self.messages if line in m.split("\n")]

    def wait_for(self, line: str, count: int = 1, timeout: float = 20.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.times_of(line)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{count}× {line!r} not received within {timeout}s; got {self.texts()!r}")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def notify_socket():
    ns = NotifySocket()
    yield ns
    ns.close()


@pytest.fixture
def abstract_notify_socket():
    ns = NotifySocket(abstract=True)
    yield ns
    ns.close()


def kiosk_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("KIOSK_CONFIG", "KIOSK_SERVER_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(key, None)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def kiosk_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiosk.cli", *args]


def run_kiosk(*args: str, env: dict | None = None, input: str | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(kiosk_cmd(*args), check=False, input=input, capture_output=True, text=True, timeout=timeout,
                          env=env or kiosk_env(), cwd=ROOT)


def device_toml(data_dir: Path, *, server: str = "", token: str = "", extra: str = "") -> str:
    lines = [
        "[device]", 'id = "dev-doc"', 'window = "A01"', 'section = "综合服务区"', f'data_dir = "{data_dir}"',
        "", "[staff]", 'no = "1001"', 'name = "张三"',
        "", "[local_api]", "enabled = false",
    ]
    if server:
        lines += ["", "[sync]", f'server = "{server}"', f'token = "{token}"', "timeout_seconds = 5"]
    return "\n".join(lines) + "\n" + extra
