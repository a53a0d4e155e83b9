"""``kiosk panel-sim`` and ``kiosk hw-test``, and their documentation."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kiosk.cli import build_parser
from kiosk.device import buffer_path
from kiosk.hardware.commands import cmd_hw_test
from kiosk.hardware.serial import SerialSource
from tests.conftest import ROOT, kiosk_cmd, run_kiosk

from .conftest import ratings, wait_for
from .test_gpio import BUTTONS, LEDS, TRIGGER, on_count


def popen_kiosk(*args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k != "KIOSK_CONFIG"}
    full_env.update(env or {})
    return subprocess.Popen(kiosk_cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, cwd=ROOT)


def test_panel_sim_script_against_a_real_device(tmp_path, device_factory, make_cfg):
    script = tmp_path / "panel.txt"
    script.write_text("\n".join([
        "expect IDLE",
        "1",
        "expect ACK 1",
        "raw hello there",
        "t 2026A0001 T17",
        "expect PROMPT",
        "5",
        "expect ACK 5",
        "hb",
    ]) + "\n", encoding="utf-8")
    proc = popen_kiosk("panel-sim", "--script", str(script), "--checksum", "--linger", "0.2")
    try:
        first = proc.stdout.readline().split()
        assert first[0] == "PORT" and first[1].startswith("/dev/")
        cfg = make_cfg(hardware={"serial": {"enabled": True, "port": first[1]}}, ui={"cooldown_seconds": 0})
        dev = device_factory(cfg)
        src = SerialSource(cfg.hardware.serial, retry_seconds=0.05)
        dev.add_source(src)
        dev.start()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "> KEY 1*46" in out and "< ACK 1*58" in out and "= ACK 5" in out and "> hello there" in out
    assert "[hardware.serial]" in err
    rs = ratings(cfg)
    assert [r["satisfaction"] for r in rs] == [5, 1]
    assert rs[1]["project_no"] == "2026A0001" and rs[1]["ticket_no"] == "T17"
    wait_for(lambda: src.health()["last_hb"], what="the heartbeat")
    assert src.health()["bad_frames"] == 1


def test_panel_sim_expect_timeout_and_bad_command(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("expect ACK 9\n", encoding="utf-8")
    proc = run_kiosk("panel-sim", "--script", str(script), "--timeout", "0.2", "--linger", "0")
    assert proc.returncode == 1 and "expected 'ACK 9'" in proc.stdout
    script.write_text("jump\n", encoding="utf-8")
    proc = run_kiosk("panel-sim", "--script", str(script), "--linger", "0")
    assert proc.returncode == 2 and "unknown command" in proc.stdout


def test_panel_sim_on_a_missing_port_is_one_line_error():
    proc = run_kiosk("panel-sim", "--port", "/dev/does-not-exist", "--script", "-", input="")
    assert proc.returncode == 1
    assert proc.stderr.startswith("kiosk: error: cannot open /dev/does-not-exist")
    assert len(proc.stderr.strip().splitlines()) == 1


class _Out(io.StringIO):
    """stdout for a command running in another thread."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def write(self, s):
        with self.lock:
            return super().write(s)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


def write_hw_config(tmp_path: Path, port: str, stuck: float = 10.0) -> Path:
    p = tmp_path / "kiosk.toml"
    p.write_text(f"""
[device]
data_dir = "{tmp_path / 'data'}"
[hardware.gpio]
enabled = true
buttons = {BUTTONS}
trigger = {TRIGGER}
leds = {LEDS}
debounce_ms = 5
stuck_seconds = {stuck}
[hardware.serial]
enabled = true
port = "{port}"
""", encoding="utf-8")
    return p


