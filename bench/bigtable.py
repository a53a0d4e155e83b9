"""Big tables on PostgreSQL: ingest and the dashboard at 1 million and at 20 million ratings.

One durable throwaway PostgreSQL cluster, one database that grows: it is
bulk-filled (generate_series, not HTTP) with ratings and their ``events`` rows
spread over 347 days, 40 windows, 8 sections, 120 staff (the shape of
bench/stats.py), the daily and monthly rollups are rebuilt from them, then a
real ``kiosk server`` is measured at that size:

- ingest: batches of 100 new ratings (random uuid4 ids, so every insert probes
  the big ``events`` and ``ratings`` primary keys) POSTed by 4 uploaders;
  events per second, the median of 3 rounds;
- baseline: the same rows INSERTed straight into ``events`` and ``ratings`` with
  psycopg (executemany, one transaction per 100), same size, same run;
- GET /api/v1/stats (this month), /board and /overview: p50 / p95 over 30 requests.

Then the database is filled up to the next size and measured again. The
target: ingest at 20M within 20 % of its rate at 1M, and the pages under
100 ms p95 at 20M. The last stdout line is the JSON result.

    python bench/bigtable.py                         # 1M then 20M (the 20M fill takes minutes)
    python bench/bigtable.py --sizes 1000000,5000000 # quicker
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from _common import pct  # noqa: E402
from stats import MONTHLY_FILL, PG_FILL, ROLLUP_FILL, SECONDS_PER_RATING_YEAR, SECTIONS_FILL, SLOT_PG, SLOTS_FILL, SLOTS_HALL_FILL  # noqa: E402

from central import db  # noqa: E402
from testkit.pg import new_pg_database, postgres_cluster  # noqa: E402
from testkit.server import add_device, add_user, make_batch, rating_event, running_server  # noqa: E402

PASSWORD = "bench password 1"
BATCH = 100
UPLOADERS = 4
BATCHES_PER_ROUND = 40
ROUNDS = 3
PAGE_REPS = 30

EVENTS_FILL = """
INSERT INTO events (event_id, device_id, type, payload_hash, created_at, received_at, clock_synced, boot_id, mono_ms)
SELECT event_id, device_id, 'rating', md5(event_id), rated_at, rated_at, true, 'boot-1', 1000
FROM ratings WHERE event_id >= %s AND event_id < %s AND length(event_id) = 11
"""


def fill(url: str, start: int, stop: int) -> float:
    """Ratings ``start``..``stop``-1 (ids b0000000000…) and their events, then the rollups
    (daily, monthly, per section, the heat map's half hours) anew."""
    import psycopg

    t0 = time.perf_counter()
    step = SECONDS_PER_RATING_YEAR * 1000 // (stop - start)  # each fill spreads over the whole year
    sql = (PG_FILL.replace("x * %(step)s", f"(x - {start}) * {step}")
           .replace("generate_series(0::bigint, %(n)s - 1)", f"generate_series({start}::bigint, {stop - 1})"))
    assert "%(" not in sql
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(sql)
        conn.execute(EVENTS_FILL, (f"b{start:010d}", f"b{stop:010d}"))
        conn.execute("TRUNCATE rollup_daily, rollup_monthly, rollup_sections, rollup_slots, rollup_slots_hall")
        conn.execute(ROLLUP_FILL)
        conn.execute(MONTHLY_FILL.format(month="date_trunc('month', day)::date"))
        conn.execute(SECTIONS_FILL)
        conn.execute(SLOTS_FILL.format(slot=SLOT_PG))
        conn.execute(SLOTS_HALL_FILL)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def ingest_rate(server: str, tokens: dict[str, str]) -> float:
    """Events per second accepted over HTTP by ``UPLOADERS`` devices at once."""
    bodies = {d: [make_batch(d, [rating_event(5 - i % 5) for i in range(BATCH)])
                  for _ in range(BATCHES_PER_ROUND // UPLOADERS)] for d in tokens}
    errors: list[str] = []

    def run(device: str) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {tokens[device]}"
        for body in bodies[device]:
            r = s.post(server + "/api/v1/batches", json=body, timeout=60)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:100]}")

    threads = [threading.Thread(target=run, args=(d,)) for d in tokens]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"ingest failed: {errors[:3]}")
    return BATCHES_PER_ROUND * BATCH / took


def raw_rate(url: str) -> float:
    """Events per second for the same rows INSERTed straight with psycopg, 100 per transaction."""
    import psycopg

    raw = url.replace("postgresql+psycopg://", "postgresql://")
    n = BATCHES_PER_ROUND * BATCH
    with psycopg.connect(raw) as conn:
        t0 = time.perf_counter()
        for _ in range(BATCHES_PER_ROUND):
            ids = [str(uuid.uuid4()) for _ in range(BATCH)]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events (event_id, device_id, type, payload_hash, created_at, received_at,"
                    " clock_synced, boot_id, mono_ms) VALUES (%s, 'raw', 'rating', md5(%s), now(), now(), true,"
                    " 'boot-1', 1000)", [(i, i) for i in ids])
                cur.executemany(
                    "INSERT INTO ratings (event_id, device_id, satisfaction, misuse, source, channel, window_no,"
                    " section, staff_no, staff_name, rated_at, day) VALUES (%s, 'raw', 5, false, 'touch', 4,"
                    " '1', '区1', 'A001', '', now(), current_date)", [(i,) for i in ids])
            conn.commit()
        return n / (time.perf_counter() - t0)


def page_times(server: str) -> dict[str, dict[str, float]]:
    s = requests.Session()
    r = s.post(server + "/api/v1/login", json={"username": "bench", "password": PASSWORD}, timeout=20)
    r.raise_for_status()
    out = {}
    for name, path in (("stats", "/api/v1/stats"), ("board", "/board"), ("overview", "/overview")):
        ms = []
        for _ in range(PAGE_REPS):
            t0 = time.perf_counter()
            got = s.get(server + path, timeout=60)
            ms.append((time.perf_counter() - t0) * 1000)
            if got.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {got.status_code}")
        out[name] = {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(pct(ms, 95), 1)}
    return out


def measure(url: str, server: str, tokens: dict[str, str], rows: int, fill_s: float) -> dict:
    http = [ingest_rate(server, tokens) for _ in range(ROUNDS)]
    raw = [raw_rate(url) for _ in range(ROUNDS)]
    with db.engine_for(url).connect() as conn:
        size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
    res = {"rows": rows, "fill_s": round(fill_s, 1), "db_gb": round(size / 1e9, 2),
           "ingest_eps": round(statistics.median(http)), "raw_eps": round(statistics.median(raw)),
           "pages": page_times(server)}
    res["ingest_vs_raw"] = round(res["ingest_eps"] / res["raw_eps"], 3)
    p = res["pages"]
    print(f"{rows:>12,} rows  fill {fill_s:6.0f} s  {res['db_gb']:5.2f} GB  ingest {res['ingest_eps']:>7,}/s  "
          f"raw {res['raw_eps']:>7,}/s  stats p95 {p['stats']['p95_ms']:6.1f}  board p95 {p['board']['p95_ms']:6.1f}"
          f"  overview p95 {p['overview']['p95_ms']:6.1f} ms", flush=True)
    return res


def summary(results: list[dict]) -> dict:
    """The final JSON object from the per-size measurements (smallest first)."""
    first, last = results[0], results[-1]
    result: dict = {"bench": "bigtable",
                    "ingest_ratio_last_vs_first": round(last["ingest_eps"] / first["ingest_eps"], 3),
                    "baseline": "a raw psycopg INSERT of the same rows at each size, in the same run",
                    "baseline_raw_ratio_last_vs_first": round(last["raw_eps"] / first["raw_eps"], 3),
                    "target_ingest_ratio": ">= 0.8", "target_pages_p95_ms": "< 100"}
    for r in results:
        tag = f"{r['rows'] // 1_000_000}M" if r["rows"] >= 1_000_000 else str(r["rows"])
        result[f"ingest_eps_{tag}"] = r["ingest_eps"]
        result[f"raw_eps_{tag}"] = r["raw_eps"]
        for page, t in r["pages"].items():
            result[f"{page}_p95_ms_{tag}"] = t["p95_ms"]
    result["sizes"] = results
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,20000000", help="ratings at each measurement, ascending")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    with postgres_cluster(durable=True) as base:
        url = new_pg_database(base, prefix="big_")
        db.upgrade(url)
        add_user(url, "bench", PASSWORD, "admin")
        tokens = {f"big-{i}": add_device(url, f"big-{i}") for i in range(UPLOADERS)}
        have = 0
        with running_server(url, log_level="warning") as server:
            for n in sizes:
                fill_s = fill(url, have, n)
                have = n
                results.append(measure(url, server, tokens, n, fill_s))
    result = summary(results)
    first, last = results[0], results[-1]
    print(f"ingest at {last['rows']:,} / at {first['rows']:,}: {result['ingest_ratio_last_vs_first']:.2f} "
          f"(raw INSERT: {result['baseline_raw_ratio_last_vs_first']:.2f})")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
