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
