"""The font check: a font is used only when it covers every character the
screens draw; otherwise a clear refusal naming what is missing and the package."""

import shutil
import subprocess

import pytest

from kiosk.exceptions import KioskError
from kiosk.screens import fonts
from kiosk.screens.fonts import FontError, find_cjk_font, font_codepoints, missing_chars, required_text

WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
DROID = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LONG_NAME = "欧阳木合塔尔·买买提"


@pytest.fixture
def droid_only(tmp_path, monkeypatch):
    """fontconfig sees one font directory holding only Droid Sans Fallback, as on a
    device where ghostscript/CUPS brought fonts-droid-fallback and nothing else."""
    fontdir = tmp_path / "fonts"
    fontdir.mkdir()
    shutil.copy(DROID, fontdir / "DroidSansFallbackFull.ttf")
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"""<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{fontdir}</dir><cachedir>{tmp_path / "cache"}</cachedir></fontconfig>""")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    return fontdir / "DroidSansFallbackFull.ttf"


def fc_query_charset(path: str) -> set[int]:
    out = subprocess.run(["fc-query", "-i", "0", "-f", "%{charset}", path], capture_output=True, text=True,
                         check=True).stdout
    found = set()
    for token in out.split():
        start, _, end = token.partition("-")
        found.update(range(int(start, 16), int(end or start, 16) + 1))
    return found


@pytest.mark.parametrize("path", [WQY, DROID, DEJAVU])
def test_the_character_map_reader_agrees_with_fontconfig(path):
    assert font_codepoints(path) == fc_query_charset(path)


def test_droid_sans_fallback_has_chinese_but_no_digits_or_latin():
    assert missing_chars(DROID, "满意评价号窗口工号") == ""
    assert missing_chars(DROID, "12 号窗口 工号 0231 Window") == "1203Window"
    assert fonts.describe_missing(missing_chars(DROID, required_text())).startswith(
        "digits 0-9, Latin letters A-Z a-z")


def test_wqy_covers_every_character_of_the_screens_and_a_long_name():
    needed = required_text()
    for ch in "0123456789AZaz号窗口剩余秒✓●·—：":
        assert ch in needed or ch == "✓", ch  # the ✓ of a chip is drawn, not a glyph
    assert missing_chars(WQY, needed + LONG_NAME + "不动产登记与税务综合服务区") == ""


def test_required_text_has_both_languages_levels_reasons_staff_and_section(tmp_path):
    from .conftest import make_config

    cfg = make_config(tmp_path, staff={"name": "䶮"}, device={"section": "\U00020000区"})
    needed = required_text(cfg)
    for text in ("非常不满意", "Very dissatisfied", "服务态度差效率低", "感谢您的评价", "Thank you", "䶮", "\U00020000"):
        assert all(ch in needed for ch in text.replace(" ", "")), text


def test_with_only_droid_installed_the_app_refuses_naming_what_is_missing(droid_only):
    assert fonts.fontconfig_candidates() == [str(droid_only)], "fontconfig sees the one directory"
    with pytest.raises(FontError) as err:
        find_cjk_font("", known_paths=())
    message = str(err.value)
    assert str(droid_only) in message and "digits 0-9" in message and "Latin letters A-Z a-z" in message
    assert "apt install fonts-wqy-microhei" in message
    assert isinstance(err.value, KioskError), "the CLI prints it as one line"


def test_configured_droid_is_refused_too(tmp_path):
    with pytest.raises(FontError, match=r"\[ui\] font: .*DroidSansFallbackFull.ttf.* digits 0-9"):
        find_cjk_font(DROID)


def test_a_staff_name_the_font_lacks_refuses_the_font():
    rare = "\U00020000"  # CJK extension B: not in WenQuanYi Micro Hei
    assert ord(rare) not in font_codepoints(WQY)
    with pytest.raises(FontError, match=f"1 other characters: {rare}"):
        find_cjk_font(WQY, required_text() + "李" + rare)


