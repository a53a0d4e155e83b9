"""Drain: a device buffer of N pending events uploaded to a local real server.

For each backend (a SQLite file; a throwaway, durable PostgreSQL 15 cluster
when its binaries are here) a real ``kiosk server`` process on loopback gets:

1. baseline: the same N events as pre-built, pre-gzipped 500-event batches
   POSTed by bare ``requests`` sessions with as many requests on the wire as
   the uploader keeps (``--in-flight``, 2), into its own server and fresh
   database: the server's raw ingest rate, with no buffer and no uploader;
2. drain: the uploader (``sync.uploader.Uploader``) draining a real buffer
   file holding the N events as pending: read, gzip, POST, check the
   verdicts, mark them in the buffer (synchronous=FULL).

The two alternate (one uploader round of up to 20 batches, then as many
baseline batches) so both see the same machine load, other processes on the
machine included. Per-batch times are round times over the batches of the
round. The machine's load average is recorded with the figures: this is a
shared machine and the absolute rates move with it (the ratio much less).

Event ids are the kiosk's own (UUID version 7, time first). ``--v4-ids``
gives the events random version-4 ids instead, to show what time-ordered ids
are worth to the server.

Figures: events/s of both, ``ratio`` = drain events/s over raw events/s,
per-batch medians (500 events). Target: the drain runs at >= 10,000 events/s.

    python bench/drain.py                       # 100,000 events, sqlite and pg
    python bench/drain.py --events 20000 --backends sqlite
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from kiosk.buffer import Buffer  # noqa: E402
from kiosk.clock import FakeClock  # noqa: E402
from kiosk.events import Window, rating, unrated  # noqa: E402
from kiosk.levels import LEVELS  # noqa: E402
from sync.client import Client  # noqa: E402
from sync.uploader import Uploader  # noqa: E402
from testkit import server as testing  # noqa: E402

BATCH = 500
DEVICE = "bench-dev"
TARGET_EPS = 10_000


def make_events(n: int, v4_ids: bool = False) -> list[dict]:
    import uuid

    clock = FakeClock(boot_id="bench-boot")
    window = Window(window_no="A01", section="综合服务区", staff_no="1001", staff_name="张三", channel=4)
    out = []
    for i in range(n):
        clock.advance(2.0)
        if i % 20 == 19:
            out.append(unrated(clock, window, prompt_id=f"p-{i}"))
        else:
            out.append(rating(clock, LEVELS[(i * 7) % 5], "touch", window, misuse=(i % 97 == 0)))
        if v4_ids:
            out[-1]["id"] = str(uuid.uuid4())
    return out


def prebuilt_bodies(events: list[dict]) -> list[bytes]:
    """The baseline's batches, built and gzipped before any timing."""
    bodies = []
    for i in range(0, len(events), BATCH):
        body = {"schema": 1, "device_id": DEVICE, "sent_at": "2026-12-01T08:00:00.000Z",
                "boot_id": "bench-boot", "sent_mono_ms": 1_000_000, "events": events[i:i + BATCH]}
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        bodies.append(gzip.compress(raw, 5, mtime=0))
    return bodies


