"""The headless device end to end: console presses → buffer → ``kiosk status --json``."""

import os
import re
import signal
import subprocess
import time

import requests

from .conftest import kiosk_cmd, run_kiosk, status_json, write_config


def _cfg(tmp_path, extra=""):
    return write_config(tmp_path / "kiosk.toml", f'''
[device]
id = "hall-a01"
window = "A01"
section = "综合服务区"
data_dir = "{tmp_path / 'data'}"
[staff]
no = "1001"
name = "张三"
[ui]
cooldown_seconds = 0
{extra}
[local_api]
enabled = false
''')


def test_console_presses_reach_the_buffer_and_status(tmp_path):
    cfg = _cfg(tmp_path)
    proc = run_kiosk("run", "--headless", "--console", "--config", str(cfg),
                     input="1\n2\n3\n4\nr 213 214\n5\ns\nhelp\nx\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^ACK 1 非常满意 id=", out, re.M)
    assert re.search(r"^ACK 4 不满意 id=", out, re.M)
    assert "REASONS 213 214" in out and "SKIPPED" in out
    assert "ERR unknown command 'x'" in out
    st = status_json(cfg)
    assert st["device_id"] == "hall-a01"
    assert st["events_total"] == 6  # five ratings and one detail
    assert st["pending"] == 6 and st["rejected"] == 0
    assert st["ratings_by_level"] == {"5": 1, "4": 1, "3": 1, "2": 1, "1": 1}
    assert st["last_sync_ok_at"] is None and st["last_sync_error"] is None
    assert st["hardware"]["console"]["ok"] is True
    text = run_kiosk("status", "--config", str(cfg), check=True).stdout
    assert "非常满意 1" in text and "6 pending" in text


def test_transaction_mode_from_the_console(tmp_path):
    cfg = _cfg(tmp_path, 'mode = "transaction"')
    proc = run_kiosk("run", "--headless", "--console", "--config", str(cfg),
                     input="1\nt P2026-0001 A017\n2\n2\n")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("ACK", "NAK", "PROMPT"))]
    assert lines[0] == "NAK 1 no_prompt"
    assert lines[1].startswith("PROMPT ")
    assert lines[2].startswith("ACK 2 满意")
    assert lines[3] == "NAK 2 no_prompt"
    assert status_json(cfg)["ratings_by_level"]["4"] == 1


def test_headless_never_imports_kivy(tmp_path):
    cfg = _cfg(tmp_path)
    code = ("import sys, runpy; sys.argv=['kiosk','run','--headless','--console','--config',%r];"
            "import kiosk.cli; rc = kiosk.cli.main(sys.argv[1:]);"
            "print('KIVY' if any(m.startswith('kivy') for m in sys.modules) else 'NOKIVY')" % str(cfg))
    proc = subprocess.run(["python", "-c", code], input="1\n", capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().endswith("NOKIVY"), proc.stdout + proc.stderr


def test_sigterm_stops_the_device_cleanly(tmp_path):
    cfg = write_config(tmp_path / "kiosk.toml", f'''
[device]
data_dir = "{tmp_path / 'data'}"
[ui]
mode = "transaction"
[local_api]
bind = "127.0.0.1:0"
token = "headless-test"
''')
    child = subprocess.Popen(kiosk_cmd("run", "--headless", "--config", str(cfg)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "local API on" not in line and time.monotonic() < deadline:
            line = child.stderr.readline()
        url = line.strip().split("local API on ")[1]
        r = requests.post(url + "/v1/prompt", json={"project_no": "P1"},
                          headers={"Authorization": "Bearer headless-test"}, timeout=5)
        assert r.status_code == 201
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 0
    assert os.path.exists(tmp_path / "data" / "buffer.db")
