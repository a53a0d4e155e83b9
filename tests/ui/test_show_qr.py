"""``[ui] show_qr``: the window's QR (``qr_url`` from the remote settings) on the
idle and thanks screens, drawn on the device and decoded back from a screenshot."""

from pathlib import Path

import pytest
import zxingcpp

from kiosk import remote
from kiosk.device import SETTINGS_INTERVAL
from kiosk.screens.harness import settle

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
URL = "https://rating.example.gov.cn/r/Qm7x2KfA9pLd"


def decode(path: Path) -> list[str]:
    """The texts of the QR codes in a PNG (read back with Kivy, decoded by zxing-cpp)."""
    from kivy.core.image import Image as CoreImage

    image = CoreImage(str(path), keep_data=True)
    width, height = image.texture.size
    grey = image.texture.pixels[1::4]  # RGBA → the green channel as luminance
    view = memoryview(grey).cast("B", (height, width))
    return [code.text for code in zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode)]


def with_url(k, url: str = URL, version: str = "q1") -> None:
    """Remote settings carrying the window's QR page arrive (as the uploader stores them)."""
    k.buffer.set_meta(remote.META_KEY, {"version": version, "values": {"qr_url": url}})
    k.advance(SETTINGS_INTERVAL + 0.1)


def shot(k, name: str, tmp_path: Path | None = None) -> Path:
    settle(4)
    path = (tmp_path or SHOTS) / name
    k.root.export_to_png(str(path))
    return path


def inside(outer, inner) -> bool:
    """Whether widget ``inner`` lies within ``outer``'s window (in window coordinates)."""
    x, y = inner.to_window(*inner.pos)
    return x >= 0 and y >= 0 and x + inner.width <= outer.width + 0.5 and y + inner.height <= outer.height + 0.5


def overlaps(a, b) -> bool:
    ax, ay = a.to_window(*a.pos)
    bx, by = b.to_window(*b.pos)
    return ax < bx + b.width and bx < ax + a.width and ay < by + b.height and by < ay + a.height


def glyphs(label):
    """A stand-in widget for the drawn text of ``label``: its widest line, centred in its box
    (the texture itself is as wide as the box: the text wraps at the box's width)."""
    from kivy.core.text import Label as CoreLabel
    from kivy.uix.widget import Widget

    drawn = CoreLabel(text=label.text, font_size=label.font_size, font_name=label.font_name, bold=label.bold)
    drawn.refresh()
    w, h = drawn.texture.size[0], label.texture_size[1]
    box = Widget(size_hint=(None, None), size=(w, h))
    box.pos = (label.center_x - w / 2, label.center_y - h / 2)
    box.to_window = label.to_window
    return box


SIZES = ["1024x600", "800x480"]


@pytest.mark.parametrize("size", SIZES)
def test_idle_screen_shows_the_code_and_it_decodes(make_kiosk, size, tmp_path):
    k = make_kiosk("transaction", ui={"show_qr": True}, size=size)
    with_url(k)
    assert k.screen == "idle"
    panel = k.app.screens["idle"].qr
    assert panel.shown and panel.opacity == 1 and panel.caption.text == "扫码评价"
    assert min(panel.image.norm_image_size) >= 180
    assert inside(k.root, panel)
    idle = k.app.screens["idle"]
    for other in (idle.card, glyphs(idle.wait), glyphs(idle.hint)):
        assert not overlaps(panel, other)
    name = "ui_idle_qr.png" if size == SIZES[0] else "ui_idle_qr_800x480.png"
    assert decode(shot(k, name)) == [URL]


@pytest.mark.parametrize("size", SIZES)
def test_thanks_screen_shows_the_code_beside_the_face(make_kiosk, size):
    k = make_kiosk("transaction", ui={"show_qr": True}, size=size)
    with_url(k)
    k.device.trigger("P-1").result(5)
    k.advance(0)
    k.tap(k.button(0))
    assert k.screen == "thanks"
    screen = k.app.screens["thanks"]
    assert screen.qr.shown and min(screen.qr.image.norm_image_size) >= 180
    for other in (screen.face, glyphs(screen.title), glyphs(screen.detail)):
        assert not overlaps(screen.qr, other)
    name = "ui_thanks_qr.png" if size == SIZES[0] else "ui_thanks_qr_800x480.png"
    assert decode(shot(k, name)) == [URL]


def test_english_caption(make_kiosk):
    k = make_kiosk("transaction", ui={"show_qr": True, "language": "en"})
    with_url(k)
    assert k.app.screens["idle"].qr.caption.text == "Scan to rate"


