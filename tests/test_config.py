"""Config loading: defaults, the search order and one specific message per mistake."""

import pytest

from kiosk.config import DEVICE_SCHEMA, load_config, parse
from kiosk.exceptions import ConfigError

from .conftest import run_kiosk, write_config


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    monkeypatch.setattr("kiosk.config.DEFAULT_PATH", str(tmp_path / "absent.toml"))
    cfg = load_config()
    assert cfg.path is None
    assert cfg.ui.mode == "free"
    assert cfg.ui.cooldown_seconds == 5.0
    assert cfg.ui.prompt_timeout_seconds == 60.0
    assert cfg.ui.reasons_for == "bad"
    assert cfg.device.channel == 4
    assert cfg.hardware.serial.baudrate == 9600
    assert cfg.local_api.bind == "127.0.0.1:8765"


def test_env_var_and_explicit_path(tmp_path, monkeypatch):
    a = write_config(tmp_path / "a.toml", '[device]\nwindow = "A"\n')
    b = write_config(tmp_path / "b.toml", '[device]\nwindow = "B"\n')
    monkeypatch.setenv("KIOSK_CONFIG", str(a))
    assert load_config().device.window == "A"
    assert load_config(b).device.window == "B"


@pytest.mark.parametrize("text, expected", [
    ('[ui]\nmode = "fre"\n', "ui.mode: 'fre' is not valid: expected one of 'free', 'transaction'"),
    ('[ui]\nmdoe = "free"\n', "ui.mdoe: unknown key in [ui]; expected one of:"),
    ('[uii]\n', "uii: unknown key in the top level"),
    ('[ui]\ncooldown_seconds = "5"\n', "ui.cooldown_seconds: '5' is not valid: expected an integer or a number"),
    ('[ui]\nthanks_seconds = 0\n', "ui.thanks_seconds: 0 is not valid: expected a number greater than 0"),
    ('[ui]\nfullscreen = 1\n', "ui.fullscreen: 1 is not valid: expected a boolean"),
    ('[ui]\nsize = "big"\n', 'ui.size: \'big\' is not valid: expected a size like "1024x600"'),
    ('[hardware.gpio]\nbuttons = [5, 6, 13]\n', "hardware.gpio.buttons: [5, 6, 13] is not valid: expected a list of 5 BCM pin"),
    ('[hardware.gpio]\nbuttons = [5, 5, 13, 19, 26]\n', "expected 5 different BCM pins"),
    ('[hardware.serial]\nkey_map = [1, 1, 2, 3, 4]\n', "hardware.serial.key_map"),
    ('[hardware.serial]\nbaudrate = 1234\n', "hardware.serial.baudrate: 1234 is not valid: expected one of"),
    ('[device]\nchannel = 9\n', "device.channel: 9 is not valid"),
    ('[device]\nid = "has space"\n', "device.id: 'has space' is not valid: expected 1-64 letters"),
    ('[sync]\nserver = "ftp://x"\n', "sync.server: 'ftp://x' is not valid: expected an http(s) URL"),
    ('[sync]\nbatch_size = 501\n', "sync.batch_size: 501 is not valid: expected 1..500"),
    ('[local_api]\nbind = "localhost"\n', "local_api.bind: 'localhost' is not valid"),
    ('[ui]\ntechnician_pin = "1234"\n', "ui.technician_pin: '1234' is not valid: expected a hash"),
    ("[ui\nmode = 1", "not valid TOML"),
    ("ui = 3\n", "ui: 3 is not valid: expected a table [ui]"),
])
def test_each_mistake_has_its_own_message(tmp_path, text, expected):
    path = write_config(tmp_path / "kiosk.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path) + ": ")
    assert expected in str(err.value)


def test_missing_explicit_file_and_binary_garbage(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_ints_are_accepted_for_floats_but_not_bools():
    cfg = parse(DEVICE_SCHEMA, {"ui": {"cooldown_seconds": 0}}, "x")
    assert cfg.ui.cooldown_seconds == 0.0 and isinstance(cfg.ui.cooldown_seconds, float)


def test_cli_reports_a_config_error_in_one_line(tmp_path):
    path = write_config(tmp_path / "kiosk.toml", '[ui]\nmode = "fre"\n')
    proc = run_kiosk("status", "--config", str(path))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"kiosk: error: {path}: ui.mode: 'fre' is not valid: expected one of 'free', 'transaction'"]
    proc = run_kiosk("status", "--config", str(path), env={"KIOSK_DEBUG": "1"})
    assert "Traceback" in proc.stderr


def test_example_configs_are_valid():
    from pathlib import Path
    examples = sorted((Path(__file__).parent.parent / "config").glob("*.toml"))
    device_examples = [p for p in examples if p.name != "server.toml"]
    assert len(device_examples) >= 3
    for path in device_examples:
        load_config(path)
