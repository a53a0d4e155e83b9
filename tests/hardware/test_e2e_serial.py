"""End to end: ``kiosk run --headless`` with a serial panel on a pty; KEY frames
in, ACK out, and ``kiosk status --json`` shows the ratings."""

from __future__ import annotations

import os
import signal
import subprocess

from tests.conftest import ROOT, kiosk_cmd, status_json


def test_headless_kiosk_with_a_serial_panel(tmp_path, pty_pair):
    panel = pty_pair()
    config = tmp_path / "kiosk.toml"
    config.write_text(f"""
[device]
id = "e2e-serial"
data_dir = "{tmp_path / 'data'}"
channel = 5
[ui]
mode = "transaction"
[hardware.serial]
enabled = true
port = "{panel.path}"
[local_api]
bind = "127.0.0.1:0"
""", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_CONFIG"}
    proc = subprocess.Popen(kiosk_cmd("run", "--headless", "--config", str(config)), cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert panel.line(timeout=30) == "IDLE", proc.stderr.read() if proc.poll() is not None else ""
        panel.send("KEY 1\n")
        assert panel.line() == "NAK 1 no_prompt"
        panel.send("TRIG 2026A0001 T1\n")
        assert panel.line() == "PROMPT"
        panel.send("KEY 1\n")
        assert panel.line() == "ACK 1"
        panel.send("TRIG 2026A0002 T2\n")
        assert panel.line() == "PROMPT"
        panel.send("KEY 5*42\n")
        assert panel.line() == "ACK 5*5C"
        panel.send("garbage\n")
        st = status_json(config)
        assert st["device_id"] == "e2e-serial"
        assert st["ratings_by_level"] == {"5": 1, "4": 0, "3": 0, "2": 0, "1": 1}
        assert st["events_total"] == 2 and st["pending"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "serial panel connected" in err
