"""A day in the hall: the whole system under load and faults, with nothing lost.

One central server (SQLite, or PostgreSQL with --db/--pg), N windows across
sections, each a real headless device process (its own buffer) and a real
uploader process, citizens rating at realistic rates through the console and
serial panels on pty pairs, a queue system opening transaction prompts through
the local API. During the day, scripted faults:

* the network between devices and server cut for a while (fault proxy);
* the server killed with SIGKILL and restarted;
* a device process killed with SIGKILL and restarted;
* a serial panel unplugged and plugged back;
* one device's clock 3 hours wrong and unsynchronised (all day);
* one device's disk full for a while (a real tiny tmpfs), when mounts work.

At the end the ground truth (every press the simulation made and what the
device answered) is compared with the server: every acknowledged rating present
exactly once with the right level, staff, window, section, reasons and misuse
flag; unrated prompts counted; the wrong clock repaired; the stats API and the
public board equal to the truth computed independently. Any difference is
printed and fails the run (exit 1).

    python bench/hall_day.py                    # the full day: 60 windows, 10 minutes
    python bench/hall_day.py --short            # the CI version: a few windows, about a minute
    python bench/hall_day.py --pg               # on a throwaway PostgreSQL cluster
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import pty
import queue
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from testkit import server as testing  # noqa: E402
from kiosk.buffer import Buffer  # noqa: E402
from kiosk.levels import LEVELS, REASONS, Level  # noqa: E402

SECTIONS = ["综合服务区", "不动产登记", "社保医保", "公安户政", "税务服务", "企业开办", "公积金", "出入境"]
STAFF_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷", "徐明", "孙丽"]
LEVEL_WEIGHTS = [0.55, 0.22, 0.11, 0.07, 0.05]  # 非常满意 … 非常不满意
SHANGHAI = timezone(timedelta(hours=8))
CLOCK_OFFSET = -3 * 3600
API_TOKEN = "hall-day-queue-system"  # the queue system's [local_api] token on every window
API_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the network between devices and the server ------------------------------------------

class FaultProxy:
    """A TCP proxy in front of the server that can cut the network.

    While cut, new connections are accepted and reset at once and the open
    ones are reset: to the uploader it looks like a dead network.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.cut = False
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = False
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            with self._lock:
                for s in list(self._conns):
                    _reset(s)
                self._conns.clear()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:
                self._conns.discard(src)

    def close(self) -> None:
        self._closing = True
        self.listener.close()
        self.set_cut(True)


