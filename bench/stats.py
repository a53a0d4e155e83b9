"""Statistics at 10 million ratings: GET /api/v1/stats beside a naive GROUP BY.

Builds a database with N ratings (default 10,000,000) spread over 347 days,
40 windows in 8 sections, 120 staff, the national level mix and 1 % misuse,
with fast bulk SQL (a SQLite recursive CTE; PostgreSQL generate_series with
--pg), then fills the daily and monthly rollups from it with GROUP BYs (what
ingest keeps up to date batch by batch). No cases are created (every bad rating counts as
unrectified in the rollup); events rows are not generated (stats never reads
them).

Then a real ``kiosk server`` answers typical dashboard queries over HTTP
(month total, month by window, year by section, day by staff, month of one
section by day), each several times, and the same ranges are counted with a
naive GROUP BY over the raw ratings table in the same run. Target: stats p95
< 100 ms.

    python bench/stats.py                     # 10M ratings on SQLite (several minutes to build)
    python bench/stats.py --rows 1000000      # quicker
    python bench/stats.py --pg                # on a throwaway PostgreSQL cluster
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from central import db  # noqa: E402
from central.stats import naive_query  # noqa: E402
from testkit import server as testing  # noqa: E402

SECONDS_PER_RATING_YEAR = 347 * 86400

_H = "(((x * 2654435761) >> 7) % 100)"  # a level draw independent of window and staff
_LEVEL = (f"CASE WHEN {_H} < 60 THEN 5 WHEN {_H} < 85 THEN 4 WHEN {_H} < 95 THEN 3 WHEN {_H} < 98 THEN 2 "
          "ELSE 1 END")
_MISUSE = "((((x * 40503) >> 5) % 100) = 7)"

SQLITE_FILL = f"""
INSERT INTO ratings (event_id, device_id, satisfaction, misuse, source, channel, window_no, section,
                     staff_no, staff_name, project_no, ticket_no, prompt_id, rated_at, day)
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < :n - 1),
     t(x, ts) AS (SELECT x, datetime('2026-01-01', '+' || (x * :step / 1000) || ' seconds') FROM c)
SELECT printf('b%010d', x), 'dev-' || (x % 40), {_LEVEL}, {_MISUSE}, 'touch', 4,
       CAST(x % 40 + 1 AS TEXT), '区' || (x % 8), printf('A%03d', x % 120), '', NULL, NULL, NULL,
       ts || '.000000', date(ts, '+8 hours')
FROM t
"""

PG_FILL = f"""
INSERT INTO ratings (event_id, device_id, satisfaction, misuse, source, channel, window_no, section,
                     staff_no, staff_name, project_no, ticket_no, prompt_id, rated_at, day)
SELECT 'b' || lpad(x::text, 10, '0'), 'dev-' || (x % 40), {_LEVEL}, {_MISUSE}, 'touch', 4,
       (x % 40 + 1)::text, '区' || (x % 8), 'A' || lpad((x % 120)::text, 3, '0'), '', NULL, NULL, NULL,
       ts, (ts + interval '8 hours')::date
FROM (SELECT x, timestamp '2026-01-01' + (x * %(step)s / 1000) * interval '1 second' AS ts
      FROM generate_series(0::bigint, %(n)s - 1) AS x) AS g
"""

ROLLUP_FILL = """
INSERT INTO rollup_daily (day, section, window_no, staff_no, level, misuse, count, unrectified)
SELECT day, section, window_no, staff_no, satisfaction, misuse, count(*),
       CASE WHEN satisfaction <= 2 AND NOT misuse THEN count(*) ELSE 0 END