def test_no_code_without_a_url(make_kiosk, tmp_path):
    k = make_kiosk("transaction", ui={"show_qr": True})
    panel = k.app.screens["idle"].qr
    assert not panel.shown and panel.opacity == 0 and not inside(k.root, panel)
    assert decode(shot(k, "idle.png", tmp_path)) == []


def test_show_qr_off_shows_no_code_even_with_a_url(make_kiosk, tmp_path):
    k = make_kiosk("transaction")
    with_url(k)
    assert k.device.extras["qr_url"] == URL
    assert not k.app.screens["idle"].qr.shown
    assert decode(shot(k, "idle.png", tmp_path)) == []
    k.device.trigger().result(5)
    k.advance(0)
    k.tap(k.button(1))
    assert k.screen == "thanks" and not k.app.screens["thanks"].qr.shown


def test_new_url_replaces_the_code(make_kiosk, tmp_path):
    k = make_kiosk("transaction", ui={"show_qr": True})
    with_url(k)
    with_url(k, "http://10.0.0.5:8000/r/second", version="q2")
    assert decode(shot(k, "idle.png", tmp_path)) == ["http://10.0.0.5:8000/r/second"]


def test_the_url_shows_after_a_restart_with_no_server(make_kiosk, tmp_path):
    """The URL is kept with the remote settings in the buffer: a device that restarts
    offline (no [sync] server at all) still shows the code."""
    from kiosk.buffer import Buffer

    first = make_kiosk("transaction", ui={"show_qr": True})
    with_url(first)
    path = first.buffer.path
    first.app.unmount()
    first.device.close()
    again = make_kiosk("transaction", ui={"show_qr": True}, buffer_cls=lambda _p: Buffer(path))
    assert again.device.extras.get("qr_url") == URL
    assert again.app.screens["idle"].qr.shown
    assert decode(shot(again, "idle.png", tmp_path)) == [URL]


@pytest.mark.parametrize("value", ["ftp://x.example/r/1", "javascript:alert(1)", "https://", "https://a b/",
                                   "https://x.example/" + "a" * 500, 42])
def test_bad_qr_url_is_refused_naming_the_key(value):
    with pytest.raises(ValueError, match=r"settings\.qr_url: expected an http\(s\) URL of at most 512"):
        remote.validate({"qr_url": value})


def test_heartbeat_answer_carries_qr_url_and_the_device_caches_it(tmp_path, make_kiosk):
    """A real HTTP server on 127.0.0.1 answering heartbeats like the central server,
    with ``qr_url`` among the follow-up values: the uploader's heartbeat stores it,
    the device shows it, and it stays after the server is gone."""
    import json

    from kiosk.clock import FakeClock
    from sync.client import Client
    from sync.heartbeat import Heartbeat

    from ..local_api_support import scripted_server

    k = make_kiosk("transaction", ui={"show_qr": True})
    answer = {"ok": True, "settings": {"version": "hb-3", "values": {"supervision_phone": "0531-12345",
                                                                       "qr_url": URL}}}
    with scripted_server(json.dumps(answer).encode()) as server:
        beat = Heartbeat(k.buffer, Client(server, "device-token"), device_id="test-kiosk", clock=FakeClock(),
                         data_dir=tmp_path)
        assert beat.send()
    assert k.buffer.get_meta(remote.META_KEY)["values"]["qr_url"] == URL
    k.advance(SETTINGS_INTERVAL + 0.1)
    assert k.device.extras["qr_url"] == URL
    assert k.device.buffer.get_meta("settings.applied")["qr_url"] == URL
    assert decode(shot(k, "idle.png", tmp_path)) == [URL]


def test_heartbeat_answer_with_a_bad_qr_url_keeps_the_last_settings(tmp_path, make_kiosk):
    import json

    from kiosk.clock import FakeClock
    from sync.client import Client
    from sync.heartbeat import Heartbeat

    from ..local_api_support import scripted_server

    k = make_kiosk("transaction", ui={"show_qr": True})
    with_url(k)
    answer = {"settings": {"version": "hb-4", "values": {"qr_url": "javascript:alert(1)"}}}
    with scripted_server(json.dumps(answer).encode()) as server:
        assert Heartbeat(k.buffer, Client(server, "t"), device_id="test-kiosk", clock=FakeClock(),
                         data_dir=tmp_path).send()
    assert k.buffer.get_meta(remote.META_KEY)["version"] == "q1"
    assert k.app.screens["idle"].qr.url == URL
