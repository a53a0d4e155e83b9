"""Web page times at a million ratings.

Fills a fresh SQLite file (the server's default store) with N ratings (default
1,000,000) spread over DAYS days and 40 devices in 4 sections, straight in SQL
(a recursive CTE), with their details, unrated prompts, 差评 cases and the
daily rollup built from those rows, so the server's tables are as ingest
would have left them (checked: the stats API's total equals the number of
rows inserted). Then a real ``kiosk server`` answers every page REPS times for a
logged-in supervisor; the baseline is ``GET /api/v1/stats?group_by=section``
for the overview's range (the last 30 days), in the same run.

    python bench/pages.py                    # 1,000,000 ratings
    python bench/pages.py --ratings 100000 --reps 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from stats import SECTIONS_FILL, SLOT_SQLITE, SLOTS_FILL, SLOTS_HALL_FILL  # noqa: E402

from testkit import server as testing  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SECTIONS = ("综合服务区", "不动产登记", "社保医保", "公安户政")
DEVICES = 40
PASSWORD = "bench-pages-1"


def fill(db_path: str, n: int, days: int, today: str) -> dict[str, float]:
    """Bulk-insert ``n`` ratings ending on ``today`` (local date); returns seconds per step."""
    import sqlite3

    from central import db

    db.upgrade(db_path)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    times: dict[str, float] = {}
    section = "CASE (i % 40) / 10 " + " ".join(f"WHEN {k} THEN '{s}'" for k, s in enumerate(SECTIONS)) + " END"
    # local day = today - d; local time 08:30 + up to 8 h; rated_at is naive UTC (local - 8 h)
    src = f"""
        WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1}),
        g AS (SELECT i, (i / {DEVICES}) % {days} AS d, (i * 7919) % 100 AS p FROM s)
        SELECT printf('bench-%09d', i) AS event_id, printf('bench-%02d', i % 40) AS device_id,
               CASE WHEN p < 70 THEN 5 WHEN p < 88 THEN 4 WHEN p < 95 THEN 3 WHEN p < 98 THEN 2 ELSE 1 END
                 AS satisfaction,
               (i % 97 = 0) AS misuse,
               CASE i % 50 WHEN 0 THEN 'paper' WHEN 1 THEN 'qr' ELSE 'touch' END AS source,
               4 AS channel, CAST(i % 40 AS TEXT) AS window_no,
               {section} AS section, printf('S%03d', i % 40) AS staff_no, '员工' || (i % 40) AS staff_name,
               printf('P%09d', i) AS project_no, NULL AS ticket_no, NULL AS prompt_id,
               strftime('%Y-%m-%d %H:%M:%S', date('{today}', '-' || d || ' days'),
                        '+' || (30600 + (i * 13) % 28800) || ' seconds', '-8 hours') || '.000000' AS rated_at,
               date('{today}', '-' || d || ' days') AS day
        FROM g"""
    steps = [
        ("ratings", f"INSERT INTO ratings (event_id, device_id, satisfaction, misuse, source, channel, window_no, "
                    f"section, staff_no, staff_name, project_no, ticket_no, prompt_id, rated_at, day) {src}"),
        ("rating_details", "INSERT INTO rating_details (event_id, rating_id, reasons, comment, phone, created_at) "
                           "SELECT 'd-' || event_id, event_id, CASE satisfaction WHEN 2 THEN '[\"207\", \"214\"]' "
                           "WHEN 1 THEN '[\"115\"]' ELSE '[\"517\"]' END, CASE WHEN satisfaction = 1 "
                           "THEN '办理时间太长' END, CASE WHEN satisfaction <= 2 THEN '13800138000' END, rated_at "
                           "FROM ratings WHERE satisfaction <= 2 OR rowid % 10 = 0"),
        ("unrated", "INSERT INTO unrated (event_id, device_id, prompt_id, project_no, ticket_no, staff_no, "
                    "staff_name, window_no, section, channel, at, day) SELECT 'u-' || event_id, device_id, "
                    "'p-' || event_id, NULL, NULL, staff_no, staff_name, window_no, section, 4, rated_at, day "
                    "FROM ratings WHERE rowid % 20 = 0"),
        # cases of the last 10 days are open, older ones answered (as a working hall would have them)
        ("cases", f"INSERT INTO cases (rating_id, device_id, state, satisfaction, section, window_no, staff_no, day, "
                  f"rated_at, opened_at, deadline, updated_at) SELECT event_id, device_id, CASE WHEN day > "
                  f"date('{today}', '-10 days') THEN 'open' ELSE 'fed_back' END, satisfaction, section, window_no, "
                  f"staff_no, day, rated_at, rated_at, strftime('%Y-%m-%d %H:%M:%S', rated_at, '+5 days') || "
                  f"'.000000', rated_at FROM ratings WHERE satisfaction <= 2 AND NOT misuse"),
        ("case_transitions", "INSERT INTO case_transitions (case_id, from_state, to_state, actor, at, note) "
                             "SELECT id, NULL, 'open', 'system', opened_at, '差评 received' FROM cases"),
        ("rollup_daily", "INSERT INTO rollup_daily (day, section, window_no, staff_no, level, misuse, count, "
                         "unrectified) SELECT r.day, r.section, r.window_no, r.staff_no, r.satisfaction, r.misuse, "
                         "count(*), sum(CASE WHEN c.state IN ('open', 'verified') THEN 1 ELSE 0 END) FROM ratings r "
                         "LEFT JOIN cases c ON c.rating_id = r.event_id GROUP BY r.day, r.section, r.window_no, "
                         "r.staff_no, r.satisfaction, r.misuse "
                         "UNION ALL SELECT day, section, window_no, staff_no, 0, 0, count(*), 0 FROM unrated "
                         "GROUP BY day, section, window_no, staff_no"),
        ("devices", "INSERT INTO devices (device_id, window_no, section, staff_no, created_at, last_seen_at, "
                    "last_state) SELECT DISTINCT device_id, window_no, section, staff_no, datetime('now'), "
                    "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', '{\"app_version\": \"1.0.0\", \"pending\": 0, "
                    "\"rejected\": 0, \"clock_synced\": true, \"hardware\": {\"touch\": {\"ok\": true}}}' "
                    "FROM ratings WHERE rowid <= 40"),
    ]
    has_monthly = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollup_monthly'").fetchone()
    if has_monthly:  # the monthly rollup, when the schema has one, is the daily one summed per month
        steps.append(("rollup_monthly",
                      "INSERT INTO rollup_monthly (month, section, window_no, staff_no, level, misuse, count, "
                      "unrectified) SELECT date(day, 'start of month'), section, window_no, staff_no, level, misuse, "
                      "sum(count), sum(unrectified) FROM rollup_daily GROUP BY date(day, 'start of month'), "
                      "section, window_no, staff_no, level, misuse"))
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollup_sections'").fetchone():
        steps.append(("rollup_sections", SECTIONS_FILL))  # the daily cells per section
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollup_slots'").fetchone():
        steps.append(("rollup_slots", SLOTS_FILL.format(slot=SLOT_SQLITE)))  # the heat map's half hours
        steps.append(("rollup_slots_hall", SLOTS_HALL_FILL))
    for name, sql in steps:
        t = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(sql)
        conn.execute("COMMIT")
        times[name] = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute("ANALYZE")
    times["analyze"] = time.perf_counter() - t
    conn.close()
    return times


def timed(s: requests.Session, url: str, reps: int) -> list[float]:
    s.get(url, timeout=120).raise_for_status()  # warm up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        r = s.get(url, timeout=120)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args(argv)
    today = datetime.now(UTC).astimezone(TZ).date()
    d30 = f"from={(today - timedelta(days=29)).isoformat()}&to={today.isoformat()}"
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        db_path = str(Path(tmp) / "central.db")
        t0 = time.perf_counter()
        fill_times = fill(db_path, args.ratings, args.days, today.isoformat())
        fill_s = time.perf_counter() - t0
        testing.add_user(db_path, "sup", PASSWORD, "supervisor")
        testing.add_user(db_path, "adm", PASSWORD, "admin")  # the national-interface export is for admins
        with testing.running_server(db_path) as url:
            s = requests.Session()
            s.post(url + "/api/v1/login", json={"username": "sup", "password": PASSWORD}, timeout=10).raise_for_status()
            # the rollup agrees with the raw rows
            api = s.get(url + "/api/v1/stats", params={"from": (today - timedelta(days=args.days)).isoformat(),
                                                       "to": today.isoformat(), "include_misuse": "true"},
                        timeout=60).json()
            assert api["total"]["count"] == args.ratings, (api["total"]["count"], args.ratings)
            case_id = s.get(url + "/api/v1/cases?state=open&page_size=1", timeout=60).json()["cases"][0]["id"]
            q90 = f"from={(today - timedelta(days=89)).isoformat()}&to={today.isoformat()}"
            pages = [
                ("baseline: GET /api/v1/stats?group_by=section (30 days)",
                 f"/api/v1/stats?{d30}&group_by=section"),
                ("/overview (30 days)", f"/overview?{d30}"),
                ("/overview (90 days, by staff)", f"/overview?{q90}&group_by=staff"),
                ("/overview?source=paper (30 days, from the ratings)", f"/overview?{d30}&source=paper"),
                ("GET /api/v1/stats?source=touch (30 days)", f"/api/v1/stats?{d30}&source=touch"),
                ("GET /api/v1/stats?group_by=source (30 days)", f"/api/v1/stats?{d30}&group_by=source"),
                ("/ratings (last 30 days)", "/ratings"),
                ("/ratings?source=qr (30 days)", f"/ratings?{d30}&source=qr"),
                ("/ratings (非常不满意, page 20)", "/ratings?satisfaction=1&page=20"),
                ("/cases", "/cases"),
                ("/cases?overdue=1", "/cases?overdue=1"),
                (f"/cases/{case_id}", f"/cases/{case_id}"),
                ("/devices", "/devices"),
                ("/board (month)", "/board"),
                ("/board (year)", "/board?period=year"),
                ("/export/stats.xlsx (90 days, by staff)", f"/export/stats.xlsx?{q90}&group_by=staff"),
                ("/export/national.json (1 day)", f"/export/national.json?from={today}&to={today}"),
            ]
            admin = requests.Session()
            admin.post(url + "/api/v1/login", json={"username": "adm", "password": PASSWORD},
                       timeout=10).raise_for_status()
            results = {}
            for name, path in pages:
                xs = timed(admin if path.startswith("/export/national") else s, url + path, args.reps)
                results[name] = {"median_ms": round(statistics.median(xs), 2), "p95_ms": round(p95(xs), 2)}
    print(f"ratings: {args.ratings:,} over {args.days} days; fill {fill_s:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in fill_times.items())})")
    print(f"{'page':56} {'median ms':>10} {'p95 ms':>10}")
    for name, r in results.items():
        print(f"{name:56} {r['median_ms']:>10.1f} {r['p95_ms']:>10.1f}")
    base = results[pages[0][0]]["median_ms"]
    overview = results["/overview (30 days)"]
    worst = max((r["p95_ms"], n) for n, r in results.items())
    out = {"bench": "pages",
           "what": f"GET /overview (30 days) at {args.ratings:,} ratings, SQLite, a logged-in supervisor",
           "baseline": "GET /api/v1/stats?group_by=section for the same 30 days, same server",
           "ratings": args.ratings, "days": args.days, "reps": args.reps,
           "median_ms": overview["median_ms"], "p95_ms": overview["p95_ms"], "baseline_median_ms": base,
           "ratio": round(overview["median_ms"] / base, 2) if base else None, "target_ratio": 3.0,
           "worst_page": worst[1], "worst_p95_ms": worst[0],
           "pages": {n: r for n, r in results.items()}}
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
