"""Run the benchmarks and write docs/benchmarks.md from their JSON lines.

Each script in bench/ prints, as its LAST stdout line, one JSON object with
its figures. This runner stores that line (with the date and the machine) in
bench/results/<bench>.json and regenerates docs/benchmarks.md from every
stored result, so the document is never typed by hand.

    python bench/run_all.py                 # run every benchmark, then write the report
    python bench/run_all.py press_latency   # run some, keep the others' last results
    python bench/run_all.py --report-only   # only regenerate docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "benchmarks.md"

#: bench name → extra arguments for the default run (kept short enough for one machine).
SCRIPTS = {
    "press_latency": [],
    "serial": [],
    "ingest": [],
    "stats": [],
    "fleet": [],  # capacity search, ~4 min
    "drain": [],
    "morning": ["--quick"],  # 2,000 devices; the 20,000 of a full run take ~15 min (store it with --store-log)
    "ui": [],
    "pages": [],
    "hall_day": ["--short", "--self-check"],
    "province_push": [],
    "bigtable": [],
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def store(result: dict, command: str) -> dict:
    result["date"] = dt.date.today().isoformat()
    result["machine"] = machine()
    result["command"] = command
    RESULTS.mkdir(exist_ok=True)
    name = result.get("bench", "unknown")
    if result.get("db") and name.startswith("hall_day"):
        name = f"{name}_{result['db']}"  # the full day runs once per database
    (RESULTS / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return result


def store_log(path: str, command: str) -> dict:
    """Keep the result of a run made by hand (its output saved in ``path``)."""
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip().startswith("{")]
    if not lines:
        raise SystemExit(f"{path}: no JSON result line")
    return store(json.loads(lines[-1]), command)


def run(name: str, extra: list[str]) -> dict | None:
    script = HERE / f"{name}.py"
    if not script.exists():
        print(f"-- {name}: no script yet, skipped")
        return None
    print(f"== {name}", flush=True)
    proc = subprocess.run([sys.executable, str(script), *extra], cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        print(f"-- {name}: exit {proc.returncode}")
        return None
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        print(f"-- {name}: last line is not JSON")
        return None
    return store(result, " ".join(["python", f"bench/{name}.py", *extra]))


_HEADLINE = ("capacity_devices", "drain_s", "median_ms", "events_per_s", "p95_ms", "p99_ms", "median_s", "value")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def headline(r: dict) -> str:
    for key in _HEADLINE:
        if key in r:
            return f"{key} = {_fmt(r[key])}"
    nums = [(k, v) for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k} = {_fmt(v)}" for k, v in nums[:2])


def baseline(r: dict) -> str:
    parts = []
    for key, v in r.items():
        if key.startswith("baseline") and not isinstance(v, (dict, list)):
            parts.append(f"{v}" if key == "baseline" else f"{key.removeprefix('baseline_')} = {_fmt(v)}")
    return "; ".join(parts) or "—"


#: benches measured on each database: their result and baseline keys per backend
_BACKEND_KEYS = {"drain": ("{b}_events_per_s", "{b}_baseline_events_per_s"),
                 "ingest": ("{b}_api_events_per_s", "{b}_raw_events_per_s")}
_BACKEND_NAMES = {"sqlite": "SQLite", "pg": "PostgreSQL"}


def _per_backend(r: dict) -> list[tuple]:
    """(backend, baseline, result, ratio) for each database a bench ran on."""
    keys = _BACKEND_KEYS.get(r.get("bench", ""))
    if keys is None:
        return []
    return [(label, r[keys[1].format(b=b)], r[keys[0].format(b=b)], r.get(f"{b}_ratio"))
            for b, label in _BACKEND_NAMES.items() if keys[0].format(b=b) in r and keys[1].format(b=b) in r]


def targets(r: dict) -> str:
    return ", ".join(f"{k.removeprefix('target_')} {_fmt(v)}" for k, v in r.items() if k.startswith("target")) or "—"


def report() -> None:
    results = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            results.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            continue
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python bench/run_all.py`) from the last JSON line of each script in",
        "`bench/`; do not edit by hand. Every figure is measured beside a baseline in the same run.",
        "",
        "| bench | what | baseline | result | ratio | target | date | machine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per_backend = _per_backend(r)
        if per_backend:
            for name, base, result, ratio in per_backend:
                lines.append("| {} ({}) | {} | events_per_s = {} | events_per_s = {} | {} | {} | {} | {} |".format(
                    r["bench"], name, r.get("what", ""), _fmt(base), _fmt(result),
                    _fmt(ratio) if ratio is not None else "—", targets(r), r.get("date", ""), r.get("machine", "")))
            continue
        ratio = r.get("ratio")
        label = r.get("bench", "?") + (f" ({r['db']})" if r.get("db") else "")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            label, r.get("what", ""), baseline(r), headline(r),
            _fmt(ratio) if ratio is not None else "—", targets(r), r.get("date", ""), r.get("machine", "")))
    lines += ["", "## All figures", ""]
    for r in results:
        lines.append(f"### {r.get('bench')}")
        lines.append("")
        lines.append(f"`{r.get('command', '')}`")
        lines.append("")
        lines.append("```json")
        lines.append(json.dumps({k: v for k, v in r.items() if k not in ('command',)}, ensure_ascii=False, indent=2))
        lines.append("```")
        lines.append("")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} ({len(results)} benchmarks)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--store-log", nargs=2, metavar=("LOG", "COMMAND"),
                    help="keep the last JSON line of a saved run's output (e.g. the full hall day) as its result")
    args = ap.parse_args()
    failed = 0
    if args.store_log:
        store_log(*args.store_log)
        args.report_only = True
    if not args.report_only:
        for name in args.names or list(SCRIPTS):
            if run(name, SCRIPTS.get(name, [])) is None and (HERE / f"{name}.py").exists():
                failed += 1
    report()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