def _reset(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        s.close()


# --- a serial panel on a pty, re-pluggable -------------------------------------------------

class Panel:
    """The panel side of a serial link; the device's port is a symlink we re-point."""

    def __init__(self, link: Path):
        self.link = link
        self.master = None
        self.lines: queue.Queue = queue.Queue()
        self.plug()

    def plug(self) -> None:
        master, slave = pty.openpty()
        os.set_blocking(master, True)
        name = os.ttyname(slave)
        tmp = self.link.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(name, tmp)
        os.replace(tmp, self.link)
        self.master, self._slave = master, slave
        threading.Thread(target=self._read, args=(master,), daemon=True).start()

    def unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        m, s = self.master, self._slave
        self.master = None
        for fd in (s, m):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _read(self, fd: int) -> None:
        buf = b""
        while True:
            try:
                r, _, _ = select.select([fd], [], [], 1.0)
                if not r:
                    if self.master != fd:
                        return
                    continue
                data = os.read(fd, 1024)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.put(line.strip().decode("ascii", "replace"))

    def send(self, text: str) -> None:
        if self.master is None:
            raise OSError("panel unplugged")
        os.write(self.master, (text + "\n").encode())

    def answer(self, n: int, timeout: float = 10.0) -> str | None:
        """The ACK/NAK for KEY n (PROMPT/IDLE lines are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line.split("*")[0].startswith((f"ACK {n}", f"NAK {n}")):
                return line.split("*")[0]
        return None


# --- one window: device process + uploader process + its driver ----------------------------

@dataclass
class Press:
    """One citizen press and what the device answered (the ground truth)."""

    window: int
    level: Level
    via: str                     # console | serial
    answer: str                  # ack | cooldown | no_prompt | error | lost
    event_id: str | None = None  # console answers carry it
    at: float = 0.0              # true wall time of the answer
    reasons: list[str] = field(default_factory=list)
    prompt_id: str | None = None
    project_no: str | None = None


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
        self.api_port = testing.free_port()
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
                requests.get(f"http://127.0.0.1:{self.api_port}/v1/prompt/none", timeout=1)
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


# --- the hall ------------------------------------------------------------------------------

class Hall:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = Path(tempfile.mkdtemp(prefix="hall-day-"))
        self.prompt_timeout = args.prompt_timeout
        self.cooldown = round(min(2.0, args.mean_gap / 4), 2)
        self.presses: list[Press] = []
        self.presses_lock = threading.Lock()
        self.faults: list[dict] = []
        self.stop_citizens = threading.Event()
        self.latencies: list[float] = []
        self.windows: list[Window] = []

    def fault(self, kind: str, **detail) -> None:
        entry = {"at_s": round(time.monotonic() - self.t0, 1), "fault": kind, **detail}
        self.faults.append(entry)
        log(f"FAULT {kind} {json.dumps(detail, ensure_ascii=False)}")

    def record(self, press: Press) -> None:
        with self.presses_lock:
            self.presses.append(press)

    # -- citizens --

    def citizen_loop(self, w: Window) -> None:
        rng = random.Random(self.rng.random())
        while not self.stop_citizens.is_set():
            if self.stop_citizens.wait(rng.expovariate(1.0 / self.args.mean_gap)):
                return
            if w.paused.is_set():
                continue
            with w.lock:
                try:
                    if w.mode == "transaction":
                        self.transaction_citizen(w, rng)
                    else:
                        self.free_citizen(w, rng)
                except Exception as exc:  # a driver bug must not hide the rest of the day
                    log(f"driver error on {w.device_id}: {exc!r}")

    def pick_level(self, rng) -> Level:
        return rng.choices(LEVELS, weights=LEVEL_WEIGHTS)[0]

    def press(self, w: Window, level: Level, rng, prompt=None) -> Press:
        pos = level.position + 1
        p = Press(w.index, level, "serial" if w.serial else "console", "lost",
                  prompt_id=prompt["id"] if prompt else None,
                  project_no=prompt.get("project_no") if prompt else None)
        if w.serial:
            try:
                w.panel.send(f"KEY {pos}")
            except OSError:
                p.answer = "unplugged"
                return p
            got = w.panel.answer(pos)
            p.at = time.time()
            if got is None:
                p.answer = "lost"
            elif got.startswith("ACK"):
                p.answer = "ack"
            else:
                p.answer = got.split()[2] if len(got.split()) > 2 else "nak"
            self.record(p)
            return p
        got = w.console(str(pos), ("ACK", "NAK"))
        p.at = time.time()
        if got is None:
            p.answer = "lost"
            w.kill_inflight.append(p)
            return p
        if got.startswith("ACK"):
            p.answer = "ack"
            p.event_id = got.split("id=")[1]
        elif got.startswith("NAK"):
            parts = got.split()
            p.answer = parts[2]
            if "id=" in got:
                p.event_id = got.split("id=")[1]
        else:
            p.answer = "err"
        self.record(p)
        if p.answer == "ack" and (level.is_bad or False) and not w.serial:
            self.maybe_reasons(w, p, rng)
        return p

    def maybe_reasons(self, w: Window, p: Press, rng) -> None:
        r = rng.random()
        if r < 0.6:
            codes = rng.sample([x.code for x in REASONS[p.level.wire]], rng.randint(1, 2))
            got = w.console("r " + " ".join(codes), ("REASONS",))
            if got and got.startswith("REASONS") and got != "REASONS -":
                p.reasons = codes
        elif r < 0.85:
            w.console("s", ("SKIPPED",))
        # else: the citizen walks away; the step times out with nothing chosen

    def free_citizen(self, w: Window, rng) -> None:
        level = self.pick_level(rng)
        self.press(w, level, rng)
        if rng.random() < 0.05:  # a second, impatient press: stored flagged misuse
            time.sleep(0.05)
            self.press(w, self.pick_level(rng), rng)

    def transaction_citizen(self, w: Window, rng) -> None:
        project = f"P{rng.randrange(10**8):08d}"
        ticket = f"{w.window_no}{rng.randrange(1000):03d}"
        try:
            r = requests.post(f"http://127.0.0.1:{w.api_port}/v1/prompt",
                              json={"project_no": project, "ticket_no": ticket}, headers=API_AUTH, timeout=10)
        except requests.RequestException:
            return
        if r.status_code != 201:
            return  # out of order (disk full): the queue system is told, nothing is owed
        prompt = r.json()
        if rng.random() < 0.12:
            # the citizen leaves without rating: the prompt must become "unrated"
            time.sleep(self.prompt_timeout + 0.8)
            st = self.prompt_state(w, prompt["id"])
            if st == "unrated":
                w.unrated_expected += 1
            else:
                w.prompts_lost += 1
            return
        time.sleep(rng.uniform(0.05, 0.4))
        self.press(w, self.pick_level(rng), rng, prompt=prompt)

    def prompt_state(self, w: Window, pid: str) -> str | None:
        for _ in range(20):
            try:
                r = requests.get(f"http://127.0.0.1:{w.api_port}/v1/prompt/{pid}", headers=API_AUTH, timeout=5)
                if r.status_code == 200:
                    st = r.json()["status"]
                    if st != "pending":
                        return st
            except requests.RequestException:
                pass
            time.sleep(0.5)
        return None


# --- running the day -------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=60)
    ap.add_argument("--sections", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the compressed day")
    ap.add_argument("--mean-gap", type=float, default=6.0, help="mean seconds between citizens per window")
    ap.add_argument("--prompt-timeout", type=float, default=3.0)
    ap.add_argument("--serial-share", type=float, default=0.2)
    ap.add_argument("--transaction-share", type=float, default=0.33)
    ap.add_argument("--db", help="database URL (default: a SQLite file)")
    ap.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL cluster")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--short", action="store_true", help="the CI version: 5 windows, about a minute")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--self-check", action="store_true",
                    help="after the real comparison, forge errors in the truth and show they are caught")
    args = ap.parse_args()
    if args.short:
        args.devices, args.sections, args.minutes, args.mean_gap = 6, 3, 1.0, 2.5
    args.sections = min(args.sections, len(SECTIONS))

    hall = Hall(args)
    with contextlib.ExitStack() as stack:
        if args.pg:
            db_url = stack.enter_context(testing.postgres_cluster(durable=True))
        else:
            db_url = args.db or f"sqlite:///{hall.work / 'server.db'}"
        server = stack.enter_context(testing.running_server(db_url, timezone="Asia/Shanghai"))
        stack.callback(lambda: None if args.keep else shutil.rmtree(hall.work, ignore_errors=True))
        return run_day(hall, db_url, server)


def run_day(hall: Hall, db_url: str, server) -> int:
    args = hall.args
    port = int(server.rsplit(":", 1)[1])
    proxy = FaultProxy(port)
    testing.add_user(db_url, "auditor", "hall-day-auditor", "admin")

    # the windows: sections, modes, panels; special ones for the faults
    n = args.devices
    serial_n = max(1, round(n * args.serial_share))
    trans_n = max(1, round(n * args.transaction_share))
    for i in range(n):
        section = SECTIONS[i % args.sections]
        is_serial = i < serial_n
        mode = "transaction" if (not is_serial and i < serial_n + trans_n) else "free"
        hall.windows.append(Window(hall, i + 1, section, mode, is_serial))
    console_free = [w for w in hall.windows if not w.serial and w.mode == "free"]
    victim_kill = console_free[0]
    victim_clock = console_free[1 % len(console_free)]
    victim_disk = console_free[-1] if len(console_free) > 2 else None
    victim_panel = hall.windows[0]
    victim_clock.clock_wrong = True
    victim_clock.env["KIOSK_CLOCK_OFFSET_SECONDS"] = str(CLOCK_OFFSET)
    victim_clock.env["KIOSK_CLOCK_SYNCED"] = "0"
    disk_ok = victim_disk is not None and victim_disk.mount_tiny_disk()

    log(f"{n} windows ({serial_n} serial, {trans_n} transaction) across {args.sections} sections; "
        f"server {server} via proxy {proxy.url}; db {db_url.split('@')[-1]}")
    t_start = time.monotonic()
    for w in hall.windows:
        token = testing.add_device(db_url, w.device_id, window=w.window_no, section=w.section,
                                   staff_no=w.staff_no)
        w.configure(token, proxy.url)
    for w in hall.windows:
        w.start_device()
        w.start_uploader()
    log(f"all processes up in {time.monotonic() - t_start:.1f} s")
    hall.t0 = time.monotonic()
    day = args.minutes * 60

    # a monitor: server latency seen by a client next to it
    monitor_stop = threading.Event()

    def monitor():
        while not monitor_stop.wait(1.0):
            t = time.perf_counter()
            try:
                requests.get(server + "/api/v1/stats", params={"group_by": "window"}, timeout=30)
                hall.latencies.append((time.perf_counter() - t) * 1000)
            except requests.RequestException:
                pass

    threading.Thread(target=monitor, daemon=True).start()
    threads = [threading.Thread(target=hall.citizen_loop, args=(w,), daemon=True) for w in hall.windows]
    for t in threads:
        t.start()

    def at(fraction: float) -> None:
        delay = hall.t0 + fraction * day - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    drain_seconds = None
    # network cut
    at(0.15)
    hall.fault("network_cut", seconds=round(0.2 * day, 1))
    proxy.set_cut(True)
    if disk_ok:
        at(0.25)
        filler = victim_disk.data / "filler"
        with open(filler, "wb", buffering=0) as f:
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
        hall.fault("disk_full", window=victim_disk.window_no)
    at(0.35)
    proxy.set_cut(False)
    restored = time.monotonic()
    # the network backlog: every window but the one whose disk is still full (it drains once space is back)
    marks = {w.device_id: _last_seq(w) for w in hall.windows if not (disk_ok and w is victim_disk)}
    hall.fault("network_restored")
    space_back_at = hall.t0 + 0.42 * day if disk_ok else None

    def space_back() -> None:
        filler.unlink()
        hall.fault("disk_space_back", window=victim_disk.window_no)

    # wait for the backlog from the cut to drain (watched from the moment the
    # network is back; the disk space comes back meanwhile, on its schedule)
    while time.monotonic() - restored < 0.3 * day:
        if space_back_at is not None and time.monotonic() >= space_back_at:
            space_back()
            space_back_at = None
        if drain_seconds is None and all(w.pending_up_to(marks[w.device_id]) == 0
                                         for w in hall.windows if w.device_id in marks):
            drain_seconds = round(time.monotonic() - restored, 1)
            log(f"backlog from the cut drained in {drain_seconds} s")
        if drain_seconds is not None and space_back_at is None:
            break
        time.sleep(0.25)
    if space_back_at is not None:
        at(0.42)
        space_back()
    at(0.5)
    hall.fault("server_sigkill")
    server.kill()
    time.sleep(min(5.0, 0.03 * day))
    server.start()
    hall.fault("server_restarted")
    at(0.6)
    with victim_kill.lock:
        hall.fault("device_sigkill", window=victim_kill.window_no)
        victim_kill.kill_device()
        victim_kill.start_device()
        hall.fault("device_restarted", window=victim_kill.window_no)
    at(0.7)
    with victim_panel.lock:
        victim_panel.panel.unplug()
        hall.fault("serial_unplugged", window=victim_panel.window_no)
        time.sleep(min(5.0, 0.03 * day))
        victim_panel.panel.plug()
        hall.fault("serial_replugged", window=victim_panel.window_no)
    at(1.0)
    hall.stop_citizens.set()
    for t in threads:
        t.join(timeout=60)
    log("day over; waiting for every buffer to drain")
    time.sleep(args.prompt_timeout + 1)
    end_drain = time.monotonic()
    while time.monotonic() - end_drain < 180:
        if all(w.counts()["pending"] == 0 for w in hall.windows):
            break
        time.sleep(1)
    final_drain = round(time.monotonic() - end_drain, 1)
    monitor_stop.set()
    for w in hall.windows:
        w.stop()
        if w.mounted:
            subprocess.run(["umount", "-l", str(w.data)], check=False)
    proxy.close()
    differences = compare(hall, server)
    if hall.args.self_check:
        hall.self_check = self_check(hall, server)
    return report(hall, differences, drain_seconds, final_drain, disk_ok, db_url)


def self_check(hall: Hall, server: str) -> int:
    """Prove the comparison can fail: forge a lost rating and a wrong level in the
    truth and count the differences found (must be at least 2)."""
    import uuid

    real = hall.presses
    acked = next(p for p in real if p.answer == "ack" and p.via == "console")
    forged = Press(acked.window, Level.VERY_SATISFIED, "console", "ack", event_id=str(uuid.uuid4()), at=time.time())
    wrong = Press(acked.window, LEVELS[(acked.level.position + 1) % 5], "console", "ack",
                  event_id=acked.event_id, at=acked.at, reasons=acked.reasons, project_no=acked.project_no)
    hall.presses = [p for p in real if p is not acked] + [forged, wrong]
    try:
        found = compare(hall, server)
    finally:
        hall.presses = real
    for d in found[:3]:
        log(f"self-check found: {d}")
    return len(found)


def _last_seq(w: Window) -> int:
    buf = Buffer(w.data / "buffer.db")
    try:
        return buf.last_seq()
    finally:
        buf.close()


# --- the comparison ---------------------------------------------------------------------------

def fetch_ratings(server: str) -> list[dict]:
    token = requests.post(server + "/api/v1/login", json={"username": "auditor", "password": "hall-day-auditor"},
                          timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    out, page = [], 1
    while True:
        r = requests.get(server + "/api/v1/ratings", params={"page": page, "page_size": 1000}, headers=headers,
                         timeout=60)
        r.raise_for_status()
        body = r.json()
        out.extend(body["ratings"])
        if len(out) >= body["total"] or not body["ratings"]:
            return out
        page += 1


def compare(hall: Hall, server: str) -> list[str]:
    diffs: list[str] = []
    rows = fetch_ratings(server)
    by_id = collections.Counter(r["id"] for r in rows)
    dup = [i for i, c in by_id.items() if c > 1]
    if dup:
        diffs.append(f"{len(dup)} ratings stored more than once: {dup[:5]}")
    server_by_id = {r["id"]: r for r in rows}
    windows = {w.index: w for w in hall.windows}
    stored_presses = [p for p in hall.presses if p.answer in ("ack", "cooldown")]
    # console presses: exact, by id
    truth_ids = set()
    clock_errors = []
    for p in stored_presses:
        w = windows[p.window]
        if p.via != "console":
            continue
        truth_ids.add(p.event_id)
        r = server_by_id.get(p.event_id)
        if r is None:
            diffs.append(f"acknowledged rating {p.event_id} ({w.window_no}, {p.level.zh}) missing on the server")
            continue
        want = {"satisfaction": p.level.wire, "window_no": w.window_no, "section": w.section,
                "staff_no": w.staff_no, "misuse": p.answer == "cooldown", "project_no": p.project_no,
                "reasons": sorted(p.reasons)}
        got = {k: (sorted(r[k]) if k == "reasons" else r[k]) for k in want}
        if got != want:
            diffs.append(f"rating {p.event_id} differs: want {want}, server has {got}")
        rated = datetime.fromisoformat(r["rated_at"].replace("Z", "+00:00")).timestamp()
        err = abs(rated - p.at)
        if w.clock_wrong:
            clock_errors.append(err)
        if err > 5.0 and not w.clock_wrong:
            diffs.append(f"rating {p.event_id} time off by {err:.1f} s on a synchronised device")
    if clock_errors and max(clock_errors) > 5.0:
        diffs.append(f"wrong clock not repaired: worst error {max(clock_errors):.1f} s")
    # events the server has from console windows that nobody acknowledged
    console_devices = {w.device_id for w in hall.windows if not w.serial}
    inflight = sum(len(w.kill_inflight) for w in hall.windows)
    extra = [r for r in rows if r["device_id"] in console_devices and r["id"] not in truth_ids]
    if len(extra) > inflight:
        diffs.append(f"{len(extra)} server ratings nobody acknowledged (at most {inflight} were in flight "
                     f"at a kill): {[e['id'] for e in extra[:5]]}")
    for w in hall.windows:
        if w.prompts_lost:
            diffs.append(f"window {w.window_no}: {w.prompts_lost} unanswered prompts did not become unrated")
    # serial windows: by level and misuse flag
    for w in hall.windows:
        if not w.serial:
            continue
        truth = collections.Counter((p.level.wire, p.answer == "cooldown") for p in stored_presses
                                    if p.window == w.index)
        got = collections.Counter((r["satisfaction"], r["misuse"]) for r in rows if r["device_id"] == w.device_id)
        if truth != got:
            diffs.append(f"serial window {w.window_no}: truth {dict(truth)} != server {dict(got)}")
    # stats API and board against the truth computed here
    diffs += compare_stats(hall, server, stored_presses, windows, extra)
    hall.clock_error_max = round(max(clock_errors), 2) if clock_errors else None
    hall.server_ratings = len(rows)
    return diffs


def truth_groups(hall: Hall, stored, windows, extra) -> dict[str, dict]:
    """Expected stats per section/window/staff, computed from the presses alone."""
    groups: dict[str, dict] = collections.defaultdict(
        lambda: {"count": 0, "levels": {str(k): 0 for k in (5, 4, 3, 2, 1)}, "bad": 0, "unrated": 0})

    def add(keys, wire):
        for key in keys:
            g = groups[key]
            g["count"] += 1
            g["levels"][str(wire)] += 1
            if wire <= 2:
                g["bad"] += 1

    for p in stored:
        if p.answer != "ack":
            continue
        w = windows[p.window]
        add((f"section:{w.section}", f"window:{w.window_no}", f"staff:{w.staff_no}", "total"), p.level.wire)
    for r in extra:  # stored though unacknowledged (in flight at a kill): the server is right to count them
        if not r["misuse"]:
            add((f"section:{r['section']}", f"window:{r['window_no']}", f"staff:{r['staff_no']}", "total"),
                r["satisfaction"])
    for w in hall.windows:
        for key in (f"section:{w.section}", f"window:{w.window_no}", f"staff:{w.staff_no}", "total"):
            groups[key]["unrated"] += w.unrated_expected
    return groups


def compare_stats(hall: Hall, server: str, stored, windows, extra) -> list[str]:
    diffs = []
    truth = truth_groups(hall, stored, windows, extra)
    today = datetime.now(SHANGHAI).date()
    params = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    for group_by, prefix in (("section", "section"), ("window", "window"), ("staff", "staff")):
        body = requests.get(server + "/api/v1/stats", params={**params, "group_by": group_by}, timeout=60).json()
        got = {f"{prefix}:{g['key']}": g for g in body["groups"]}
        if group_by == "section":
            got["total"] = body["total"]
        for key in set(got) | {k for k in truth if k.startswith(prefix) or (group_by == "section" and k == "total")}:
            t, g = truth.get(key), got.get(key)
            if t is None or g is None:
                diffs.append(f"stats {key}: only on {'the server' if t is None else 'the truth side'}")
                continue
            for field_ in ("count", "levels", "bad", "unrated"):
                if t[field_] != g[field_]:
                    diffs.append(f"stats {key} {field_}: truth {t[field_]} != server {g[field_]}")
            if g["bad_unrectified"] != t["bad"]:
                diffs.append(f"stats {key} bad_unrectified: truth {t['bad']} != server {g['bad_unrectified']}")
            want_rate = None if not t["count"] else (t["count"] - t["bad"]) / t["count"]
            if (want_rate is None) != (g["good_rate"] is None) or (
                    want_rate is not None and abs(want_rate - g["good_rate"]) > 1e-6):
                diffs.append(f"stats {key} good_rate: truth {want_rate} != server {g['good_rate']}")
    diffs += compare_board(server, truth)
    return diffs


def compare_board(server: str, truth: dict) -> list[str]:
    """The public board shows each section's figures: they must equal the truth."""
    r = requests.get(server + "/board", timeout=30)
    if r.status_code != 200:
        return [f"/board answered {r.status_code}"]
    html = r.text
    diffs = []
    for key, t in truth.items():
        if not key.startswith("section:"):
            continue
        name = key.split(":", 1)[1]
        if name not in html:
            diffs.append(f"board: section {name} missing")
            continue
        chunk = html[html.index(name):]
        if str(t["count"]) not in chunk[:4000]:
            diffs.append(f"board: section {name} does not show its count {t['count']}")
    if any(ch in html for ch in ("138****", "phone")):
        diffs.append("board shows personal data")
    return diffs


def report(hall: Hall, diffs: list[str], drain_seconds, final_drain, disk_ok, db_url) -> int:
    presses = hall.presses
    answers = collections.Counter(p.answer for p in presses)
    lat = sorted(hall.latencies) or [0.0]
    unrated = sum(w.unrated_expected for w in hall.windows)
    print()
    print(f"{'windows':<34}{len(hall.windows)}")
    print(f"{'presses':<34}{len(presses)}  {dict(answers)}")
    print(f"{'ratings on the server':<34}{getattr(hall, 'server_ratings', 0)}")
    print(f"{'unrated prompts':<34}{unrated}")
    print(f"{'faults injected':<34}{len(hall.faults)}: {', '.join(f['fault'] for f in hall.faults)}")
    print(f"{'backlog drain after the cut (s)':<34}{drain_seconds}")
    print(f"{'final drain (s)':<34}{final_drain}")
    print(f"{'server latency median / max (ms)':<34}{statistics.median(lat):.1f} / {lat[-1]:.1f}")
    print(f"{'wrong clock, worst repaired err (s)':<34}{getattr(hall, 'clock_error_max', None)}")
    print(f"{'differences':<34}{len(diffs)}")
    for d in diffs[:50]:
        print("  DIFF", d)
    result = {
        "bench": "hall_day" if not hall.args.short else "hall_day_short",
        "what": "a compressed hall day under faults: truth vs server",
        "db": "postgresql" if db_url.startswith("postgresql") else "sqlite",
        "devices": len(hall.windows),
        "minutes": hall.args.minutes,
        "presses": len(presses),
        "acknowledged": answers.get("ack", 0),
        "misuse": answers.get("cooldown", 0),
        "unrated": unrated,
        "faults": len(hall.faults),
        "disk_full_fault": disk_ok,
        "differences": len(diffs),
        "target_differences": 0,
        "peak_server_latency_ms": round(lat[-1], 1),
        "median_server_latency_ms": round(statistics.median(lat), 1),
        "drain_after_cut_s": drain_seconds,
        "final_drain_s": final_drain,
        "clock_repair_max_error_s": getattr(hall, "clock_error_max", None),
    }
    if hasattr(hall, "self_check"):
        result["self_check_differences"] = hall.self_check
        if hall.self_check < 2:
            print("  SELF-CHECK FAILED: forged errors were not all detected")
            diffs = diffs + ["self-check"]
    print(json.dumps(result, ensure_ascii=False))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
