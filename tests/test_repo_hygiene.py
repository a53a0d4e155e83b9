"""The repository holds source, not field data: no database files, nothing over
5 MB outside docs/screenshots, no tracked name that a shell takes for an option;
and the tools refuse an option-looking database path instead of creating it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from central import DatabaseURLError
from central.db import normalize_url

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 5 * 1024 * 1024
SQLITE_MAGIC = b"SQLite format 3\x00"


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [f for f in out.decode("utf-8").split("\0") if f]
    assert len(files) > 50, "git ls-files found almost nothing: is this a clone of the repository?"
    return files


def test_no_tracked_file_is_a_database():
    found = []
    for name in tracked():
        path = ROOT / name
        if path.is_file():
            with open(path, "rb") as f:
                if f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                    found.append(name)
        if name.endswith((".db", ".db-wal", ".db-shm", ".sqlite", ".sqlite3")):
            found.append(name)
    assert not found, f"database files are tracked (git rm --cached them): {found}"


def test_no_tracked_file_over_5_mb_outside_screenshots():
    big = [(n, (ROOT / n).stat().st_size) for n in tracked()
           if not n.startswith("docs/screenshots/") and (ROOT / n).is_file()
           and (ROOT / n).stat().st_size > MAX_BYTES]
    assert not big, f"files over 5 MB are tracked: {big}"


def test_no_tracked_name_starts_with_a_dash():
    dashed = [n for n in tracked() if any(part.startswith("-") for part in n.split("/"))]
    assert not dashed, f"tracked names that a shell takes for options: {dashed}"


@pytest.mark.parametrize("value", ["-", "--wal", "--shm", "sqlite:///--wal", "sqlite:////tmp/-", "data/-"])
def test_normalize_url_refuses_option_like_paths(value):
    with pytest.raises(DatabaseURLError, match="looks like a command-line option"):
        normalize_url(value)


def test_normalize_url_still_takes_files_and_urls(tmp_path):
    assert normalize_url(str(tmp_path / "central.db")) == f"sqlite:///{tmp_path / 'central.db'}"
    assert normalize_url("sqlite:///rel-1.db") == "sqlite:///rel-1.db"
    assert normalize_url("postgresql://kiosk@127.0.0.1:5432/kiosk") == "postgresql+psycopg://kiosk@127.0.0.1:5432/kiosk"


@pytest.mark.parametrize("value", ["-", "--wal"])
def test_the_cli_refuses_a_dash_database_and_creates_nothing(tmp_path, value):
    r = subprocess.run([sys.executable, "-m", "central", "admin", "migrate", f"--db={value}"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiosk: error: ") and "command-line option" in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_dependency_has_a_lowest_pin_that_ci_installs():
    r = subprocess.run([sys.executable, str(ROOT / "dev" / "lowest_pins.py"), "CORE", "SERVER"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pins = dict(line.split("==") for line in r.stdout.split())
    assert {"sqlite-utils", "requests", "pyserial", "gpiozero", "fastapi", "uvicorn[standard]", "sqlalchemy",
            "alembic", "psycopg[binary]", "jinja2", "openpyxl"} <= set(pins)
    major = int(pins["sqlite-utils"].split(".")[0])
    assert major >= 4, "kiosk.buffer uses Database.atomic(), which sqlite-utils has from 4.0 on"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./dev/test.sh --lowest-pins" in ci


def test_lowest_pins_refuses_a_requirement_without_a_lower_bound():
    sys.path.insert(0, str(ROOT / "dev"))
    try:
        import lowest_pins
    finally:
        sys.path.remove(str(ROOT / "dev"))
    assert lowest_pins.lowest("uvicorn[standard]>=0.27.0") == "uvicorn[standard]==0.27.0"
    assert lowest_pins.lowest("jinja2>=3.1.0,<4") == "jinja2==3.1.0"
    for bad in ("requests", "requests<3", "requests==2.31"):
        with pytest.raises(ValueError, match="no '>=' lower bound"):
            lowest_pins.lowest(bad)
