"""Ingest throughput: events/s through POST /api/v1/batches beside a raw bulk insert.

For each backend (a SQLite file; a throwaway, durable PostgreSQL 15 cluster)
a real ``kiosk server`` process receives N rating events in 500-event gzip
batches over loopback from one client (the uploader's shape); after each
batch the same 500 rows (fresh ids) are bulk-inserted into the same
database's ``events`` and ``ratings`` tables with the bare DB driver
(sqlite3 / psycopg executemany, one transaction). Alternating the two keeps
them under the same machine load. The ratio is API events/s over raw
events/s (target >= 0.3). The API also validates every event, checks
duplicates, opens cases and updates the daily rollup; the raw insert does not.

Event ids: random UUID version 4 by default, the condition the ratio target
was set under. ``--v7-ids`` sends the kiosk's own time-ordered ids (UUID
version 7): both sides get faster, the raw insert (bound by index pages)
much more than the API (bound by Python), so that ratio is lower; the
figures of both are in docs/benchmarks.md.

    python bench/ingest.py                  # 20,000 events per backend
    python bench/ingest.py --events 5000 --backends sqlite
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from testkit import server as testing  # noqa: E402

BATCH = 500


def make_events(n: int, seed: int = 7, v7_ids: bool = False) -> list[dict]:
    from kiosk.events import event_id

    rng = random.Random(seed)
    base = datetime(2026, 11, 1, 1, 0, 0)
    out = []
    for i in range(n):
        level = rng.choices([5, 4, 3, 2, 1], weights=[60, 25, 10, 3, 2])[0]
        at = base + timedelta(seconds=i * 3)
        v4 = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append(testing.rating_event(
            level, id=event_id(at.timestamp()) if v7_ids else v4,
            created_at=testing.rfc3339_ms(base + timedelta(seconds=i * 3)), mono_ms=1000 + i,
            window_no=str(1 + i % 40), section=f"区{i % 8}", staff_no=f"A{i % 120:03d}",
            staff_name="张三", misuse=(i % 97 == 0)))
    return out


def _rows(evs: list[dict]):
    now = datetime.utcnow()
    ev_rows, rt_rows = [], []
    for e in evs:
        rid = e["id"].replace("-", "")[:31] + "r"
        created = datetime.fromisoformat(e["created_at"][:-1])
        ev_rows.append((rid, "bench-dev", "rating", "0" * 64, created, now, None, True, "boot-1", e["mono_ms"]))
        rt_rows.append((rid, "bench-dev", e["satisfaction"], e["misuse"], e["source"], e["channel"], e["window_no"],
                        e["section"], e["staff_no"], e["staff_name"], None, None, None, created,
                        (created + timedelta(hours=8)).date()))
    return ev_rows, rt_rows


class RawInserter:
    """The same rows into events + ratings with the bare driver, one transaction per batch."""

    EV = ("INSERT INTO events (event_id, device_id, type, payload_hash, created_at, received_at, repaired_at,"
          " clock_synced, boot_id, mono_ms) VALUES ({})")
    RT = ("INSERT INTO ratings (event_id, device_id, satisfaction, misuse, source, channel, window_no, section,"
          " staff_no, staff_name, project_no, ticket_no, prompt_id, rated_at, day) VALUES ({})")

    def __init__(self, db_url: str):
        self.pg = db_url.startswith("postgresql")
        if self.pg:
            import psycopg
            self.conn = psycopg.connect(db_url)
            ph = "%s"
        else:
            import sqlite3
            self.conn = sqlite3.connect(db_url, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            ph = "?"
        self.ev_stmt = self.EV.format(", ".join([ph] * 10))
        self.rt_stmt = self.RT.format(", ".join([ph] * 15))

    def insert(self, evs: list[dict]) -> float:
        ev_rows, rt_rows = _rows(evs)
        if not self.pg:
            ev_rows = [tuple(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in r) for r in ev_rows]
            rt_rows = [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in r) for r in rt_rows]
        t0 = time.perf_counter()
        if self.pg:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(self.ev_stmt, ev_rows)
                cur.executemany(self.rt_stmt, rt_rows)
        else:
            self.conn.execute("BEGIN")
            self.conn.executemany(self.ev_stmt, ev_rows)
            self.conn.executemany(self.rt_stmt, rt_rows)
            self.conn.execute("COMMIT")
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


def run_backend(name: str, db_url: str, evs: list[dict]) -> dict:
    """API batch i, then the raw insert of the same rows, alternately, so both
    see the same machine load."""
    token = testing.add_device(db_url, "bench-dev", window="1", section="区0")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    chunks = [evs[i:i + BATCH] for i in range(0, len(evs), BATCH)]
    bodies = [gzip.compress(json.dumps(testing.make_batch("bench-dev", c, sent_mono_ms=10_000_000),
                                       separators=(",", ":")).encode(), 6, mtime=0) for c in chunks]
    lat, raw = [], []
    with testing.running_server(db_url, log_level="warning") as url:
        s = requests.Session()
        raw_db = RawInserter(db_url)
        for chunk, body in zip(chunks, bodies, strict=True):
            t = time.perf_counter()
            r = s.post(url + "/api/v1/batches", data=body, headers=headers, timeout=120)
            lat.append(time.perf_counter() - t)
            r.raise_for_status()
            assert all(x["status"] == "accepted" for x in r.json()["results"])
            raw.append(raw_db.insert(chunk))
        raw_db.close()
    n = len(evs)
    api_s, raw_s = sum(lat), sum(raw)
    lat_ms = sorted(x * 1000 for x in lat)
    return {"events": n, "api_s": api_s, "api_eps": n / api_s, "raw_s": raw_s, "raw_eps": n / raw_s,
            "ratio": raw_s / api_s, "batch_median_ms": statistics.median(lat_ms),
            "batch_p99_ms": lat_ms[max(0, int(len(lat_ms) * 0.99) - 1)],
            "raw_batch_median_ms": statistics.median(raw) * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--backends", default="sqlite,pg")
    ap.add_argument("--v7-ids", action="store_true", help="the kiosk's time-ordered ids instead of random ones")
    args = ap.parse_args()
    evs = make_events(args.events, v7_ids=args.v7_ids)
    out: dict[str, dict] = {}
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                out["sqlite"] = run_backend("sqlite", str(Path(tmp) / "central.db"), evs)
        elif backend == "pg":
            ok, reason = testing.pg_available()
            if not ok:
                print(f"PostgreSQL skipped: {reason}")
                continue
            with testing.postgres_cluster(durable=True) as url:
                out["pg"] = run_backend("pg", url, evs)
    print(f"{'backend':8} {'events':>8} {'API ev/s':>10} {'raw ev/s':>10} {'ratio':>6} "
          f"{'batch p50 ms':>13} {'batch p99 ms':>13}")
    for name, r in out.items():
        print(f"{name:8} {r['events']:>8} {r['api_eps']:>10.0f} {r['raw_eps']:>10.0f} {r['ratio']:>6.2f} "
              f"{r['batch_median_ms']:>13.1f} {r['batch_p99_ms']:>13.1f}")
    first = out.get("sqlite") or next(iter(out.values()))
    result = {"bench": "ingest",
              "what": "events/s via POST /api/v1/batches (500-event gzip batches, loopback) vs raw bulk insert",
              "events_per_s": round(first["api_eps"]),
              "baseline_events_per_s": round(first["raw_eps"]),
              "ratio": round(min(r["ratio"] for r in out.values()), 3),
              "target_ratio": 0.3,
              "median_ms": round(first["batch_median_ms"], 2)}
    for name, r in out.items():
        result[f"{name}_api_events_per_s"] = round(r["api_eps"])
        result[f"{name}_raw_events_per_s"] = round(r["raw_eps"])
        result[f"{name}_ratio"] = round(r["ratio"], 3)
        result[f"{name}_batch_median_ms"] = round(r["batch_median_ms"], 2)
        result[f"{name}_batch_p99_ms"] = round(r["batch_p99_ms"], 2)
    result["events"] = args.events
    result["event_ids"] = "uuid7" if args.v7_ids else "uuid4"
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
