"""Remote settings reach the screen live: language, staff card, the reasons offered."""

from kiosk import remote
from kiosk.device import SETTINGS_INTERVAL


def test_remote_settings_switch_language_staff_and_reasons(make_kiosk, tmp_path):
    k = make_kiosk()
    photo = tmp_path / "p.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    k.buffer.set_meta(remote.META_KEY, {"version": "9", "values": {
        "language": "en", "staff_no": "2002", "staff_name": "李四", "window": "B09",
        "staff_photo": str(photo), "reasons": {"1": ["115", "113"]}}})
    k.advance(SETTINGS_INTERVAL + 0.1)
    assert k.app.language == "en"
    assert k.app.photo_for("2002") == str(photo)
    k.tap(k.button(4))
    assert k.screen == "reasons"
    screen = k.app.screens["reasons"]
    assert [c.code for c in screen.chips] == ["115", "113"]
    k.tap({c.code: c for c in screen.chips}["113"])
    k.tap(screen.submit)
    (rating,) = k.events("rating")
    (detail,) = k.events("rating_detail")
    assert (rating["window_no"], rating["staff_no"], rating["staff_name"]) == ("B09", "2002", "李四")
    assert detail["reasons"] == ["113"]
