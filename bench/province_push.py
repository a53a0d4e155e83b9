"""Provincial push throughput: records/s from the outbox to a fake platform on
127.0.0.1, beside the ingest rate of the same ratings in the same run.

A real ``kiosk server`` process (SQLite file) with ``[province]`` enabled
receives N rating events with project numbers in 500-event gzip batches (the
uploader's shape, as bench/ingest.py) while the platform is closed, so the
ingest rate (events/s, numbering and outbox included) is measured alone; then
the platform opens and the time until every record is ``sent`` gives the push
rate (one HTTP POST per record, the platform's rules checked). Repeated
``--rounds`` times on fresh databases; medians, and the ratio push / ingest.

    python bench/province_push.py                 # 2,000 records, 3 rounds
    python bench/province_push.py --events 500 --rounds 1
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from testkit import server as testing  # noqa: E402
from testkit.province_platform import FakePlatform  # noqa: E402

BATCH = 500


def events(n: int) -> list[dict]:
    return [testing.rating_event(5 - i % 3, project_no=f"B-{i // 4}", mono_ms=1000 + i) for i in range(n)]


def one_round(n: int) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-province-"))
    db = str(tmp / "central.db")
    token = testing.add_device(db, "bench-dev")
    admin = "bench-admin"
    testing.add_user(db, admin, "bench password 1", "admin")
    fp = FakePlatform("shandong").start()
    port = fp.port
    fp.close()  # closed while the ratings come in
    cfg = {"enabled": True, "profile": "shandong", "url": f"http://127.0.0.1:{port}/api/evaluate",
           "area_code": "370102", "poll_seconds": 0.05, "retry_seconds": 0.05, "retry_max_seconds": 0.2,
           "batch_size": 100}
    evs = events(n)
    bodies = [gzip.compress(json.dumps(testing.make_batch("bench-dev", evs[i:i + BATCH])).encode())
              for i in range(0, n, BATCH)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    with testing.running_server(db, province=cfg) as url, requests.Session() as s:
        t0 = time.perf_counter()
        for body in bodies:
            r = s.post(url + "/api/v1/batches", data=body, headers=headers, timeout=120)
            r.raise_for_status()
        ingest_s = time.perf_counter() - t0
        tok = s.post(url + "/api/v1/login", json={"username": admin, "password": "bench password 1"},
                     timeout=10).json()["token"]
        fp.port = port
        fp.start()
        t1 = time.perf_counter()
        while True:
            c = s.get(url + "/api/v1/province", headers={"Authorization": f"Bearer {tok}"},
                      params={"limit": 1}, timeout=10).json()["counts"]
            if c["sent"] >= n:
                break
            time.sleep(0.02)
        push_s = time.perf_counter() - t1
    fp.close()
    assert len(fp.receipts) == n and set(fp.receipts.values()) == {1} and not fp.already
    return n / ingest_s, n / push_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    got = [one_round(args.events) for _ in range(args.rounds)]
    ingest = statistics.median(g[0] for g in got)
    push = statistics.median(g[1] for g in got)
    print(f"{'round':>5} {'ingest ev/s':>12} {'push rec/s':>11}")
    for i, (a, b) in enumerate(got, 1):
        print(f"{i:>5} {a:>12.0f} {b:>11.0f}")
    print(f"{'med':>5} {ingest:>12.0f} {push:>11.0f}   push / ingest = {push / ingest:.3f}")
    print(json.dumps({"bench": "province_push",
                      "what": "records/s pushed to a fake platform on 127.0.0.1 (one POST each) vs ingest events/s",
                      "records_per_s": round(push), "baseline_ingest_events_per_s": round(ingest),
                      "ratio": round(push / ingest, 3), "events": args.events, "rounds": args.rounds,
                      "db": "sqlite"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
