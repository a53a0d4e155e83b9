"""Remote settings on the device: applied live, kept across restarts while offline."""

import pytest

from kiosk import remote
from kiosk.buffer import Buffer
from kiosk.device import SETTINGS_INTERVAL, Device
from kiosk.session import State


def push(path, version, values):
    """What the uploader does when a heartbeat answer carries new settings (another process)."""
    buf = Buffer(path)
    buf.set_meta(remote.META_KEY, {"version": version, "values": values})
    buf.close()


class Recorder:
    def __init__(self):
        self.settings = []

    def on_settings(self, extras):
        self.settings.append(extras)


def test_applied_live_without_restart(make_cfg, clock):
    cfg = make_cfg()
    device = Device(cfg, clock=clock)
    device.adopt()
    rec = Recorder()
    device.add_listener(rec)
    assert device.press(0, "touch").result().event["window_no"] == "A01"
    push(device.buffer.path, 3, {"window": "B09", "section": "不动产登记", "staff_no": "2002",
                                 "staff_name": "李四", "language": "en", "reasons": {"1": ["115", "113"]}})
    clock.advance(SETTINGS_INTERVAL + 0.1)
    device.pump()
    assert rec.settings[-1]["language"] == "en"
    clock.advance(10)
    device.pump()
    out = device.press(4, "touch").result()
    ev = out.event
    assert (ev["window_no"], ev["section"], ev["staff_no"], ev["staff_name"]) == ("B09", "不动产登记", "2002", "李四")
    assert device.session.view().offered_reasons == ("115", "113")
    applied = device.buffer.get_meta("settings.applied")
    assert applied["version"] == 3 and applied["window"] == "B09" and applied["language"] == "en"


def test_mode_switch_takes_effect_at_home(make_cfg, clock):
    device = Device(make_cfg(), clock=clock)
    device.adopt()
    assert device.session.state is State.RATING
    push(device.buffer.path, 1, {"mode": "transaction"})
    clock.advance(SETTINGS_INTERVAL + 0.1)
    device.pump()
    assert device.session.state is State.IDLE
    assert device.press(0, "touch").result().reason == "no_prompt"


def test_kept_across_restart_while_offline(make_cfg, clock):
    cfg = make_cfg()
    device = Device(cfg, clock=clock)
    push(device.buffer.path, 7, {"window": "C03", "staff_no": "3003"})
    device.close()
    again = Device(cfg, clock=clock)  # no server anywhere: the last known settings apply at once
    again.adopt()
    ev = again.press(1, "touch").result().event
    assert (ev["window_no"], ev["staff_no"], ev["staff_name"]) == ("C03", "3003", "")


def test_bad_remote_settings_are_ignored_with_the_config_kept(make_cfg, clock):
    cfg = make_cfg()
    device = Device(cfg, clock=clock)
    device.adopt()
    push(device.buffer.path, 2, {"mode": "chaos"})
    clock.advance(SETTINGS_INTERVAL + 0.1)
    device.pump()
    assert device.session.settings.mode == "free"


@pytest.mark.parametrize("values, message", [
    ({"mode": "x"}, "settings.mode: expected one of free, transaction"),
    ({"colour": "red"}, "settings.colour: unknown setting"),
    ({"window": 3}, "settings.window: expected a string"),
    ({"reasons": {"1": ["207"]}}, "not a national reason code of level 1"),
    ({"reasons": {"9": []}}, "is not a level"),
    ([], "must be a JSON object"),
])
def test_validation_names_the_key(values, message):
    with pytest.raises(ValueError, match=message):
        remote.validate(values)
