"""The day: the windows start, the citizens come, and the faults happen on
schedule; at the end every buffer drains and the oracle compares."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time

import requests

from testkit.server import add_device, add_user

from .citizens import Citizens
from .faults import FaultProxy
from .hall import CLOCK_OFFSET, SECTIONS, Hall, log
from .oracle import compare, self_check
from .report import report
from .window import Window, last_seq


def run_day(hall: Hall, db_url: str, server) -> int:
    args = hall.args
    port = int(server.rsplit(":", 1)[1])
    proxy = FaultProxy(port)
    add_user(db_url, "auditor", "hall-day-auditor", "admin")

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
        token = add_device(db_url, w.device_id, window=w.window_no, section=w.section,
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
    citizens = Citizens(hall)
    threads = [threading.Thread(target=citizens.citizen_loop, args=(w,), daemon=True) for w in hall.windows]
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
    marks = {w.device_id: last_seq(w) for w in hall.windows if not (disk_ok and w is victim_disk)}
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
