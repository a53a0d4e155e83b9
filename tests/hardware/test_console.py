"""``kiosk run --console``: the banner tells the mode and the cooldown; the
reasons step lists the codes valid for the level just rated."""

import re

from kiosk.levels import Level

from ..conftest import run_kiosk, write_config


def config(tmp_path, ui: str):
    return write_config(tmp_path / "kiosk.toml", f'''
[device]
id = "console-test"
data_dir = "{tmp_path / 'data'}"
[ui]
{ui}
[local_api]
enabled = false
''')


def test_banner_has_the_cooldown_and_reasons_list_their_codes(tmp_path):
    cfg = config(tmp_path, "cooldown_seconds = 7")
    proc = run_kiosk("run", "--headless", "--console", "--config", str(cfg), input="4\nr 213\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("READY free mode, cooldown 7 s"), lines[0]
    (listing,) = [ln for ln in lines if ln.startswith("REASONS? ")]
    assert listing.startswith("REASONS? 2 不满意: 207 没有提供材料样本 | 208 ")
    assert re.findall(r"\b(\d{3}) ", listing) == [r.code for r in Level.DISSATISFIED.reasons]
    assert lines.index(listing) < lines.index("REASONS 213"), "listed before the reasons are asked for"


def test_transaction_banner_says_how_to_open_a_prompt(tmp_path):
    cfg = config(tmp_path, 'mode = "transaction"\nreasons_for = "all"')
    proc = run_kiosk("run", "--headless", "--console", "--config", str(cfg), input="t P-1\n1\ns\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("READY transaction mode (t opens a prompt")
    (listing,) = [ln for ln in lines if ln.startswith("REASONS? ")]
    assert listing.startswith("REASONS? 5 非常满意: 510 ")
