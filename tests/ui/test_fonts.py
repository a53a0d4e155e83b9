"""The CJK font check: real glyphs, or a clear refusal naming the package to install."""

import os

import pytest

from kiosk.exceptions import KioskError
from kiosk.screens import fonts
from kiosk.screens.fonts import FontError, find_cjk_font

WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def test_no_font_anywhere_refuses_naming_the_debian_package():
    with pytest.raises(FontError) as err:
        find_cjk_font("", known_paths=[], use_fontconfig=False)
    assert "fonts-wqy-microhei" in str(err.value)
    assert isinstance(err.value, KioskError), "the CLI prints it as one line"


def test_configured_font_must_exist(tmp_path):
    with pytest.raises(FontError, match=r"\[ui\] font"):
        find_cjk_font(str(tmp_path / "missing.ttf"))
    bogus = tmp_path / "font.txt"
    bogus.write_text("x")
    with pytest.raises(FontError, match=r"\[ui\] font"):
        find_cjk_font(str(bogus))


def test_configured_font_wins(tmp_path):
    font = tmp_path / "mine.ttf"
    font.write_bytes(b"\0")
    assert find_cjk_font(str(font)) == str(font)


def test_fontconfig_answer_is_used_only_when_it_covers_chinese(monkeypatch):
    monkeypatch.setattr(fonts.shutil, "which", lambda name: "/usr/bin/fc-match")

    class Done:
        def __init__(self, stdout):
            self.stdout = stdout

    monkeypatch.setattr(fonts.subprocess, "run",
                        lambda *a, **kw: Done("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf|en|fr|de"))
    assert fonts.fontconfig_cjk() is None
    with pytest.raises(FontError):
        find_cjk_font("", known_paths=[])


def test_the_font_found_here_draws_distinct_chinese_glyphs(kivy_window):
    """Boxes (tofu) for missing glyphs all look alike; real glyphs differ."""
    from kivy.core.text import Label as CoreLabel

    path = find_cjk_font("")
    textures = []
    for ch in ("满", "意", "评"):
        label = CoreLabel(text=ch, font_size=48, font_name=path)
        label.refresh()
        textures.append(bytes(label.texture.pixels))
    assert len(set(textures)) == 3
    import kivy

    latin_only = os.path.join(kivy.kivy_data_dir, "fonts", "Roboto-Regular.ttf")
    roboto = []
    for ch in ("满", "意"):
        label = CoreLabel(text=ch, font_size=48, font_name=latin_only)
        label.refresh()
        roboto.append(bytes(label.texture.pixels))
    assert roboto[0] == roboto[1], "the check itself: a font without CJK draws the same box"


def test_app_refuses_to_start_without_a_font(tmp_path, monkeypatch):
    from kiosk.buffer import Buffer
    from kiosk.clock import FakeClock
    from kiosk.config import DEVICE_SCHEMA, parse
    from kiosk.device import Device
    from kiosk.screens import app as app_module

    monkeypatch.setattr(fonts, "KNOWN_PATHS", ())
    monkeypatch.setattr(fonts, "fontconfig_cjk", lambda: None)
    cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": str(tmp_path)}})
    device = Device(cfg, buffer=Buffer(tmp_path / "b.db"), clock=FakeClock())
    try:
        monkeypatch.setattr(app_module, "find_cjk_font",
                            lambda configured: fonts.find_cjk_font(configured, known_paths=()))
        with pytest.raises(FontError, match="fonts-wqy-microhei"):
            app_module.run_app(cfg, device)
        with pytest.raises(FontError):
            app_module.KioskApp(cfg, device)
    finally:
        device.close()


def test_fontconfig_finds_a_font_when_no_known_path_exists(tmp_path):
    found = find_cjk_font("", known_paths=[str(tmp_path / "none.ttc")])
    assert found.endswith((".ttf", ".ttc", ".otf"))
    assert found == fonts.fontconfig_cjk()
