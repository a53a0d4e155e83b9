"""``kiosk run`` says loudly what it runs on: built-in defaults when there is no
config file, and one ``kiosk: error:`` line naming the video backend when the
touch app has no screen to draw on."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, run_kiosk, write_config


def test_no_config_file_is_a_loud_warning_naming_the_buffer(tmp_path):
    state = tmp_path / "state"
    env = {"STATE_DIRECTORY": str(state), "HOME": str(tmp_path)}
    proc = run_kiosk("run", "--headless", "--console", input="1\n", env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("kiosk: warning: no config file (--config, $KIOSK_CONFIG or /etc/kiosk/kiosk.toml): "
                            "running on built-in defaults as device 'demo-device'"), proc.stderr
    assert f"buffer {state / 'buffer.db'}" in first
    with sqlite3.connect(state / "buffer.db") as db:  # and that is where the rating went
        assert db.execute("SELECT count(*) FROM events WHERE type = 'rating'").fetchone()[0] == 1
    assert "config      none: built-in defaults" in run_kiosk("status", env=env, check=True).stdout


def test_a_config_file_means_no_warning(tmp_path):
    config = write_config(tmp_path / "kiosk.toml", f'[device]\ndata_dir = "{tmp_path}"\n'
                                                   '[local_api]\nenabled = false\n')
    proc = run_kiosk("run", "--headless", "--console", "--config", str(config), input="", timeout=60)
    assert proc.returncode == 0 and "warning: no config file" not in proc.stderr


def _touch_app(tmp_path, **env):
    config = write_config(tmp_path / "kiosk.toml", f'''
[device]
data_dir = "{tmp_path / 'data'}"
[ui]
fullscreen = true
[local_api]
enabled = false
''')
    full = {"KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1", "SDL_AUDIODRIVER": "dummy"}
    full.update(env)
    base = {k: v for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "KIVY_WINDOW")}
    return subprocess.run([sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=90, env={**base, **full}, cwd=ROOT)


@pytest.mark.parametrize("driver, names", [
    ("kmsdrm", ["SDL video backend kmsdrm (SDL_VIDEODRIVER=kmsdrm)", "kmsdrm not available", "/dev/dri"]),
    ("x11", ["SDL video backend x11 (SDL_VIDEODRIVER=x11)", "DISPLAY=(unset)"]),
])
def test_a_video_backend_that_cannot_open_is_one_error_line(tmp_path, driver, names):
    if driver == "kmsdrm" and list(Path("/dev/dri").glob("card*")):
        pytest.skip("this machine has a DRM device")
    proc = _touch_app(tmp_path, SDL_VIDEODRIVER=driver)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kiosk: error: the touch app cannot open the screen through the"), proc.stderr[-2000:]
    for name in names:
        assert name in last
    assert "kiosk run --headless" in last
    assert "Traceback" not in proc.stderr and "AttributeError" not in proc.stderr


def test_no_display_at_all_is_an_error_not_an_invisible_app(tmp_path):
    """SDL would quietly fall back to drawing offscreen: nothing would show."""
    proc = _touch_app(tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kiosk: error: the touch app cannot open the screen (SDL_VIDEODRIVER unset): "
                           "no display found, SDL fell back to its offscreen driver"), last
    assert "SDL_VIDEODRIVER=kmsdrm" in last
