"""The end of the day: a readable table, then the JSON line the bench runner keeps."""

from __future__ import annotations

import collections
import json
import statistics

from .hall import Hall


def report(hall: Hall, diffs: list[str], drain_seconds, final_drain, disk_ok, db_url) -> int:
    presses = hall.presses
    answers = collections.Counter(p.answer for p in presses)
    lat = sorted(hall.latencies) or [0.0]
    unrated = sum(w.unrated_expected for w in hall.windows)
    print()
    print(f"{'windows':<34}{len(hall.windows)}")
    print(f"{'presses':<34}{len(presses)}  {dict(answers)}")
    print(f"{'ratings on the server':<34}{getattr(hall, 'server_ratings', 0)}")
    print(f"{'unrated prompts':<34}{unrated}")
    print(f"{'faults injected':<34}{len(hall.faults)}: {', '.join(f['fault'] for f in hall.faults)}")
    print(f"{'backlog drain after the cut (s)':<34}{drain_seconds}")
    print(f"{'final drain (s)':<34}{final_drain}")
    print(f"{'server latency median / max (ms)':<34}{statistics.median(lat):.1f} / {lat[-1]:.1f}")
    print(f"{'wrong clock, worst repaired err (s)':<34}{getattr(hall, 'clock_error_max', None)}")
    print(f"{'differences':<34}{len(diffs)}")
    for d in diffs[:50]:
        print("  DIFF", d)
    result = {
        "bench": "hall_day" if not hall.args.short else "hall_day_short",
        "what": "a compressed hall day under faults: truth vs server",
        "db": "postgresql" if db_url.startswith("postgresql") else "sqlite",
        "devices": len(hall.windows),
        "minutes": hall.args.minutes,
        "presses": len(presses),
        "acknowledged": answers.get("ack", 0),
        "misuse": answers.get("cooldown", 0),
        "unrated": unrated,
        "faults": len(hall.faults),
        "disk_full_fault": disk_ok,
        "differences": len(diffs),
        "target_differences": 0,
        "peak_server_latency_ms": round(lat[-1], 1),
        "median_server_latency_ms": round(statistics.median(lat), 1),
        "drain_after_cut_s": drain_seconds,
        "final_drain_s": final_drain,
        "clock_repair_max_error_s": getattr(hall, "clock_error_max", None),
    }
    if hasattr(hall, "self_check"):
        result["self_check_differences"] = hall.self_check
        if hall.self_check < 2:
            print("  SELF-CHECK FAILED: forged errors were not all detected")
            diffs = diffs + ["self-check"]
    print(json.dumps(result, ensure_ascii=False))
    return 1 if diffs else 0
