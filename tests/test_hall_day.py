"""The CI version of the hall day (bench/hall_day/): a few windows, about a minute, every fault, zero differences."""

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


def test_the_package_and_the_script_are_the_same_bench():
    """``python -m bench.hall_day`` and ``python bench/hall_day.py`` run the one package."""
    via_module = subprocess.run([sys.executable, "-m", "bench.hall_day", "--help"], capture_output=True, text=True,
                                timeout=60, cwd=ROOT)
    via_script = subprocess.run([sys.executable, str(ROOT / "bench" / "hall_day.py"), "--help"], capture_output=True,
                                text=True, timeout=60, cwd=ROOT)
    assert via_module.returncode == 0 and via_script.returncode == 0, via_module.stderr + via_script.stderr
    assert "--self-check" in via_module.stdout
    def after_usage(text: str) -> str:
        return text[text.index("\n\n"):]  # the usage line names the program differently

    assert after_usage(via_module.stdout) == after_usage(via_script.stdout)
    modules = {p.stem for p in (ROOT / "bench" / "hall_day").glob("*.py")}
    assert {"faults", "panel", "window", "citizens", "oracle", "report"} <= modules
