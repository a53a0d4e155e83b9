"""Press → durable rating latency, through the session and the buffer.

Baseline, in the same run and on the same disk: a raw sqlite3 INSERT + COMMIT
of the same row into the same table with the same pragmas (WAL,
synchronous=FULL): what remains is the cost of the kiosk's own code.
Two paths are measured:

* inline   - the press on the session's own thread (the touch screen);
* threaded - the press handed from another thread (a GPIO/serial panel) to
  the device's worker thread and waited for.

Baseline and kiosk alternate press by press so both see the same disk weather.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import pct, raw_conn  # noqa: E402
from kiosk.config import DEVICE_SCHEMA, parse  # noqa: E402
from kiosk.device import Device  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presses", type=int, default=3000)
    ap.add_argument("--dir", default=None, help="directory on the disk to measure (default: a temp dir)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="press-latency-", dir=args.dir))
    cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": str(tmp / "dev")},
                                "ui": {"cooldown_seconds": 0}}, None)
    inline = Device(cfg)
    inline.adopt()
    cfg2 = parse(DEVICE_SCHEMA, {"device": {"data_dir": str(tmp / "dev2")},
                                 "ui": {"cooldown_seconds": 0}}, None)
    threaded = Device(cfg2)
    threaded.start()
    conn = raw_conn(tmp / "raw.db")
    sample = inline.press(0, "touch").result().event
    payload = json.dumps(sample, ensure_ascii=False)
    created = sample["created_at"]

    base, kin, kth = [], [], []
    # Interleaved press by press, so the baseline and the kiosk see the same disk and CPU weather.
    for i in range(args.presses):
        t0 = time.perf_counter()
        conn.execute("INSERT INTO events (id, type, created_at, payload, satisfaction, misuse) "
                     "VALUES (?, 'rating', ?, ?, 5, 0)", (str(uuid.uuid4()), created, payload))
        t1 = time.perf_counter()
        out = inline.press(i % 5, "touch").result()
        t2 = time.perf_counter()
        assert out.stored
        out = threaded.press(i % 5, "gpio").result()
        t3 = time.perf_counter()
        assert out.stored
        base.append((t1 - t0) * 1000)
        kin.append((t2 - t1) * 1000)
        kth.append((t3 - t2) * 1000)
    threaded.close()
    inline.close()

    rows = [("raw sqlite insert+commit (baseline)", base), ("kiosk press, inline", kin),
            ("kiosk press, from another thread", kth)]
    print(f"press latency, {len(base)} presses per path, disk {tmp}")
    print(f"{'path':<40}{'median ms':>12}{'p99 ms':>10}{'max ms':>10}")
    for name, vals in rows:
        print(f"{name:<40}{statistics.median(vals):>12.3f}{pct(vals, 99):>10.3f}{max(vals):>10.3f}")
    bm = statistics.median(base)
    result = {
        "bench": "press_latency",
        "what": "press → durable rating (session + buffer), inline",
        "median_ms": round(statistics.median(kin), 4),
        "p99_ms": round(pct(kin, 99), 4),
        "threaded_median_ms": round(statistics.median(kth), 4),
        "threaded_p99_ms": round(pct(kth, 99), 4),
        "baseline": "raw sqlite3 insert+commit of the same row, same table, WAL, synchronous=FULL",
        "baseline_median_ms": round(bm, 4),
        "baseline_p99_ms": round(pct(base, 99), 4),
        "ratio": round(statistics.median(kin) / bm, 3),
        "threaded_ratio": round(statistics.median(kth) / bm, 3),
        "target_ratio": 1.3,
        "target_p99_ms": 5.0,
        "n": len(kin),
    }
    print(f"ratio inline {result['ratio']}, threaded {result['threaded_ratio']} (target ≤ 1.3); "
          f"p99 {result['p99_ms']} ms (target ≤ 5)")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