FROM ratings GROUP BY day, section, window_no, staff_no, satisfaction, misuse
"""

MONTHLY_FILL = """
INSERT INTO rollup_monthly (month, section, window_no, staff_no, level, misuse, count, unrectified)
SELECT {month}, section, window_no, staff_no, level, misuse, sum(count), sum(unrectified)
FROM rollup_daily GROUP BY {month}, section, window_no, staff_no, level, misuse
"""

#: ``rollup_sections`` (the daily cells per section) from the daily rollup, as migration rs01 fills it
SECTIONS_FILL = """
INSERT INTO rollup_sections (day, section, level, misuse, count, unrectified, rectified, phoned, reached)
SELECT day, section, level, misuse, sum(count), sum(unrectified), sum(rectified), sum(phoned), sum(reached)
FROM rollup_daily GROUP BY day, section, level, misuse
"""

#: ``rollup_slots`` (the heat map's half hours) from the ratings, as migration hs01 fills it;
#: ``{slot}`` is the rating's UTC half hour in the database's dialect
SLOTS_FILL = """
INSERT INTO rollup_slots (day, slot, section, window_no, staff_no, misuse, count)
SELECT day, {slot}, section, window_no, staff_no, misuse, count(*)
FROM ratings GROUP BY day, {slot}, section, window_no, staff_no, misuse
"""
SLOTS_HALL_FILL = """
INSERT INTO rollup_slots_hall (day, slot, misuse, count)
SELECT day, slot, misuse, sum(count) FROM rollup_slots GROUP BY day, slot, misuse
"""
SLOT_SQLITE = ("substr(rated_at, 1, 14) || CASE WHEN substr(rated_at, 15, 2) < '30' THEN '00' ELSE '30' END "
               "|| ':00.000000'")
SLOT_PG = ("date_trunc('hour', rated_at) + CASE WHEN extract(minute FROM rated_at) >= 30 "
           "THEN interval '30 minutes' ELSE interval '0 minutes' END")

QUERIES = [
    ("month total", {"from": "2026-06-01", "to": "2026-06-30"}, None),
    ("month by window", {"from": "2026-06-01", "to": "2026-06-30", "group_by": "window"}, "window"),
    ("year by section", {"from": "2026-01-01", "to": "2026-12-31", "group_by": "section"}, "section"),
    ("day by staff", {"from": "2026-06-15", "to": "2026-06-15", "group_by": "staff"}, "staff"),
    ("month of a section by day", {"from": "2026-06-01", "to": "2026-06-30", "section": "区3",
                                   "group_by": "day"}, "day"),
]


def build(url: str, n: int) -> tuple[float, int]:
    db.upgrade(url)
    engine = db.engine_for(url)
    step = SECONDS_PER_RATING_YEAR * 1000 // n
    t0 = time.perf_counter()
    if db.is_sqlite(engine):
        import sqlite3
        raw = sqlite3.connect(db.normalize_url(url).split(":///", 1)[1], isolation_level=None)
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("BEGIN")
        raw.execute(SQLITE_FILL.replace(":n", str(n)).replace(":step", str(step)))
        raw.execute(ROLLUP_FILL.replace("NOT misuse", "misuse = 0"))
        raw.execute(MONTHLY_FILL.format(month="date(day, 'start of month')"))
        raw.execute(SECTIONS_FILL)
        raw.execute(SLOTS_FILL.format(slot=SLOT_SQLITE))
        raw.execute(SLOTS_HALL_FILL)
        raw.execute("COMMIT")
        raw.execute("ANALYZE")
        raw.close()
    with engine.connect() as conn:
        if not db.is_sqlite(engine):
            conn.exec_driver_sql(PG_FILL.replace("%(step)s", str(step)).replace("%(n)s", str(n))
                                 .replace("%", "%%"))
            conn.exec_driver_sql(ROLLUP_FILL)
            conn.exec_driver_sql(MONTHLY_FILL.format(month="date_trunc('month', day)::date"))
            conn.exec_driver_sql(SECTIONS_FILL)
            conn.exec_driver_sql(SLOTS_FILL.format(slot=SLOT_PG))
            conn.exec_driver_sql(SLOTS_HALL_FILL)
            conn.commit()
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        cells = conn.exec_driver_sql("SELECT count(*) FROM rollup_daily").scalar_one()
    return time.perf_counter() - t0, cells


def measure(url: str, db_url: str, reps: int, naive_reps: int) -> dict:
    s = requests.Session()
    api_ms: list[float] = []
    naive_ms: list[float] = []
    rows = []
    engine = db.engine_for(db_url)
    for name, params, group in QUERIES:
        s.get(url + "/api/v1/stats", params=params, timeout=60).raise_for_status()  # warm
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            r = s.get(url + "/api/v1/stats", params=params, timeout=60)
            times.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
        total = r.json()["total"]
        ntimes = []
        for _ in range(naive_reps):
            t = time.perf_counter()
            with engine.connect() as conn:
                naive = naive_query(conn, date.fromisoformat(params["from"]), date.fromisoformat(params["to"]),
                                    group_by=group) if "section" not in params else None
                if naive is None:  # the naive query has no section filter: count that section by hand
                    naive = conn.exec_driver_sql(
                        "SELECT count(*) FROM ratings WHERE day >= ? AND day <= ? AND section = ? GROUP BY day"
                        if db.is_sqlite(engine) else
                        "SELECT count(*) FROM ratings WHERE day >= %s AND day <= %s AND section = %s GROUP BY day",
                        (params["from"], params["to"], params["section"])).all()
            ntimes.append((time.perf_counter() - t) * 1000)
        if isinstance(naive, dict):
            assert naive["count"] == total["count"], (name, naive["count"], total["count"])
        api_ms += times
        naive_ms += ntimes
        rows.append((name, total["count"], statistics.median(times), max(times), statistics.median(ntimes)))
    print(f"{'query':28} {'ratings':>10} {'stats p50 ms':>13} {'stats max ms':>13} {'naive ms':>10}")
    for name, count, p50, mx, nv in rows:
        print(f"{name:28} {count:>10,} {p50:>13.1f} {mx:>13.1f} {nv:>10.0f}")
    api_ms.sort()
    return {"median_ms": statistics.median(api_ms), "p95_ms": api_ms[int(len(api_ms) * 0.95) - 1],
            "max_ms": api_ms[-1], "baseline_median_ms": statistics.median(naive_ms)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--naive-reps", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = testing.postgres_cluster(durable=False) if args.pg else None
        db_url = ctx.__enter__() if ctx else str(Path(tmp) / "stats.db")
        try:
            build_s, cells = build(db_url, args.rows)
            print(f"built {args.rows:,} ratings and {cells:,} rollup cells in {build_s:.0f} s "
                  f"({'PostgreSQL' if args.pg else 'SQLite'})")
            with testing.running_server(db_url, log_level="warning") as url:
                m = measure(url, db_url, args.reps, args.naive_reps)
        finally:
            if ctx:
                ctx.__exit__(None, None, None)
    result = {"bench": "stats" if not args.pg else "stats_pg",
              "what": f"GET /api/v1/stats at {args.rows:,} ratings ({'PostgreSQL' if args.pg else 'SQLite'}) "
                      "vs naive GROUP BY over the ratings table",
              "rows": args.rows, "rollup_cells": cells, "build_s": round(build_s, 1),
              "median_ms": round(m["median_ms"], 2), "p95_ms": round(m["p95_ms"], 2), "max_ms": round(m["max_ms"], 2),
              "baseline_median_ms": round(m["baseline_median_ms"], 1),
              "ratio": round(m["median_ms"] / m["baseline_median_ms"], 4), "target_p95_ms": 100}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
