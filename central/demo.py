"""``kiosk demo``: the whole system on one machine, with embedded defaults.

A central server on a SQLite file, an admin login with a fresh random
password, a device enrolled with a one-time code (the same path a technician
takes with ``kiosk provision``), the uploader, and the device itself: the touch
app when there is a display, else the console device reading presses from
stdin. Everything lives in one directory; Ctrl-C or the end of input stops it
all.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import CentralError

DEMO_DEVICE = "demo-a01"
DEMO_WINDOW = "A01"
DEMO_SECTION = "综合服务区"
DEMO_PORT = 8080


def register(sub) -> None:
    p = sub.add_parser("demo", help="the whole system on this machine: server, device, uploader",
                       description="Start a central server (SQLite), an admin login, an enrolled device, the "
                                   "uploader and the device (touch app with a display, else the console device) "
                                   "on this machine. Ctrl-C or end of input stops everything.")
    p.add_argument("--dir", metavar="D", help="where the demo keeps its files (default: a new temporary "
                                              "directory); reusing one keeps its ratings")
    p.add_argument("--port", metavar="N", type=int, default=None,
                   help=f"server port on 127.0.0.1 (default {DEMO_PORT}, or a free one when it is taken; 0: a free "
                        "one); a port another program already uses is refused")
    p.add_argument("--no-ui", action="store_true", help="the console device even when a display is available")
    p.set_defaults(func=cmd_demo)


def display_available(environ: dict[str, str] | None = None, dev_root: str = "/dev") -> bool:
    """A screen the touch app can use (X, Wayland or KMS/DRM), and Kivy to draw it."""
    env = os.environ if environ is None else environ
    screen = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or glob.glob(f"{dev_root}/dri/card*"))
    return screen and importlib.util.find_spec("kivy") is not None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers_as(port: int) -> str:
    """What already answers on ``port``, for the error message: its HTTP status
    and ``Server`` header when it speaks HTTP."""
    import requests

    try:
        r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2, allow_redirects=False)
    except requests.RequestException:
        return "a program that does not answer HTTP"
    server = r.headers.get("Server")
    return f"another server (HTTP {r.status_code}{', ' + server if server else ''})"


def check_port(port: int) -> None:
    """Refuse a ``--port`` that is out of range or already taken by something else:
    the demo would otherwise talk to that program instead of its own server."""
    if not 1 <= port <= 65535:
        raise DemoError(f"--port {port} is out of range: give 1..65535, or 0 for a free port")
    if not _port_free(port):
        raise DemoError(f"--port {port}: 127.0.0.1:{port} is already in use by {_answers_as(port)}; "
                        f"stop it, choose another --port, or give --port 0 for a free one")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kiosk(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiosk.cli", *args]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "KIOSK_CONFIG"):
        env.pop(key, None)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


DEVICE_CONFIG = """\
# The demo device (written by `kiosk demo`; [device] id and [sync] are set by enrolment).
[device]
data_dir = "{data}"
channel = 4

[staff]
no = "1001"
name = "张三"

[ui]
mode = "free"
fullscreen = false
cooldown_seconds = 2

[sync]
interval_seconds = 5

