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


# --- end to end: server → heartbeat answer → uploader → buffer → device ------------------------

def _console(child, line, expect, timeout=20):
    import time
    child.stdin.write(line + "\n")
    child.stdin.flush()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = child.stdout.readline()
        if not out:
            return None
        if out.startswith(expect):
            return out.strip()
    return None


def _wait(pred, timeout=90):
    """``pred()`` once it is truthy; the device and uploader are separate processes that
    start and poll on their own, slower on a loaded machine."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_end_to_end_live_and_offline(tmp_path):
    import json
    import subprocess

    import requests

    from testkit import server as testing

    from .conftest import kiosk_cmd, status_json, write_config

    url = str(tmp_path / "server.db")
    token = testing.add_device(url, "dev-7", window="A07")
    testing.add_user(url, "boss", "password123", "supervisor")
    testing.add_user(url, "reader", "password123", "viewer")
    (tmp_path / "token").write_text(token)
    with testing.running_server(url) as server:
        cfg = write_config(tmp_path / "kiosk.toml", f'''
[device]
id = "dev-7"
window = "A07"
data_dir = "{tmp_path / 'data'}"
[ui]
cooldown_seconds = 0
[sync]
server = "{server}"
token_file = "{tmp_path / 'token'}"
interval_seconds = 0.5
[local_api]
enabled = false
''')
        login = requests.post(server + "/api/v1/login", json={"username": "boss", "password": "password123"},
                              timeout=10).json()["token"]
        h = {"Authorization": f"Bearer {login}"}
        assert requests.put(server + "/api/v1/staff/2002", json={"name": "李四"}, headers=h, timeout=10).ok
        png = b"\x89PNG\r\n\x1a\n" + bytes(200)
        assert requests.put(server + "/api/v1/staff/2002/photo", data=png,
                            headers={**h, "Content-Type": "image/png"}, timeout=10).ok
        r = requests.put(server + "/api/v1/devices/dev-7/settings", headers=h, timeout=10,
                         json={"settings": {"window": "B09", "staff_no": "2002", "reasons": {"1": ["115"]}}})
        assert r.status_code == 200, r.text
        assert requests.put(server + "/api/v1/devices/dev-7/settings", json={"mode": "x"}, headers=h,
                            timeout=10).status_code == 400
        viewer = requests.post(server + "/api/v1/login", json={"username": "reader", "password": "password123"},
                               timeout=10).json()["token"]
        hv = {"Authorization": f"Bearer {viewer}"}
        assert requests.put(server + "/api/v1/devices/dev-7/settings", json={"mode": "free"}, headers=hv,
                            timeout=10).status_code == 403
        assert requests.get(server + "/api/v1/devices/dev-7/settings", headers=hv,
                            timeout=10).json()["values"]["window"] == "B09"
        assert requests.get(server + "/api/v1/staff/2002/photo", timeout=10).status_code == 401

        device = subprocess.Popen(kiosk_cmd("run", "--headless", "--console", "--config", str(cfg)),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, bufsize=1)
        uploader = subprocess.Popen(kiosk_cmd("sync", "--config", str(cfg)), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            applied = _wait(lambda: (status_json(cfg).get("settings") or {}).get("window") == "B09"
                            and status_json(cfg)["settings"])
            assert applied["staff_no"] == "2002" and applied["staff_name"] == "李四"
            photo = applied["staff_photo"]
            assert open(photo, "rb").read() == png
            ack = _console(device, "5", ("ACK", "NAK"))
            assert ack.startswith("ACK 5")
            # live change while running: transaction mode
            requests.put(server + "/api/v1/devices/dev-7/settings", headers=h, timeout=10,
                         json={"settings": {"window": "B09", "staff_no": "2002", "mode": "transaction"}})
            _wait(lambda: (status_json(cfg).get("settings") or {}).get("mode") == "transaction")
            assert _console(device, "1", ("ACK", "NAK")) == "NAK 1 no_prompt"
        finally:
            uploader.terminate()
            device.stdin.close()
            uploader.wait(20)
            device.wait(20)
    # the server is gone: a restarted device keeps the last settings
    device = subprocess.Popen(kiosk_cmd("run", "--headless", "--console", "--config", str(cfg)),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, bufsize=1)
    try:
        assert _console(device, "t P1", ("PROMPT",)).startswith("PROMPT")
        assert _console(device, "2", ("ACK", "NAK")).startswith("ACK 2")
    finally:
        device.stdin.close()
        device.wait(20)
    buf = Buffer(tmp_path / "data" / "buffer.db")
    rows = [json.loads(r[0]) for r in buf.conn.execute(
        "SELECT payload FROM events WHERE type = 'rating' ORDER BY seq")]
    assert [(e["window_no"], e["staff_no"], e["staff_name"]) for e in rows] == [("B09", "2002", "李四")] * 2


def test_the_hall_follow_up_reaches_every_device(tmp_path):
    """[server] rectify_days / rectify_day_kind / supervision_phone travel with every
    heartbeat answer, so the thanks screen after a 差评 says what this hall does,
    also on a device that has no settings of its own."""
    import subprocess

    from testkit import server as testing

    from .conftest import kiosk_cmd, status_json, write_config

    url = str(tmp_path / "server.db")
    (tmp_path / "token").write_text(testing.add_device(url, "dev-8", window="A08"))
    with testing.running_server(url, rectify_days=7, rectify_day_kind="working",
                                supervision_phone="0531-12345") as server:
        cfg = write_config(tmp_path / "kiosk.toml", f'''
[device]
id = "dev-8"
window = "A08"
data_dir = "{tmp_path / 'data'}"
[sync]
server = "{server}"
token_file = "{tmp_path / 'token'}"
interval_seconds = 0.5
[local_api]
enabled = false
''')
        device = subprocess.Popen(kiosk_cmd("run", "--headless", "--console", "--config", str(cfg)),
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  text=True)
        uploader = subprocess.Popen(kiosk_cmd("sync", "--config", str(cfg)), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            def follow_up() -> dict:
                try:  # the device may hold the buffer's write lock just then (start-up)
                    applied = status_json(cfg).get("settings") or {}
                except AssertionError:
                    return {}
                return applied if applied.get("supervision_phone") else {}

            applied = _wait(follow_up)
        finally:
            uploader.terminate()
            device.stdin.close()
            uploader.wait(20)
            device.wait(20)
    assert applied["rectify_days"] == 7 and applied["rectify_day_kind"] == "working"
    assert applied["supervision_phone"] == "0531-12345"
    assert applied["window"] == "A08"  # the device's own config stays in force


def test_applied_record_is_written_once_the_buffer_takes_it(make_cfg, clock, monkeypatch):
    """The uploader may hold the buffer's write lock just when new settings are applied:
    the ``settings.applied`` record (what ``kiosk status`` shows) is written on a later
    round, not lost until the next version."""
    device = Device(make_cfg(), clock=clock)
    device.adopt()
    push(device.buffer.path, 4, {"window": "C03", "section": "社保医保", "staff_no": "3003", "staff_name": "王五"})
    real = device.buffer.set_meta
    refused = []

    def busy(key, value):
        if key == "settings.applied" and not refused:
            refused.append(key)
            raise OSError("database is locked")
        return real(key, value)

    monkeypatch.setattr(device.buffer, "set_meta", busy)
    clock.advance(SETTINGS_INTERVAL + 0.1)
    device.pump()
    assert refused and device.session.settings.window.window_no == "C03"
    assert (device.buffer.get_meta("settings.applied") or {}).get("version") != 4
    clock.advance(SETTINGS_INTERVAL + 0.1)
    device.pump()
    applied = device.buffer.get_meta("settings.applied")
    assert applied["version"] == 4 and applied["window"] == "C03"
