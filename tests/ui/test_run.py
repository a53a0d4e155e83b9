"""``kiosk run`` with the screen: starts the app, stops cleanly on SIGTERM, refuses without a font."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kiosk_run(tmp_path, extra_ui: str = ""):
    config = tmp_path / "kiosk.toml"
    config.write_text(f"""
[device]
id = "run-test"
data_dir = "{tmp_path / 'data'}"
[ui]
fullscreen = false
size = "800x480"
{extra_ui}
[local_api]
enabled = false
""", encoding="utf-8")
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", SDL_AUDIODRIVER="dummy", KIVY_HOME=str(tmp_path / "kivy"),
               KIVY_NO_ARGS="1", LP_NUM_THREADS="0", PYTHONPATH=str(ROOT))
    env.pop("KIOSK_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_kiosk_run_shows_the_screens_and_stops_on_sigterm(tmp_path):
    proc = kiosk_run(tmp_path)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "screens up" in line:
                break
        assert any("screens up" in ln for ln in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait() == 0, rest
    finally:
        watchdog.cancel()
        proc.kill()
    assert (tmp_path / "data" / "buffer.db").exists()


def test_kiosk_run_without_a_cjk_font_is_one_clear_error(tmp_path):
    proc = kiosk_run(tmp_path, 'font = "/nonexistent/font.ttf"')
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("kiosk: error: [ui] font:"), err
