"""The real app (``kiosk run``) under Xvfb, clicked with xdotool like a finger:
the free-mode cooldown boundary (docs/screens.md).

With ``thanks_seconds = 3`` and ``cooldown_seconds = 5`` a citizen who taps
非常不满意 right after the thanks screen must never produce a misuse press:
the thanks screen stays until the cooldown is over, so every tap before then
lands on it and stores nothing, and the first tap on the rating screen counts.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

W, H = 800, 480  # the window size kiosk_run (test_run.py) asks for
COOLDOWN, THANKS = 5, 3


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: dev/test.sh installs it (apt-get install xvfb xdotool)"
    return path


@pytest.fixture
def xvfb():
    """A private X server; yields its DISPLAY."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([need("Xvfb"), "-displayfd", str(write_fd), "-screen", "0", f"{W}x{H}x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def real_app(tmp_path, xvfb):
    from .test_run import kiosk_run

    proc = kiosk_run(tmp_path, f"cooldown_seconds = {COOLDOWN}\nthanks_seconds = {THANKS}",
                     DISPLAY=xvfb, SDL_VIDEODRIVER="x11")
    log: list[tuple[float, str]] = []
    up = threading.Event()

    def read():
        for line in proc.stderr:
            log.append((time.monotonic(), line))
            if "screens up" in line:
                up.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert up.wait(60), "".join(line for _, line in log)
        yield xvfb, tmp_path / "data" / "buffer.db", log
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def click(display: str, x: int, y: int) -> None:
    subprocess.run([need("xdotool"), "mousemove", str(x), str(y), "click", "1"], check=True,
                   env=dict(os.environ, DISPLAY=display), timeout=10)


def key(display: str, name: str) -> None:
    subprocess.run([need("xdotool"), "key", name], check=True, env=dict(os.environ, DISPLAY=display), timeout=10)


def button_centre(position: int) -> tuple[int, int]:
    """The middle of rating button ``position`` in window pixels (rating.py: ROW_*; 10 px gaps)."""
    from kiosk.screens.rating import ROW_H, ROW_W, ROW_X, ROW_Y

    width = (W * ROW_W - 4 * 10) / 5
    x = W * ROW_X + position * (width + 10) + width / 2
    y = H * (1 - ROW_Y - ROW_H / 2)
    return round(x), round(y)


def ratings(db: Path) -> list[dict]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT payload FROM events ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []  # the schema is not there yet
    finally:
        conn.close()
    return [e for e in (json.loads(r[0]) for r in rows) if e["type"] == "rating"]


def logged_at(line: str) -> float:
    """The time of a log line of the app ("2026-12-01 22:41:48,912 INFO …"), in seconds."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def wait_for(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_taps_through_the_cooldown_never_make_a_misuse_press(real_app):
    display, db, log = real_app
    for _ in range(60):  # until the window is mapped and takes the tap (once it does, one tap is enough)
        click(display, *button_centre(0))  # 非常满意
        try:
            wait_for(lambda: ratings(db), 0.5)
            break
        except AssertionError:
            continue
    (first,) = wait_for(lambda: ratings(db), 30)
    t0 = time.monotonic()
    assert first["satisfaction"] == 5 and first["misuse"] is False
    taps = []
    while time.monotonic() - t0 < COOLDOWN + 10:
        taps.append(time.monotonic() - t0)
        click(display, *button_centre(4))  # 非常不满意, again and again
        if len(ratings(db)) > 1:
            break
        time.sleep(0.1)
    stored = ratings(db)
    assert len(stored) == 2, f"taps at {taps}: {stored}"
    second = stored[1]
    assert second["satisfaction"] == 1 and second["misuse"] is False, "the complaint counts"
    assert second["mono_ms"] - first["mono_ms"] >= COOLDOWN * 1000, "it came only once the cooldown was over"
    trap = [t for t in taps if THANKS + 0.1 < t < COOLDOWN - 0.3]
    assert trap, f"taps were made where the old screen looked live, taps at {taps}"
    assert not any("stored as misuse" in line for _, line in log), "".join(line for _, line in log)
    shown = [(logged_at(line), line.split("screen ")[-1].strip()) for _, line in log if " screen " in line]
    assert [name for _, name in shown][:2] == ["thanks", "rating"], shown
    gap = shown[1][0] - shown[0][0]
    # The app's own log clock; the thanks screen is logged a few ms after the press is timed.
    assert gap >= COOLDOWN - 0.1, f"the rating screen came back {gap:.2f} s after the thanks screen"
    # A USB keypad (like any panel) pressed now, within the new cooldown, is kept flagged, not thanked.
    key(display, "3")
    third = wait_for(lambda: ratings(db)[2:], 30)[0]
    assert third["source"] == "keyboard" and third["misuse"] is True