def test_hw_test_shows_presses_cycles_leds_and_stores_nothing(tmp_path, mock_factory, pty_pair, monkeypatch):
    panel = pty_pair()
    config = write_hw_config(tmp_path, panel.path, stuck=0.5)
    out = _Out()
    monkeypatch.setattr(sys, "stdout", out)
    stop = threading.Event()
    args = argparse.Namespace(config=str(config), seconds=0.0, led_seconds=0.01, stop_event=stop)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("rc", cmd_hw_test(args)))
    worker.start()
    try:
        wait_for(lambda: ": connected" in out.text(), what="serial link reported")
        assert "LED cycle done (5 LEDs)" in out.text()
        assert all(on_count(mock_factory.pin(n)) >= 1 for n in LEDS)
        # GPIO button 2: shown live, its LED lights.
        p = mock_factory.pin(BUTTONS[1])
        p.drive_low()
        wait_for(lambda: "PRESS 2 满意" in out.text(), what="the GPIO press")
        p.drive_high()
        wait_for(lambda: bool(mock_factory.pin(LEDS[1]).state), what="LED 2 lit")
        # Trigger button.
        t = mock_factory.pin(TRIGGER)
        t.drive_low()
        wait_for(lambda: "TRIGGER" in out.text(), what="the trigger")
        t.drive_high()
        assert panel.line() == "PROMPT"
        # Serial KEY: shown, and the panel gets its ACK; garbage is counted.
        panel.send("KEY 3\nnonsense\nHB\n")
        assert panel.expect("ACK 3") == ["IDLE"]  # the pretend prompt is answered
        wait_for(lambda: "PRESS 3 基本满意 (Basically satisfied) from serial" in out.text(), what="the serial press")
        wait_for(lambda: "serial bad frames: 1" in out.text(), what="bad frame count")
        wait_for(lambda: "serial heartbeat" in out.text(), what="heartbeat shown")
        # A held button is reported stuck.
        b = mock_factory.pin(BUTTONS[4])
        b.drive_low()
        wait_for(lambda: "STUCK 5" in out.text(), what="stuck report")
        b.drive_high()
        wait_for(lambda: "no stuck buttons" in out.text(), what="stuck cleared")
    finally:
        stop.set()
        worker.join(10)
    assert result["rc"] == 0
    assert "hw-test done: 3 presses seen" in out.text()
    assert not buffer_path_for(tmp_path).exists()  # nothing stored


def buffer_path_for(tmp_path: Path) -> Path:
    return tmp_path / "data" / "buffer.db"


def test_hw_test_subprocess_with_mock_pins_and_a_pty(tmp_path, pty_pair):
    panel = pty_pair()
    config = write_hw_config(tmp_path, panel.path)
    proc = popen_kiosk("hw-test", "--config", str(config), "--seconds", "4", "--led-seconds", "0.01",
                       env={"GPIOZERO_PIN_FACTORY": "mock"})
    try:
        lines = []
        while not any(": connected" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stderr.read()
            lines.append(line)
        panel.send("KEY 1\n")
        assert panel.line() == "ACK 1"
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 0, text + err
    assert "pins via MockFactory" in text and "LED cycle done (5 LEDs)" in text
    assert "PRESS 1 非常满意 (Very satisfied) from serial" in text
    assert not buffer_path_for(tmp_path).exists()


def test_hw_test_without_panels_is_an_error(tmp_path):
    config = tmp_path / "k.toml"
    config.write_text(f'[device]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    proc = run_kiosk("hw-test", "--config", str(config), "--seconds", "0.1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("kiosk: error: ") and "no panel to test" in proc.stderr


@pytest.mark.parametrize("command", ["panel-sim", "hw-test"])
def test_commands_and_options_are_documented(command):
    doc = (ROOT / "docs" / "hardware.md").read_text(encoding="utf-8")
    assert f"kiosk {command}" in doc
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        for opt in action.option_strings:
            if opt.startswith("--") and opt != "--help":
                assert opt in doc, f"{command} {opt} is not documented in docs/hardware.md"


def test_buffer_path_helper_matches_the_device(make_cfg, tmp_path):
    assert buffer_path(make_cfg(device={"data_dir": str(tmp_path / "data")})) == buffer_path_for(tmp_path)
