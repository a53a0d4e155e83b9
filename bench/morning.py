"""The morning after an outage: a whole fleet comes back at once with a backlog.

N simulated devices (default 20,000; ``--quick`` 2,000) each hold ``--backlog``
events (50: two hours of a busy day) when the link to the server comes back.
Every device runs the real uploader: :class:`sync.uploader.Uploader` over
:class:`sync.client.Client` (gzip JSON, requests), with its own
:class:`kiosk.backoff.Backoff` honouring ``Retry-After`` with jitter. What is
real and what is light:

- ``--real`` devices (default 500) have a real buffer, :class:`kiosk.buffer.Buffer`
  (an SQLite file each, the device's own code);
- the others have :class:`MemoryBuffer`, the buffer's interface (pending,
  mark_results, meta) kept in memory: the same uploader, client and backoff code.

The devices are multiplexed on a pool of threads: a worker takes the next device
whose wait is over and runs one ``Uploader.step()`` (one batch, as the device's
loop does); a failed step's delay (the backoff's, which honours Retry-After)
decides when that device is next due. Devices come back within the first
``--spread`` seconds (10 s), as a fleet whose backoffs were all near their cap.

During the storm a probe asks ``/healthz`` and ``/board`` twice a second and
records their latency. At the end the database is counted: events stored ==
events sent, no id twice, every buffer fully synced. One server process on
PostgreSQL (same box), with the default ``max_inflight_batches``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench._common import pct  # noqa: E402
from kiosk.backoff import Backoff  # noqa: E402
from kiosk.buffer import Buffer, Pending  # noqa: E402
from kiosk.clock import SystemClock  # noqa: E402
from kiosk.events import Window, rating, unrated  # noqa: E402
from kiosk.levels import LEVELS  # noqa: E402
from sync.client import Client  # noqa: E402
from sync.uploader import Uploader  # noqa: E402


class MemoryBuffer:
    """The part of :class:`kiosk.buffer.Buffer` the uploader uses, in memory."""

    def __init__(self, events: list[dict[str, Any]]):
        self.rows = [Pending(i + 1, ev["id"], json.dumps(ev, ensure_ascii=False)) for i, ev in enumerate(events)]
        self.state = {p.id: "pending" for p in self.rows}
        self.meta: dict[str, Any] = {}

    def pending(self, limit: int, after_seq: int = 0) -> list[Pending]:
        return [p for p in self.rows if p.seq > after_seq and self.state[p.id] == "pending"][:limit]

    def mark_results(self, results) -> dict[str, int]:
        out: Counter = Counter()
        for ev_id, status, _ in results:
            self.state[ev_id] = "synced" if status in ("accepted", "duplicate") else "rejected"
            out[status] += 1
        return dict(out)

    def last_seq(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, Any]:
        return dict(Counter(self.state.values()))

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default)

    def set_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value


def backlog(clock, n: int, device_no: int) -> list[dict[str, Any]]:
    window = Window(window_no=str(device_no % 60 + 1), section="综合服务区", staff_no=f"A{device_no % 999:03d}",
                    staff_name="", channel=4)
    return [unrated(clock, window, prompt_id=f"p-{device_no}-{i}") if i % 10 == 9
            else rating(clock, LEVELS[i % 5], "touch", window) for i in range(n)]


class Probe(threading.Thread):
    """Asks ``/healthz`` and ``/board`` every half second; their latencies."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.lat: dict[str, list[float]] = {"/healthz": [], "/board": []}
        self.bad: list[str] = []

    def run(self) -> None:
        s = requests.Session()
        while not self.stop.wait(0.5):
            for path, lat in self.lat.items():
                t = time.perf_counter()
                try:
                    status = s.get(self.url + path, timeout=10).status_code
                except requests.RequestException as exc:
                    self.bad.append(f"{path}: {type(exc).__name__}")
                    continue
                lat.append(time.perf_counter() - t)
                if status != 200:
                    self.bad.append(f"{path}: HTTP {status}")


class Storm:
    """Devices due at a time, run by a pool of worker threads."""

    def __init__(self, uploaders: list[Uploader], spread: float, workers: int, seed: int = 1):
        rng = random.Random(seed)
        self.start = time.monotonic()
        self.due = [(self.start + rng.random() * spread, i) for i in range(len(uploaders))]
        heapq.heapify(self.due)
        self.uploaders = uploaders
        self.lock = threading.Condition()
        self.left = len(uploaders)
        self.workers = workers
        self.outcomes: Counter = Counter()
        self.lat: list[float] = []
        self.sessions = threading.local()

    def _next(self) -> int | None:
        with self.lock:
            while True:
                if not self.due:
                    if self.left == 0:
                        return None
                    self.lock.wait(0.5)
                    continue
                at, i = self.due[0]
                delay = at - time.monotonic()
                if delay <= 0:
                    heapq.heappop(self.due)
                    return i
                self.lock.wait(min(delay, 0.5))

    def _work(self) -> None:
        if not hasattr(self.sessions, "s"):
            self.sessions.s = requests.Session()
        while (i := self._next()) is not None:
            up = self.uploaders[i]
            up.client.session = self.sessions.s  # one keep-alive session per worker thread
            t = time.perf_counter()
            step = up.step()
            self.lat.append(time.perf_counter() - t)
            self.outcomes[step.kind if step.kind != "failed" else (step.error or "failed").split(" ")[0]] += 1
            with self.lock:
                if step.kind in ("ok", "idle") and not up.buffer.pending(1):
                    self.left -= 1
                elif step.kind == "stopped":
                    self.left -= 1
                else:
                    heapq.heappush(self.due, (time.monotonic() + (step.delay if step.kind == "failed" else 0), i))
                self.lock.notify_all()

    def run(self) -> float:
        threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - self.start


