"""The CI version of the hall day: a few windows, about a minute, every fault, zero differences."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_hall_day_has_no_differences():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "hall_day.py"), "--short", "--self-check"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert result["differences"] == 0
    assert result["self_check_differences"] >= 2  # the comparison does catch a lost or altered rating
    assert result["acknowledged"] > 20 and result["unrated"] > 0 and result["misuse"] > 0
    faults = result["faults"]
    assert faults >= 8, proc.stdout
    assert result["clock_repair_max_error_s"] is not None and result["clock_repair_max_error_s"] < 5