def run_backend(name: str, new_db, events: list[dict], tmp: Path, pipeline: int = 20, in_flight: int = 2) -> dict:
    """Two servers, two fresh databases: raw batch i to one, then uploader step
    i to the other, alternately, so both see the same machine load."""
    n = len(events)
    raw_db, drain_db = new_db("raw"), new_db("drain")
    raw_token, drain_token = testing.add_device(raw_db, DEVICE), testing.add_device(drain_db, DEVICE)
    bodies = prebuilt_bodies(events)
    buf = Buffer(tmp / "buffer.db")
    with buf.db.atomic():
        for ev in events:
            buf.append(ev)
    headers = {"Authorization": f"Bearer {raw_token}", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    raw_lat, drain_lat = [], []
    with testing.running_server(raw_db, log_level="warning", timezone="UTC") as raw_url, \
            testing.running_server(drain_db, log_level="warning", timezone="UTC") as url:
        sessions = [requests.Session() for _ in range(in_flight)]
        pool = concurrent.futures.ThreadPoolExecutor(in_flight)

        def post(k: int, body: bytes) -> None:
            r = sessions[k % in_flight].post(raw_url + "/api/v1/batches", data=body, headers=headers, timeout=120)
            r.raise_for_status()
        up = Uploader(buf, Client(url, drain_token, timeout=120), device_id=DEVICE, batch_size=BATCH,
                      clock=FakeClock(boot_id="bench-boot"), pipeline=pipeline, in_flight=in_flight)
        # One uploader round sends up to ``up.pipeline`` batches back to back;
        # the baseline posts as many between rounds.
        per_round = max(1, up.pipeline)
        for first in range(0, len(bodies), per_round):
            part = bodies[first:first + per_round]
            t = time.perf_counter()
            for f in [pool.submit(post, k, body) for k, body in enumerate(part)]:
                f.result()
            raw_lat.extend([(time.perf_counter() - t) / len(part)] * len(part))
            t = time.perf_counter()
            step = up.step()
            took = time.perf_counter() - t
            if step.kind != "ok":
                raise SystemExit(f"{name}: upload step failed: {step}")
            batches = -(-step.sent // BATCH)
            drain_lat.extend([took / batches] * batches)
        pool.shutdown()
        for s in sessions:
            s.close()
        up.close()
        counts = buf.counts()
        stats = requests.get(url + "/api/v1/stats", params={"from": "2026-11-01", "to": "2027-01-31",
                                                            "include_misuse": "true"}, timeout=60).json()
    buf.close()
    expected = sum(1 for e in events if e["type"] == "rating")
    if counts["pending"] or counts["synced"] != n or up.verdicts.get("accepted") != n:
        raise SystemExit(f"{name}: drain did not finish: {counts} {dict(up.verdicts)}")
    if stats["total"]["count"] != expected:
        raise SystemExit(f"{name}: the server does not hold the drained events: {stats['total']}")
    raw_s, drain_s = sum(raw_lat), sum(drain_lat)
    return {"events": n, "raw_s": raw_s, "raw_eps": n / raw_s, "raw_median_ms": statistics.median(raw_lat) * 1000,
            "drain_s": drain_s, "drain_eps": n / drain_s, "drain_median_ms": statistics.median(drain_lat) * 1000,
            "rate_ratio": raw_s / drain_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--backends", default="sqlite,pg")
    ap.add_argument("--pipeline", type=int, default=20,
                    help="batches per uploader round (the uploader's default; 0 = one request per round)")
    ap.add_argument("--in-flight", type=int, default=2,
                    help="requests on the wire at once, uploader and baseline (the uploader's default)")
    ap.add_argument("--v4-ids", action="store_true", help="random UUID version 4 event ids instead of the kiosk's")
    args = ap.parse_args()
    events = make_events(args.events, args.v4_ids)
    load_before = os.getloadavg()[0]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="kiosk-drain-") as tmpdir:
        tmp = Path(tmpdir)
        for backend in args.backends.split(","):
            (tmp / backend).mkdir()
            if backend == "sqlite":
                results["sqlite"] = run_backend("sqlite", lambda tag: str(tmp / f"central-{tag}.db"), events,
                                                tmp / "sqlite", args.pipeline, args.in_flight)
            elif backend == "pg":
                ok, reason = testing.pg_available()
                if not ok:
                    print(f"PostgreSQL skipped: {reason}")
                    continue
                with testing.postgres_cluster(durable=True) as base:
                    def new_db(tag: str, base=base) -> str:
                        import psycopg
                        with psycopg.connect(base, autocommit=True) as conn:
                            conn.execute(f'CREATE DATABASE "drain_{tag}"')
                        return base.rsplit("/", 1)[0] + f"/drain_{tag}"
                    results["pg"] = run_backend("pg", new_db, events, tmp / "pg", args.pipeline, args.in_flight)
    print(f"{'backend':8} {'events':>8} {'drain ev/s':>11} {'raw ev/s':>10} {'drain/raw':>10} "
          f"{'drain batch p50 ms':>19} {'raw batch p50 ms':>17}")
    for name, r in results.items():
        print(f"{name:8} {r['events']:>8} {r['drain_eps']:>11.0f} {r['raw_eps']:>10.0f} {r['rate_ratio']:>10.2f} "
              f"{r['drain_median_ms']:>19.1f} {r['raw_median_ms']:>17.1f}")
    first = results.get("sqlite") or next(iter(results.values()))
    out = {"bench": "drain",
           "what": "uploader draining N pending buffer events to a local server vs raw POSTs of pre-built batches",
           "events": args.events,
           "events_per_s": round(first["drain_eps"]),
           "baseline_events_per_s": round(first["raw_eps"]),
           "batch_median_ms": round(first["drain_median_ms"], 2),
           "baseline_batch_median_ms": round(first["raw_median_ms"], 2),
           "ratio": round(first["rate_ratio"], 3),
           "target_events_per_s": TARGET_EPS,
           "in_flight": args.in_flight,
           "event_ids": "uuid4" if args.v4_ids else "uuid7",
           "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    for name, r in results.items():
        out[f"{name}_events_per_s"] = round(r["drain_eps"])
        out[f"{name}_baseline_events_per_s"] = round(r["raw_eps"])
        out[f"{name}_ratio"] = round(r["rate_ratio"], 3)
        out[f"{name}_batch_median_ms"] = round(r["drain_median_ms"], 2)
        out[f"{name}_baseline_batch_median_ms"] = round(r["raw_median_ms"], 2)
    out["target_met"] = all(r["drain_eps"] >= TARGET_EPS for r in results.values())
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