def make_fleet(db_url: str, url: str, n: int, real: int, per_device: int, tmp: Path):
    """Register ``n`` devices and build their uploaders (``real`` of them on real buffers)."""
    from bench.fleet import make_devices

    devices = make_devices(db_url, n, "morning")
    clock = SystemClock()
    uploaders, buffers, sent = [], [], []
    for k, (device_id, token) in enumerate(devices):
        events = backlog(clock, per_device, k)
        sent.extend(ev["id"] for ev in events)
        if k < real:
            buf: Any = Buffer(tmp / f"{device_id}.db")
            with buf.db.atomic():
                for ev in events:
                    buf.append(ev)
        else:
            buf = MemoryBuffer(events)
        buffers.append(buf)
        uploaders.append(Uploader(buf, Client(url, token, timeout=30.0), device_id=device_id, batch_size=200,
                                  clock=clock, backoff=Backoff(base=1.0, cap=180.0), pipeline=0, in_flight=1))
    return uploaders, buffers, sent


def count_db(db_url: str) -> tuple[int, int]:
    import sqlalchemy as sa

    from central import db
    with db.engine_for(db_url).connect() as conn:
        total, distinct = conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(db.events.c.event_id)))
                                       .where(db.events.c.device_id.like("morning-%"))).one()
    return total, distinct


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 devices, 100 on real buffers")
    ap.add_argument("--devices", type=int, default=None)
    ap.add_argument("--real", type=int, default=None, help="devices on a real SQLite buffer")
    ap.add_argument("--backlog", type=int, default=50, help="events per device")
    ap.add_argument("--spread", type=float, default=10.0, help="seconds over which the devices come back")
    ap.add_argument("--workers", type=int, default=96, help="threads running the devices' uploaders")
    args = ap.parse_args()
    n = args.devices or (2000 if args.quick else 20000)
    real = min(n, args.real if args.real is not None else (100 if args.quick else 500))
    from testkit.pg import pg_available, postgres_cluster
    from testkit.server import running_server
    ok, reason = pg_available()
    if not ok:
        print(f"PostgreSQL not available ({reason})")
        return 1
    with postgres_cluster(durable=True, max_connections=100) as db_url, \
            tempfile.TemporaryDirectory() as tmp, running_server(db_url, log_level="warning") as url:
        t = time.perf_counter()
        uploaders, buffers, sent = make_fleet(db_url, url, n, real, args.backlog, Path(tmp))
        print(f"{n} devices ({real} on real buffers), {len(sent)} events ready in {time.perf_counter() - t:.0f} s",
              flush=True)
        logging.getLogger("sync").setLevel(logging.ERROR)  # each 503 is a warning in the device log
        probe = Probe(url)
        probe.start()
        storm = Storm(uploaders, args.spread, args.workers)
        drained = storm.run()
        probe.stop.set()
        probe.join()
        total, distinct = count_db(db_url)
        unsynced = sum(b.counts().get("pending", 0) + b.counts().get("rejected", 0) for b in buffers)
        for b in buffers[:real]:
            b.close()
    requests_made = sum(storm.outcomes.values())
    busy = storm.outcomes.get("503", 0)
    exactly_once = total == distinct == len(sent) and unsynced == 0
    health = {p: (round(pct(v, 50) * 1000, 1), round(pct(v, 99) * 1000, 1), round(max(v) * 1000, 1))
              for p, v in probe.lat.items() if v}
    print(f"drained {len(sent)} events from {n} devices in {drained:.1f} s; {requests_made} batch requests, "
          f"{busy} answered 503 ({100 * busy / max(1, requests_made):.0f} %); outcomes {dict(storm.outcomes)}")
    print(f"stored {total} events ({distinct} distinct) of {len(sent)} sent; unsynced in buffers: {unsynced}; "
          f"exactly once: {exactly_once}")
    print(f"batch request latency p50 {pct(storm.lat, 50) * 1000:.0f} ms, p99 {pct(storm.lat, 99) * 1000:.0f} ms, "
          f"max {max(storm.lat) * 1000:.0f} ms")
    for path, (p50, p99, mx) in health.items():
        print(f"{path:9} during the storm: p50 {p50} ms, p99 {p99} ms, max {mx} ms ({len(probe.lat[path])} probes)")
    if probe.bad:
        print("probe failures:", probe.bad[:5])
    result = {"bench": "morning",
              "what": f"{n} devices ({real} on real SQLite buffers, the rest in memory; real Uploader/Client/Backoff) "
                      f"return together with {args.backlog} events each; one server process on PostgreSQL",
              "devices": n, "real_buffers": real, "events": len(sent), "drain_s": round(drained, 1),
              "batch_requests": requests_made, "share_503": round(busy / max(1, requests_made), 3),
              "batch_p99_ms": round(pct(storm.lat, 99) * 1000, 1), "batch_max_ms": round(max(storm.lat) * 1000, 1),
              "stored": total, "distinct": distinct, "unsynced": unsynced, "exactly_once": exactly_once,
              "healthz_p99_ms": health.get("/healthz", (None, None, None))[1],
              "healthz_max_ms": health.get("/healthz", (None, None, None))[2],
              "board_p99_ms": health.get("/board", (None, None, None))[1],
              "board_max_ms": health.get("/board", (None, None, None))[2],
              "probe_failures": len(probe.bad), "quick": args.quick}
    print(json.dumps(result, ensure_ascii=False))
    return 0 if exactly_once and not probe.bad else 1


if __name__ == "__main__":
    sys.exit(main())
