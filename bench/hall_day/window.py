"""One window of the hall: its config, its headless device process (console
and local API) and its uploader process."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import requests

from kiosk.buffer import Buffer
from testkit.server import free_port

from . import ROOT
from .hall import API_AUTH, API_TOKEN, SECTIONS, STAFF_NAMES, Press
from .panel import Panel

if TYPE_CHECKING:
    from .hall import Hall


class Window:
    def __init__(self, hall: Hall, index: int, section: str, mode: str, serial: bool):
        self.hall = hall
        self.index = index
        self.section = section
        self.mode = mode
        self.serial = serial
        self.window_no = f"{chr(ord('A') + SECTIONS.index(section))}{index:02d}"
        self.device_id = f"hall-{self.window_no.lower()}"
        self.staff_no = f"{1000 + index}"
        self.staff_name = STAFF_NAMES[index % len(STAFF_NAMES)]
        self.dir = hall.work / self.device_id
        self.data = self.dir / "data"
        self.data.mkdir(parents=True)
        self.api_port = free_port()
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(ROOT)
        self.env.pop("KIOSK_CONFIG", None)
        self.clock_wrong = False
        self.mounted = False
        self.panel: Panel | None = None
        self.device: subprocess.Popen | None = None
        self.uploader: subprocess.Popen | None = None
        self.out: queue.Queue = queue.Queue()
        self.lock = threading.Lock()  # one citizen at a time per window
        self.unrated_expected = 0
        self.prompts_lost = 0
        self.kill_inflight: list[Press] = []
        self.paused = threading.Event()

    def configure(self, token: str, server_url: str) -> None:
        (self.dir / "token").write_text(token + "\n")
        os.chmod(self.dir / "token", 0o600)
        serial = ""
        if self.serial:
            self.panel = Panel(self.dir / "panel")
            serial = f'[hardware.serial]\nenabled = true\nport = "{self.dir / "panel"}"\n'
        self.config = self.dir / "kiosk.toml"
        self.config.write_text(f'''
[device]
id = "{self.device_id}"
window = "{self.window_no}"
section = "{self.section}"
channel = {5 if self.serial else 4}
data_dir = "{self.data}"
[staff]
no = "{self.staff_no}"
name = "{self.staff_name}"
[ui]
mode = "{self.mode}"
thanks_seconds = 0.3
cooldown_seconds = {self.hall.cooldown}
prompt_timeout_seconds = {self.hall.prompt_timeout}
reasons_timeout_seconds = 2
{serial}
[sync]
server = "{server_url}"
token_file = "{self.dir / 'token'}"
interval_seconds = 5
batch_size = 100
timeout_seconds = 5
[local_api]
bind = "127.0.0.1:{self.api_port}"
token = "{API_TOKEN}"
''', encoding="utf-8")

    def mount_tiny_disk(self) -> bool:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(self.data)],
                              capture_output=True, text=True)
        self.mounted = proc.returncode == 0
        return self.mounted

    def start_device(self) -> None:
        self.device = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "run", "--headless", "--console", "--config", str(self.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.dir / "device.log", "ab"),
            text=True, bufsize=1, env=self.env, cwd=ROOT, start_new_session=True)
        self.out = queue.Queue()
        threading.Thread(target=self._read_console, args=(self.device, self.out), daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = self.out.get(timeout=1)
            except queue.Empty:
                if self.device.poll() is not None:
                    raise RuntimeError(f"device {self.device_id} exited: see {self.dir / 'device.log'}") from None
                continue
            if line is None:
                log_tail = (self.dir / "device.log").read_text("utf-8", "replace")[-2000:]
                raise RuntimeError(f"device {self.device_id} exited at start:\n{log_tail}")
            if line.startswith("READY"):
                break
        self._wait_api()

    def _wait_api(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{self.api_port}/v1/prompt/none", headers=API_AUTH, timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)

    def start_uploader(self) -> None:
        self.uploader = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "sync", "--config", str(self.config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.dir / "sync.log", "ab"),
            env=self.env, cwd=ROOT, start_new_session=True)

    @staticmethod
    def _read_console(proc: subprocess.Popen, out: queue.Queue) -> None:
        for line in proc.stdout:
            line = line.strip()
            if line and not line.startswith("STATE"):
                out.put(line)
        out.put(None)

    def console(self, line: str, expect: tuple[str, ...], timeout: float = 15.0) -> str | None:
        """Send a console line; return the answer line (None if the process died)."""
        try:
            self.device.stdin.write(line + "\n")
            self.device.stdin.flush()
        except (OSError, ValueError):
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = self.out.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if got is None:
                return None
            if got.startswith(expect) or got.startswith("ERR"):
                return got
        return None

    def kill_device(self) -> None:
        os.killpg(self.device.pid, signal.SIGKILL)
        self.device.wait()

    def stop(self) -> None:
        for proc in (self.device, self.uploader):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in (self.device, self.uploader):
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.panel is not None:
            self.panel.unplug()

    def counts(self) -> dict:
        buf = Buffer(self.data / "buffer.db")
        try:
            return buf.counts()
        finally:
            buf.close()

    def pending_up_to(self, seq: int) -> int:
        buf = Buffer(self.data / "buffer.db")
        try:
            return buf.conn.execute("SELECT count(*) FROM events WHERE state = 'pending' AND seq <= ?",
                                    (seq,)).fetchone()[0]
        finally:
            buf.close()


def last_seq(w: Window) -> int:
    buf = Buffer(w.data / "buffer.db")
    try:
        return buf.last_seq()
    finally:
        buf.close()
