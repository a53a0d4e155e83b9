"""A fleet on one server: 2,000 simulated devices against one ``kiosk server``
process on PostgreSQL, each posting a heartbeat and a small batch every 30 s.

Every device has its own token and device id and starts at a random moment
within the first interval, so the load is spread as it is in a real fleet
(2,000 x 2 requests / 30 s = about 133 requests/s). Batches hold 1..4 events
(ratings, some bad with reasons, some unrated). The requests come from one
plain asyncio HTTP/1.1 client (200 keep-alive connections) on the same
machine; latency is measured from writing a request to reading its answer.

Baseline, in the same run: the same client with 20 devices for one interval
(the server's latency when idle). Reported: error count (non-200, transport
errors, or any event not accepted; target 0), p50/p99 latency of the fleet
and of the baseline, and the requests/s achieved. ``--interval`` compresses
time (e.g. 10 s = the load of 6,000 devices at 30 s); the defaults run in real
time for 3 intervals.

    python bench/fleet.py                              # 2,000 devices, 30 s, 3 intervals
    python bench/fleet.py --devices 500 --duration 40  # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from central import auth, db, testing  # noqa: E402


def make_devices(db_url: str, n: int, prefix: str) -> list[tuple[str, str]]:
    db.upgrade(db_url)
    engine = db.engine_for(db_url)
    out = []
    with db.write_tx(engine) as conn:
        for i in range(n):
            device_id = f"{prefix}-{i:04d}"
            auth.upsert_device(conn, device_id, window=str(i % 60 + 1), section=f"区{i % 8}", staff_no=f"A{i:04d}")
            out.append((device_id, auth.issue_device_token(conn, device_id)))
    return out


def _events(rng: random.Random, device_id: str, n: int, mono: int) -> list[dict]:
    evs = []
    for _ in range(n):
        if rng.random() < 0.1:
            evs.append(testing.unrated_event(mono_ms=mono, staff_no=device_id[-4:]))
            continue
        level = rng.choices([5, 4, 3, 2, 1], weights=[60, 25, 10, 3, 2])[0]
        ev = testing.rating_event(level, mono_ms=mono, window_no=device_id[-2:], staff_no=device_id[-4:])
        evs.append(ev)
        if level <= 2:
            reason = "207" if level == 2 else "115"
            evs.append(testing.detail_event(ev["id"], [reason], mono_ms=mono))
    return evs


class Conn:
    """One keep-alive HTTP/1.1 connection; a plain asyncio client keeps the load
    generator cheap enough to share two cores with the server it measures."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            self.writer.write(head + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("connection closed")
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            data = await self.reader.readexactly(length) if length else b""
            return status, data
        except (OSError, ValueError, asyncio.IncompleteReadError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Fleet:
    def __init__(self, url: str, devices: list[tuple[str, str]], interval: float, duration: float, seed: int,
                 connections: int = 200):
        self.host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.port = int(port)
        self.devices = devices
        self.interval = interval
        self.duration = duration
        self.connections = connections
        self.lat: list[float] = []
        self.errors: list[str] = []
        self.requests = 0

    async def _post(self, path: str, token: str, body: dict) -> dict | None:
        conn = await self.pool.get()
        try:
            raw = json.dumps(body, separators=(",", ":")).encode()
            t = time.perf_counter()
            try:
                status, data = await conn.request(path, token, raw)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                self.errors.append(f"{path}: {type(exc).__name__}")
                return None
            finally:
                self.requests += 1
            self.lat.append(time.perf_counter() - t)
        finally:
            self.pool.put_nowait(conn)
        if status != 200:
            self.errors.append(f"{path}: HTTP {status}")
            return None
        return json.loads(data)

    async def device(self, device_id: str, token: str, stop_at: float) -> None:
        rng = random.Random(device_id)
        boot = str(uuid.uuid4())
        await asyncio.sleep(rng.random() * self.interval)
        start = time.monotonic()
        while time.monotonic() < stop_at:
            began = time.monotonic()
            mono = int((began - start) * 1000) + 1000
            await self._post("/api/v1/heartbeat", token,
                             {"version": "0.1.0", "pending": 0, "rejected": 0, "clock_synced": True,
                              "uptime_s": mono // 1000})
            evs = _events(rng, device_id, rng.randint(1, 4), mono)
            out = await self._post("/api/v1/batches", token,
                                   testing.make_batch(device_id, evs, boot_id=boot, sent_mono_ms=mono + 5))
            if out is not None:
                bad = [x for x in out["results"] if x["status"] != "accepted"]
                if bad:
                    self.errors.append(f"batch: {bad[0]}")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - began)))

    async def run(self) -> float:
        self.pool: asyncio.Queue[Conn] = asyncio.Queue()
        for _ in range(self.connections):
            self.pool.put_nowait(Conn(self.host, self.port))
        t0 = time.monotonic()
        stop_at = t0 + self.duration
        await asyncio.gather(*(self.device(d, t, stop_at) for d, t in self.devices))
        while not self.pool.empty():
            self.pool.get_nowait().close()
        return time.monotonic() - t0


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p * len(xs))) - 1))] * 1000 if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=30.0, help="seconds between a device's posts")
    ap.add_argument("--duration", type=float, default=90.0, help="seconds the fleet runs")
    ap.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    args = ap.parse_args()
    ok, reason = testing.pg_available()
    if not args.sqlite and not ok:
        print(f"PostgreSQL not available ({reason}); use --sqlite")
        return 1
    import contextlib
    import tempfile
    with contextlib.ExitStack() as stack:
        if args.sqlite:
            db_url = str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "fleet.db")
        else:
            db_url = stack.enter_context(testing.postgres_cluster(durable=True, max_connections=100))
        t = time.perf_counter()
        fleet_devices = make_devices(db_url, args.devices, "fleet")
        base_devices = make_devices(db_url, 20, "idle")
        print(f"registered {args.devices + 20} devices in {time.perf_counter() - t:.1f} s")
        with testing.running_server(db_url, log_level="warning") as url:
            base = Fleet(url, base_devices, args.interval, args.interval, seed=1)
            asyncio.run(base.run())
            fleet = Fleet(url, fleet_devices, args.interval, args.duration, seed=2)
            elapsed = asyncio.run(fleet.run())
            log_tail = url.log()[-2000:]
    rps = fleet.requests / elapsed
    print(f"{'run':10} {'devices':>8} {'requests':>9} {'req/s':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, f, n in (("baseline", base, 20), ("fleet", fleet, args.devices)):
        print(f"{name:10} {n:>8} {f.requests:>9} {'':>7} {len(f.errors):>7} {_pct(f.lat, 0.5):>8.1f} "
              f"{_pct(f.lat, 0.99):>8.1f} {max(f.lat) * 1000 if f.lat else 0:>8.1f}")
    print(f"fleet: {rps:.0f} requests/s over {elapsed:.0f} s "
          f"({'SQLite' if args.sqlite else 'PostgreSQL'}, interval {args.interval:g} s)")
    if fleet.errors:
        print("first errors:", fleet.errors[:5])
        print(log_tail)
    result = {"bench": "fleet" if not args.sqlite else "fleet_sqlite",
              "what": f"{args.devices} devices, heartbeat + small batch every {args.interval:g} s, one server "
                      f"process on {'SQLite' if args.sqlite else 'PostgreSQL'}",
              "devices": args.devices, "interval_s": args.interval, "duration_s": round(elapsed, 1),
              "requests": fleet.requests, "requests_per_s": round(rps, 1), "errors": len(fleet.errors),
              "target_errors": 0,
              "median_ms": round(_pct(fleet.lat, 0.5), 2), "p99_ms": round(_pct(fleet.lat, 0.99), 2),
              "baseline_median_ms": round(_pct(base.lat, 0.5), 2), "baseline_p99_ms": round(_pct(base.lat, 0.99), 2),
              "ratio": round(_pct(fleet.lat, 0.99) / _pct(base.lat, 0.99), 2) if base.lat else None}
    print(json.dumps(result, ensure_ascii=False))
    return 0 if not fleet.errors else 1


if __name__ == "__main__":
    sys.exit(main())
