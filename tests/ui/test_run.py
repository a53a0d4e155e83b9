"""``kiosk run`` with the screen: starts the app, stops cleanly on SIGTERM, refuses without a font."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kiosk_run(tmp_path, extra_ui: str = "", **env_overrides: str):
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
    env.update(env_overrides)
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
        up = [ln for ln in lines if "screens up" in ln]
        assert up and "800x480" in up[0], "".join(lines)
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


def test_kiosk_window_settings(tmp_path, kivy_window):
    from kivy.config import Config

    from kiosk.config import DEVICE_SCHEMA, parse
    from kiosk.screens.app import configure_kivy

    saved = {(s, k): Config.get(s, k) for s, k in [("graphics", "fullscreen"), ("graphics", "width"),
                                                   ("graphics", "height"), ("graphics", "show_cursor")]}
    try:
        configure_kivy(parse(DEVICE_SCHEMA, {"ui": {"fullscreen": True}}))
        assert Config.get("graphics", "fullscreen") == "auto"
        assert Config.get("graphics", "show_cursor") == "0"
        assert Config.get("kivy", "exit_on_escape") == "0"
        configure_kivy(parse(DEVICE_SCHEMA, {"ui": {"fullscreen": False, "size": "1280x800"}}))
        assert Config.get("graphics", "fullscreen") == "0"
        assert (Config.get("graphics", "width"), Config.get("graphics", "height")) == ("1280", "800")
    finally:
        for (section, key), value in saved.items():
            Config.set(section, key, value)


def test_screenshot_tool_makes_every_screen(tmp_path):
    env = dict(os.environ, LP_NUM_THREADS="0", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "screenshots.py"), "--out", str(tmp_path),
                           "--size", "800x480"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from screenshots import SCREENS
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert {"idle", "rating", "reasons", "thanks", "out_of_order", "pin", "technician"} <= set(SCREENS)
    assert names == sorted(f"{s}_{lang}_800x480.png" for s in SCREENS for lang in ("zh", "en"))
    assert all(8000 < (tmp_path / n).stat().st_size < 1_000_000 for n in names), "not blank, not huge"
    listed = (ROOT / "docs" / "screenshots" / "README.md").read_text(encoding="utf-8")
    assert all(f"({n})" in listed for n in names), "docs/screenshots/README.md shows every screen"
