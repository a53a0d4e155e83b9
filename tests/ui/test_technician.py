"""The hidden technician screen: 3-second corner press, PIN, status and chores."""

import pytest

from kiosk.hardware.base import Source
from kiosk.passcode import hash_pin

PIN = "2468"


@pytest.fixture(scope="module")
def pin_hash():
    return hash_pin(PIN)


def corner(k):
    return 5, k.root.height - 5


def long_press(k, seconds: float = 3.0):
    k.tap_at(*corner(k), hold=seconds)


def type_pin(k, digits: str):
    pad = k.app.screens["pin"]
    for d in digits:
        k.tap(pad.keys[d])
    k.tap(pad.keys["ok"])


class LedPanel(Source):
    name = "gpio"

    def __init__(self):
        self.tests = 0

    def test_leds(self):
        self.tests += 1

    def health(self):
        return {"ok": True, "stuck": []}


def test_long_press_and_pin_open_the_technician_screen(make_kiosk, pin_hash):
    panel = LedPanel()
    k = make_kiosk(ui={"technician_pin": pin_hash}, sync={"server": "https://rating.example.gov.cn"},
                   sources=[panel])
    k.tap(k.button(0))
    k.advance(5)
    long_press(k, 1.0)
    assert k.screen == "rating", "a short press does nothing"
    long_press(k, 3.0)
    assert k.screen == "pin"
    type_pin(k, "1111")
    assert k.screen == "pin"
    assert k.app.screens["pin"].message.text == "密码错误"
    type_pin(k, PIN)
    assert k.screen == "technician"
    tech = k.app.screens["technician"]
    values = {key: value.text for key, (_, value) in tech.rows.items()}
    assert values["f_device_id"] == "test-kiosk"
    assert values["f_window"] == "7 / 综合服务区"
    assert values["f_server"] == "https://rating.example.gov.cn"
    assert values["f_pending"] == "1 / 0"
    counts = [(name.text, count.text) for name, count in tech.level_cells.values()]
    assert counts == [("非常满意", "1"), ("满意", "0"), ("基本满意", "0"), ("不满意", "0"), ("非常不满意", "0")]
    assert values["f_last_sync"] == "从未"
    assert "已同步" in values["f_clock"]
    assert values["f_hardware"] == "gpio 正常"
    assert values["f_state"] == "评价中"
    assert values["f_ip"]
    assert tech.rows["f_device_id"][0].text == "设备编号"

    k.tap(tech.actions["test_leds"])
    assert panel.tests == 1
    assert tech.message.text == "已向 1 个面板发送指示灯测试"
    k.tap(tech.actions["sync_now"])
    assert k.buffer.get_meta("sync.requested")
    assert tech.message.text == "已请求立即同步"

    k.tap(tech.actions["close"])
    assert k.screen == "rating"
    assert k.levels()["5"] == 1, "the corner presses rated nothing"


def test_hold_reaching_three_seconds_opens_pin_while_still_held(make_kiosk, pin_hash):
    from kivy.tests.common import UnitTestTouch

    k = make_kiosk(ui={"technician_pin": pin_hash})
    touch = UnitTestTouch(*corner(k))
    touch.touch_down()
    k.advance(2.9)
    assert k.screen == "rating"
    k.advance(0.2)
    assert k.screen == "pin"
    touch.touch_up()
    k.tap(k.app.screens["pin"].cancel)
    assert k.screen == "rating"


def test_switch_staff(make_kiosk, pin_hash):
    k = make_kiosk(ui={"technician_pin": pin_hash})
    long_press(k)
    type_pin(k, PIN)
    tech = k.app.screens["technician"]
    k.tap(tech.actions["switch_staff"])
    form = tech.staff_form
    assert form.inputs["staff_no_input"].text == "0231"
    form.inputs["staff_no_input"].text = "0502"
    form.inputs["staff_name_input"].text = "李华"
    k.tap(form.ok)
    assert tech.message.text == "当前人员：李华（0502）"
    assert form.parent is None
    k.tap(tech.actions["close"])
    card = k.app.screens["rating"].header.card
    assert (card.name_label.text, card.no_label.text) == ("李华", "工号 0502")
    k.tap(k.button(1))
    (rating,) = k.events("rating")
    assert (rating["staff_no"], rating["staff_name"]) == ("0502", "李华")


def test_wrong_pins_lock_the_pad(make_kiosk, pin_hash):
    k = make_kiosk(ui={"technician_pin": pin_hash})
    long_press(k)
    for _ in range(5):
        type_pin(k, "0000")
    assert k.app.screens["pin"].message.text.startswith("错误次数过多")
    type_pin(k, PIN)
    assert k.screen == "pin", "locked: even the right PIN waits"
    k.advance(61)
    type_pin(k, PIN)
    assert k.screen == "technician"