def test_no_font_anywhere_refuses_naming_the_debian_package():
    with pytest.raises(FontError) as err:
        find_cjk_font("", known_paths=[], use_fontconfig=False)
    assert "fonts-wqy-microhei" in str(err.value)


def test_configured_font_must_exist_and_be_a_font(tmp_path):
    with pytest.raises(FontError, match=r"\[ui\] font"):
        find_cjk_font(str(tmp_path / "missing.ttf"))
    bogus = tmp_path / "font.txt"
    bogus.write_text("x")
    with pytest.raises(FontError, match=r"\[ui\] font"):
        find_cjk_font(str(bogus))
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"\0" * 40)
    with pytest.raises(FontError, match="cannot read its character map"):
        find_cjk_font(str(broken))


def test_configured_font_wins(tmp_path):
    mine = tmp_path / "mine.ttc"
    shutil.copy(WQY, mine)
    assert find_cjk_font(str(mine)) == str(mine)


def test_droid_first_in_line_is_passed_over_for_a_covering_font(droid_only):
    assert find_cjk_font("", known_paths=(str(droid_only), WQY)) == WQY


def test_the_check_agrees_with_what_kivy_draws(kivy_window):
    """Boxes (tofu) for missing glyphs all look alike; real glyphs differ."""
    from kivy.core.text import Label as CoreLabel

    def pixels(font, ch):
        label = CoreLabel(text=ch, font_size=48, font_name=font)
        label.refresh()
        return bytes(label.texture.pixels)

    assert len({pixels(WQY, ch) for ch in "满意12Ab"}) == 6
    assert len({pixels(DROID, ch) for ch in "满意"}) == 2
    assert len({pixels(DROID, ch) for ch in "12Ab"}) == 1, "Droid draws every digit and letter as the same box"


def test_kiosk_run_with_droid_is_one_clear_error(tmp_path):
    from .test_run import kiosk_run

    proc = kiosk_run(tmp_path, f'font = "{DROID}"')
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("kiosk: error: [ui] font:") and "digits 0-9" in last, err


def test_doctor_checks_coverage_the_same_way(tmp_path):
    from kiosk.doctor import FAIL, OK, Doctor

    for font, status in ((DROID, FAIL), (WQY, OK)):
        path = tmp_path / f"{status}.toml"
        path.write_text(f'[device]\ndata_dir = "{tmp_path}"\n[ui]\nfont = "{font}"\n'
                        f'[staff]\nname = "{LONG_NAME}"\n', encoding="utf-8")
        doctor = Doctor(str(path), touch=True)
        assert doctor.check_config()
        doctor.check_font()
        (check,) = [c for c in doctor.checks if c.name == "font"]
        assert check.status == status, check
        if status == FAIL:
            assert "digits 0-9" in check.detail and "Latin letters" in check.detail
        else:
            assert "covers every character" in check.detail


def test_app_refuses_to_start_without_a_font(tmp_path, monkeypatch):
    from kiosk.buffer import Buffer
    from kiosk.clock import FakeClock
    from kiosk.config import DEVICE_SCHEMA, parse
    from kiosk.device import Device
    from kiosk.screens import app as app_module

    monkeypatch.setattr(fonts, "KNOWN_PATHS", ())
    monkeypatch.setattr(fonts, "fontconfig_candidates", lambda: [])
    cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": str(tmp_path)}})
    device = Device(cfg, buffer=Buffer(tmp_path / "b.db"), clock=FakeClock())
    try:
        monkeypatch.setattr(app_module, "find_cjk_font",
                            lambda configured, required: fonts.find_cjk_font(configured, required, known_paths=()))
        with pytest.raises(FontError, match="fonts-wqy-microhei"):
            app_module.run_app(cfg, device)
        with pytest.raises(FontError):
            app_module.KioskApp(cfg, device)
    finally:
        device.close()
