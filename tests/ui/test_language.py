"""Chinese first, English available; every text from one catalogue."""

import ast
import re
from pathlib import Path

from kiosk.levels import LEVELS, Level
from kiosk.screens.i18n import CATALOGUE

SCREENS = Path(__file__).resolve().parents[2] / "kiosk" / "screens"


def test_catalogues_have_the_same_keys_and_placeholders():
    zh, en = CATALOGUE["zh_CN"], CATALOGUE["en"]
    assert zh.keys() == en.keys()
    for key in zh:
        assert zh[key] and en[key], key
        assert set(re.findall(r"{(\w+)}", zh[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def test_every_key_the_screens_use_is_in_the_catalogue():
    used = set()
    for path in SCREENS.glob("*.py"):
        used |= set(re.findall(r"""\btr\(\s*["']([a-z_]+)["']\s*[,)]""", path.read_text(encoding="utf-8")))
    assert used, "the screens take their texts from the catalogue"
    assert used <= CATALOGUE["zh_CN"].keys(), used - CATALOGUE["zh_CN"].keys()


def test_no_chinese_text_outside_the_catalogue():
    han = re.compile(r"[\u4e00-\u9fff]")
    for path in SCREENS.glob("*.py"):
        if path.name == "i18n.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                 and isinstance(node.value, str) and id(node) not in docstrings]
        assert not [t for t in texts if han.search(t)], path.name


def test_switching_language_relabels_every_screen(make_kiosk):
    k = make_kiosk()
    rating = k.app.screens["rating"]
    assert [b.text.text for b in rating.buttons] == [lv.zh for lv in LEVELS]
    k.app.set_language("en")
    assert rating.header.message.text == "Please rate the service you received"
    assert rating.header.window_label.text == "Window 7"
    assert rating.header.card.no_label.text == "Staff No. 0231"
    assert [b.text.text for b in rating.buttons] == [lv.en for lv in LEVELS]
    k.tap(k.button(4))
    reasons = k.app.screens["reasons"]
    assert reasons.title.text == "What went wrong? (choose any)"
    assert [c.text.text for c in reasons.chips] == [r.en for r in Level.VERY_DISSATISFIED.reasons]
    assert reasons.submit.text.text == "Submit"
    k.tap(reasons.skip)
    assert k.app.screens["thanks"].title.text == "Thank you for your feedback"
    assert k.app.screens["thanks"].detail.text == "Your rating: Very dissatisfied"
    k.app.set_language("zh_CN")
    assert k.app.screens["thanks"].title.text == "感谢您的评价"
    assert rating.buttons[0].text.text == "非常满意"


def test_language_from_config_and_technician_toggle(make_kiosk):
    from kiosk.passcode import hash_pin

    k = make_kiosk(mode="transaction", ui={"language": "en", "technician_pin": hash_pin("1357")})
    idle = k.app.screens["idle"]
    assert idle.wait.text == "Welcome"
    k.app.open_pin()
    assert k.app.enter_pin("1357") is None
    k.advance(0)
    tech = k.app.screens["technician"]
    assert tech.actions["language"].text.text == "语言 / Language", "readable whichever language is on"
    k.tap(tech.actions["language"])
    assert k.app.language == "zh_CN"
    assert tech.title.text == "设备维护"
    assert tech.actions["language"].text.text == "语言 / Language"
    k.tap(tech.actions["close"])
    assert idle.wait.text == "欢迎"