[local_api]
enabled = false
"""


class Demo:
    """Starts and stops the parts; usable as a context manager."""

    def __init__(self, directory: Path, port: int, out=sys.stdout):
        self.dir = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.out = out
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.config = directory / "kiosk.toml"
        self.server_config = directory / "server.toml"
        self.db = directory / "central.db"
        self.password = ""

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # --- parts -----------------------------------------------------------------

    def prepare_server(self) -> str:
        """Migrate the database, set the admin password; returns an enrolment code."""
        from . import auth, db

        self.server_config.write_text(
            f'[server]\ndb = "{self.db}"\nhost = "127.0.0.1"\nport = {self.port}\n', encoding="utf-8")
        url = str(self.db)
        db.upgrade(url)
        engine = db.engine_for(url)
        self.password = secrets.token_urlsafe(9)
        auth.add_user(engine, "admin", self.password, "admin")
        code, _ = auth.make_enroll_code(engine, DEMO_DEVICE, hours=1, window=DEMO_WINDOW,
                                        section=DEMO_SECTION, staff_no="1001")
        engine.dispose()
        return code

    def start(self, name: str, args: list[str], **popen) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_env(KIOSK_SERVER_CONFIG=str(self.server_config)), cwd=str(self.dir),
                                start_new_session=True, **popen)
        log.close()
        self.procs.append((name, proc))
        return proc

    def start_server(self, timeout: float = 60.0) -> None:
        import requests

        proc = self.start("server", _kiosk("server", "--config", str(self.server_config)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DemoError(f"the server exited with {proc.returncode}; see {self.dir / 'server.log'}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    if proc.poll() is not None:
                        continue  # the answer came from another program on the port
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise DemoError(f"the server did not answer {self.url}/healthz within {timeout:g} s; "
                        f"see {self.dir / 'server.log'}")

    def enrol(self, code: str) -> None:
        from kiosk.provision import provision

        if not self.config.exists():
            self.config.write_text(DEVICE_CONFIG.format(data=self.dir / "device"), encoding="utf-8")
        provision(self.url, code, self.config)

    def banner(self, device: str) -> None:
        self.say("")
        self.say("好差评 demo is running")
        self.say(f"  dashboard  {self.url}/")
        self.say(f"  board      {self.url}/board")
        self.say(f"  login      admin / {self.password}")
        self.say(f"  stats API  {self.url}/api/v1/stats")
        self.say(f"  files      {self.dir} (server.log, sync.log, kiosk.toml)")
        self.say(f"  device     {device}")
        self.say("")

    def wait_uploaded(self, timeout: float = 10.0) -> None:
        """Give the uploader a moment to send the last ratings before stopping."""
        from kiosk.buffer import Buffer

        path = self.dir / "device" / "buffer.db"
        if not path.exists():
            return
        deadline = time.monotonic() + timeout
        buf = Buffer(path)
        try:
            while buf.counts()["pending"] and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            buf.close()

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class DemoError(CentralError, RuntimeError):
    """A part of the demo did not start."""


def run_foreground(args: list[str]) -> int:
    """Run the device in the foreground. Ctrl-C reaches it too (same process
    group): wait for it to stop by itself, and end it if it does not."""
    proc = subprocess.Popen(args, env=_env())
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            try:
                return proc.wait(10)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                proc.terminate()


def cmd_demo(args: argparse.Namespace) -> int:
    port = args.port
    if port is None:
        port = DEMO_PORT if _port_free(DEMO_PORT) else _free_port()
    elif port == 0:
        port = _free_port()
    else:
        check_port(port)
    directory = Path(args.dir).expanduser() if args.dir else Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    use_ui = not args.no_ui and display_available()

    with Demo(directory, port) as demo:
        code = demo.prepare_server()
        demo.start_server()
        demo.enrol(code)
        demo.start("sync", _kiosk("sync", "--config", str(demo.config)))
        if use_ui:
            demo.banner("touch app in a window (close it to stop the demo)")
            device = _kiosk("run", "--config", str(demo.config))
        else:
            demo.banner("console: type 1 (非常满意) … 5 (非常不满意) and Enter; "
                        "Ctrl-D or q stops the demo")
            device = _kiosk("run", "--headless", "--console", "--config", str(demo.config))
        # The device owns the terminal (stdin is the console device's input).
        rc = run_foreground(device)
        with contextlib.suppress(KeyboardInterrupt):
            demo.wait_uploaded()
        demo.say("stopping the uploader and the server …")
    demo.say(f"demo stopped; its files stay in {directory}")
    return 0 if rc in (0, 130, -signal.SIGINT) else rc
