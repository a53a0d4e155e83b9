"""Fleet capacity of one server process on this machine (PostgreSQL on the same box).

A device sends a heartbeat every 30 s and, over a busy day, ~200 ratings as
batches of 20 events (10 batches). The day's batches are compressed into
``--day-seconds`` (default 3600: the whole day's ratings arrive within one
hour, far above a real day's average). For N devices the load is therefore
N/30 heartbeats/s plus N*10/day_seconds batches/s.

1. CPU cost: the server process's CPU time (utime+stime from /proc) over a
   fixed count of heartbeats and of 20-event batches, in ms per request; the
   same for a bare uvicorn app doing the same database writes (one UPDATE per
   heartbeat; one INSERT of the 20 events per batch) as the baseline.
2. Capacity: open-loop load (requests start at their scheduled times whether
   or not earlier ones have finished; latency counts from the scheduled time,
   so client-side queueing is included) at the rate of N devices for
   ``--step-seconds``; N doubles from ``--start`` until a step fails (p99 >=
   250 ms or any error), then bisects. The capacity is the largest N that passed.

The load generator is one asyncio process with raw keep-alive HTTP/1.1
connections and pre-encoded bodies; its own CPU use is reported per step.

    python bench/fleet.py            # about 3 minutes
    python bench/fleet.py --quick    # about 1 minute, coarser
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import pct  # noqa: E402
from testkit.server import free_port, rating_event, running_server  # noqa: E402

P99_LIMIT_MS = 250.0
HEARTBEAT_S = 30.0
BATCHES_PER_DAY = 10
BATCH_EVENTS = 20


def make_devices(db_url: str, n: int, prefix: str) -> list[tuple[str, str]]:
    """``n`` registered devices with tokens, written in one statement."""
    from central import db
    from central.auth import DEVICE_TOKEN_PREFIX, token_hash
    from central.bulk import bulk_insert

    db.upgrade(db_url)
    engine = db.engine_for(db_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    out, rows = [], []
    for i in range(n):
        device_id, token = f"{prefix}-{i:05d}", DEVICE_TOKEN_PREFIX + uuid.uuid4().hex + uuid.uuid4().hex
        out.append((device_id, token))
        rows.append({"device_id": device_id, "window_no": str(i % 60 + 1), "section": f"区{i % 8}",
                     "staff_no": f"A{i % 9999:04d}", "token_hash": token_hash(token), "created_at": now})
    with db.write_tx(engine) as conn:
        for start in range(0, n, 5000):
            bulk_insert(conn, db.devices, rows[start:start + 5000])
    return out


def batch_body(rng: random.Random, device_id: str, n: int = BATCH_EVENTS) -> bytes:
    from testkit.server import detail_event, make_batch

    evs: list[dict] = []
    while len(evs) < n:
        level = rng.choices([5, 4, 3, 2, 1], weights=[60, 25, 10, 3, 2])[0]
        ev = rating_event(level, mono_ms=1000, window_no="1", staff_no="A0001")
        evs.append(ev)
        if level <= 2 and len(evs) < n:
            evs.append(detail_event(ev["id"], ["207" if level == 2 else "115"], mono_ms=1000))
    return json.dumps(make_batch(device_id, evs, boot_id="b-" + device_id, sent_mono_ms=2000),
                      separators=(",", ":")).encode()


HEARTBEAT = json.dumps({"version": "0.1.0", "pending": 0, "rejected": 0, "clock_synced": True,
                        "uptime_s": 3600}).encode()


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            self.writer.write(head + body)
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("connection closed")
            length = 0
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            data = await self.reader.readexactly(length) if length else b""
            return int(status_line.split()[1]), data
        except (OSError, ValueError, asyncio.IncompleteReadError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Load:
    """Requests fired at scheduled times over a pool of keep-alive connections
    (spread evenly over the servers of ``url``: one URL, or several joined by commas,
    as a balancer would spread them over the processes of one box)."""

    def __init__(self, url: str, connections: int = 256):
        places = [u.split("//", 1)[1].rsplit(":", 1) for u in url.split(",")]
        self.pool: asyncio.Queue[Conn] = asyncio.Queue()
        for i in range(connections):
            host, port = places[i % len(places)]
            self.pool.put_nowait(Conn(host, int(port)))
        self.lat: list[float] = []
        self.errors: list[str] = []

    async def fire(self, path: str, token: str, body: bytes, scheduled: float, check_batch: bool) -> None:
        conn = await self.pool.get()
        try:
            status, data = await conn.request(path, token, body)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            self.errors.append(f"{path}: {type(exc).__name__}")
            return
        finally:
            self.pool.put_nowait(conn)
        self.lat.append(time.perf_counter() - scheduled)
        if status != 200:
            self.errors.append(f"{path}: HTTP {status} {data[:120]!r}")
        elif check_batch and b'"rejected"' in data:
            self.errors.append(f"{path}: an event was rejected: {data[:200]!r}")

    def close(self) -> None:
        while not self.pool.empty():
            self.pool.get_nowait().close()


async def open_loop(url: str, schedule: list[tuple[float, str, str, bytes]]) -> Load:
    """Fire ``schedule`` ((offset s, path, token, body)) at its times."""
    load = Load(url)
    tasks = []
    t0 = time.perf_counter() + 0.2
    for offset, path, token, body in schedule:
        at = t0 + offset
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(load.fire(path, token, body, at, path.endswith("batches"))))
    await asyncio.gather(*tasks)
    load.close()
    return load


def plan(devices: list[tuple[str, str]], n: int, seconds: float, day_s: float, seed: int) -> list:
    """The requests of ``n`` devices over ``seconds``: Poisson arrivals of heartbeats and batches."""
    rng = random.Random(seed)
    out: list[tuple[float, str, str, bytes]] = []
    for rate, path in ((n / HEARTBEAT_S, "/api/v1/heartbeat"), (n * BATCHES_PER_DAY / day_s, "/api/v1/batches")):
        t = 0.0
        while True:
            t += rng.expovariate(rate)
            if t >= seconds:
                break
            device_id, token = devices[rng.randrange(n)]
            body = HEARTBEAT if path.endswith("heartbeat") else batch_body(rng, device_id)
            out.append((t, path, token, body))
    out.sort(key=lambda r: r[0])
    return out


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(url: str, pid: int, devices, path: str, count: int) -> float:
    """Server CPU ms per request over ``count`` requests, 8 at a time."""
    rng = random.Random(7)
    bodies = [(devices[i % len(devices)][1],
               HEARTBEAT if path.endswith("heartbeat") else batch_body(rng, devices[i % len(devices)][0]))
              for i in range(count)]

    async def go():
        load = Load(url, connections=8)
        sem = asyncio.Semaphore(8)

        async def one(token, body):
            async with sem:
                await load.fire(path, token, body, time.perf_counter(), False)
        await asyncio.gather(*(one(t, b) for t, b in bodies[:50]))  # warm up connections and caches
        before = cpu_s(pid)
        await asyncio.gather(*(one(t, b) for t, b in bodies[50:]))
        load.close()
        if load.errors:
            raise SystemExit(f"cost run failed: {load.errors[:3]}")
        return (cpu_s(pid) - before) * 1000 / (count - 50)
    return asyncio.run(go())


# --- the baseline: a bare uvicorn app doing the same writes ---------------------------

BARE_APP = r'''
import contextlib, hashlib, json, os, queue, psycopg
conns = queue.Queue()
for _ in range(10):
    conns.put(psycopg.connect(os.environ["FLEET_DB"]))
@contextlib.contextmanager
def connection():
    conn = conns.get()
    try:
        with conn.transaction():
            yield conn
    finally:
        conns.put(conn)
HB = ("UPDATE devices SET last_seen_at = now(), last_state = %s WHERE token_hash = %s "
      "AND revoked_at IS NULL RETURNING device_id")
EV = ("INSERT INTO events (event_id, device_id, type, payload_hash, created_at, received_at, clock_synced, "
      "boot_id, mono_ms) SELECT e, %s, 'rating', e, now(), now(), true, 'b', 1 FROM unnest(%s::text[]) e "
      "ON CONFLICT (event_id) DO NOTHING RETURNING event_id")
def work(path, token, body):
    if not body:
        return b"{}"
    with connection() as conn:
        if path.endswith("heartbeat"):
            conn.execute(HB, (body.decode(), hashlib.sha256(token.encode()).hexdigest()))
            return b'{"ok":true}'
        batch = json.loads(body)
        rows = conn.execute(EV, (batch["device_id"], [e["id"] for e in batch["events"]])).fetchall()
        return json.dumps({"results": [{"id": r[0], "status": "accepted"} for r in rows]}).encode()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    token = dict(scope["headers"]).get(b"authorization", b"")[7:].decode()
    import anyio.to_thread
    out = await anyio.to_thread.run_sync(work, scope["path"], token, body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
'''


@contextlib.contextmanager
def bare_server(db_url: str, workdir: Path):
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    env = {**os.environ, "FLEET_DB": db_url, "PYTHONPATH": str(workdir)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], env=env, cwd=workdir)
    import requests
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url, timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.05)
    try:
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def step(url: str, devices, n: int, seconds: float, day_s: float) -> dict:
    schedule = plan(devices, n, seconds, day_s, seed=n)
    gen_cpu = time.process_time()
    t = time.perf_counter()
    load = asyncio.run(open_loop(url, schedule))
    wall = time.perf_counter() - t
    gen_cpu = time.process_time() - gen_cpu
    p99 = pct(load.lat, 99) * 1000 if load.lat else float("inf")
    ok = not load.errors and p99 < P99_LIMIT_MS
    row = {"devices": n, "requests": len(schedule), "req_per_s": round(len(schedule) / seconds, 1),
           "p50_ms": round(pct(load.lat, 50) * 1000, 1) if load.lat else None, "p99_ms": round(p99, 1),
           "errors": len(load.errors), "ok": ok, "loadgen_cpu_share": round(gen_cpu / wall, 2)}
    print(f"{n:>8} {row['req_per_s']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['errors']:>6} "
          f"{row['loadgen_cpu_share']:>7} {'pass' if ok else 'FAIL'}", flush=True)
    if load.errors:
        print("   first errors:", load.errors[:2], flush=True)
    return row


def search(url: str, devices, start: int, limit: int, seconds: float, day_s: float, bisect: int) -> tuple[int, list]:
    print(f"{'devices':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'gen cpu':>7}")
    rows, good, bad = [], 0, None
    n = start
    while n <= limit:
        r = step(url, devices, n, seconds, day_s)
        rows.append(r)
        if not r["ok"]:
            bad = n
            break
        good, n = n, n * 2
    for _ in range(bisect if bad else 0):
        assert bad is not None
        mid = (good + bad) // 2
        if bad - good <= max(500, good // 20):
            break
        r = step(url, devices, mid, seconds, day_s)
        rows.append(r)
        good, bad = (mid, bad) if r["ok"] else (good, mid)
    return good, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter steps, fewer bisections")
    ap.add_argument("--start", type=int, default=5000, help="devices in the first step")
    ap.add_argument("--limit", type=int, default=80000, help="most devices tried")
    ap.add_argument("--step-seconds", type=float, default=None, help="seconds of load per step (20; quick 10)")
    ap.add_argument("--day-seconds", type=float, default=3600.0, help="a busy day's batches arrive within this")
    ap.add_argument("--cost-count", type=int, default=None, help="requests per CPU-cost run (1000; quick 400)")
    ap.add_argument("--processes", type=int, default=1,
                    help="server processes on the box, the load spread over them (1)")
    args = ap.parse_args()
    seconds = args.step_seconds or (10.0 if args.quick else 20.0)
    count = args.cost_count or (400 if args.quick else 1000)
    from testkit.pg import pg_available, postgres_cluster
    ok, reason = pg_available()
    if not ok:
        print(f"PostgreSQL not available ({reason})")
        return 1
    import tempfile
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(postgres_cluster(durable=True, max_connections=100))
        t = time.perf_counter()
        devices = make_devices(db_url, args.limit, "fleet")
        print(f"registered {len(devices)} devices in {time.perf_counter() - t:.1f} s", flush=True)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        with bare_server(db_url, work) as (bare_url, bare_pid):
            bare_hb = cpu_per_request(bare_url, bare_pid, devices, "/api/v1/heartbeat", count)
            bare_batch = cpu_per_request(bare_url, bare_pid, devices, "/api/v1/batches", count // 4)
        servers = [stack.enter_context(running_server(db_url, log_level="warning")) for _ in range(args.processes)]
        url = servers[0]
        assert url.proc is not None
        pid = url.proc.pid
        hb = cpu_per_request(url, pid, devices, "/api/v1/heartbeat", count)
        batch = cpu_per_request(url, pid, devices, "/api/v1/batches", count // 4)
        print(f"CPU ms per request   server  bare uvicorn  ratio\n"
              f"  heartbeat        {hb:>7.2f}  {bare_hb:>12.2f}  {hb / bare_hb:>5.1f}\n"
              f"  20-event batch   {batch:>7.2f}  {bare_batch:>12.2f}  {batch / bare_batch:>5.1f}", flush=True)
        print(f"capacity with {args.processes} server process(es)", flush=True)
        capacity, rows = search(",".join(str(s) for s in servers), devices, args.start, args.limit, seconds,
                                args.day_seconds, bisect=2 if args.quick else 4)
    print(f"capacity: {capacity} devices at p99 < {P99_LIMIT_MS:g} ms with 0 errors "
          f"({capacity / HEARTBEAT_S:.0f} heartbeats/s + {capacity * BATCHES_PER_DAY / args.day_seconds:.1f} "
          f"20-event batches/s; target 20000)")
    who = "one server process holds" if args.processes == 1 else f"{args.processes} server processes hold"
    result = {"bench": "fleet" if args.processes == 1 else f"fleet_{args.processes}p",
              "what": f"largest fleet {who} on PostgreSQL (same box): heartbeat every 30 s, "
                      f"{BATCHES_PER_DAY} batches of {BATCH_EVENTS} events per device within {args.day_seconds:g} s, "
                      f"open-loop {seconds:g} s steps, p99 < {P99_LIMIT_MS:g} ms and 0 errors",
              "capacity_devices": capacity, "target_devices": 20000, "processes": args.processes,
              "cpu_ms_heartbeat": round(hb, 3), "cpu_ms_batch20": round(batch, 3),
              "baseline_cpu_ms_heartbeat": round(bare_hb, 3), "baseline_cpu_ms_batch20": round(bare_batch, 3),
              "ratio_heartbeat": round(hb / bare_hb, 2), "ratio_batch20": round(batch / bare_batch, 2),
              "steps": rows, "quick": args.quick}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