def test_without_a_pin_configured_it_refuses(make_kiosk):
    k = make_kiosk()
    long_press(k)
    pin = k.app.screens["pin"]
    assert k.screen == "pin"
    assert pin.title.text == "未设置维护密码"
    assert pin.pad.disabled
    k.tap(pin.keys["1"])
    pin.type("ok")
    assert k.screen == "pin"
    k.advance(5.1)
    assert k.screen == "rating"


def test_technician_screen_closes_itself_when_left_open(make_kiosk, pin_hash):
    k = make_kiosk(ui={"technician_pin": pin_hash})
    long_press(k)
    type_pin(k, PIN)
    assert k.screen == "technician"
    k.advance(119)
    assert k.screen == "technician"
    k.advance(2)
    assert k.screen == "rating"


def test_session_changes_while_technician_is_open_show_afterwards(make_kiosk, pin_hash):
    k = make_kiosk(mode="transaction", ui={"technician_pin": pin_hash})
    long_press(k)
    type_pin(k, PIN)
    k.device.trigger("P-5").result()
    k.advance(0)
    assert k.screen == "technician"
    k.tap(k.app.screens["technician"].actions["close"])
    assert k.screen == "rating"


def open_technician(k):
    long_press(k)
    type_pin(k, PIN)
    assert k.screen == "technician"
    return k.app.screens["technician"]


def wait_message(k, tech, seconds: float = 30.0) -> str:
    """Let Kivy run until the server test (a real HTTP call on a worker thread) reports."""
    import time

    from kiosk.screens.harness import settle

    deadline = time.monotonic() + seconds
    while tech.message.text.startswith("正在测试") and time.monotonic() < deadline:
        settle(1)
        time.sleep(0.02)
    return tech.message.text


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    from central import auth, db
    from testkit.server import running_server

    url = f"sqlite:///{tmp_path_factory.mktemp('central') / 'central.db'}"
    db.upgrade(url)
    token = auth.add_device(db.engine_for(url), "test-kiosk", window="7", section="综合服务区")
    with running_server(url) as server:
        yield server, token


def test_test_server_checks_reachability_and_the_token(make_kiosk, pin_hash, central):
    server, token = central
    k = make_kiosk(ui={"technician_pin": pin_hash}, sync={"server": str(server), "token": token})
    tech = open_technician(k)
    k.tap(tech.actions["test_server"])
    assert tech.message.text == "正在测试服务器…"
    text = wait_message(k, tech)
    assert text.startswith("OK: server ") and "reachable" in text and "token accepted" in text, text


def test_test_server_says_when_the_token_is_refused(make_kiosk, pin_hash, central):
    server, _ = central
    k = make_kiosk(ui={"technician_pin": pin_hash}, sync={"server": str(server), "token": "not-a-token"})
    tech = open_technician(k)
    k.tap(tech.actions["test_server"])
    text = wait_message(k, tech)
    assert text.startswith("FAIL: ") and "401" in text, text


def test_test_server_when_nothing_listens(make_kiosk, pin_hash):
    from testkit.server import free_port

    k = make_kiosk(ui={"technician_pin": pin_hash}, sync={"server": f"http://127.0.0.1:{free_port()}",
                                                          "token": "t"})
    tech = open_technician(k)
    k.tap(tech.actions["test_server"])
    text = wait_message(k, tech)
    assert text.startswith("FAIL: server cannot reach"), text


def test_touch_test_marks_each_target_and_reports(make_kiosk, pin_hash):
    k = make_kiosk(ui={"technician_pin": pin_hash})
    tech = open_technician(k)
    k.tap(tech.actions["touch_test"])
    test = tech.touch_test
    assert test.parent is tech and test.hint.text.startswith("请依次触摸每个圆圈")
    for target in test.targets[:-1]:
        k.tap(target)
        assert target.hit
    assert test.where.text.startswith("最后触摸：x=")
    assert test.parent is tech, "not done before every target answered"
    k.tap(test.targets[-1])
    k.advance(0)
    assert test.parent is None and tech.message.text == "触摸测试通过：5 个点全部响应"
    assert k.levels() == {str(n): 0 for n in range(1, 6)}, "touches in the test rate nothing"


def test_disk_space_and_the_last_sync_error_in_words(make_kiosk, pin_hash):
    k = make_kiosk(ui={"technician_pin": pin_hash})
    k.buffer.set_meta("sync.last_error", "401 unknown or revoked device token: stopped")
    tech = open_technician(k)
    values = {key: value.text for key, (_, value) in tech.rows.items()}
    assert values["f_last_sync"].startswith("从未; 服务器拒绝了设备令牌：请重新注册设备"), values["f_last_sync"]
    assert "(401 unknown" in values["f_last_sync"]
    assert values["f_disk"].startswith("剩余 ") and "，共 " in values["f_disk"]
    assert values["f_paused"] == "否"
    k.tap(tech.actions["language"])
    values = {key: value.text for key, (_, value) in tech.rows.items()}
    assert values["f_last_sync"].startswith("never; the server rejected the device token")
    assert [name.text for name, _ in tech.level_cells.values()][0] == "Very satisfied"
