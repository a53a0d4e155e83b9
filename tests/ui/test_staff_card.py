"""The staff card: photo when there is one, a placeholder when there is none."""

import struct
import zlib

from kivy.uix.image import Image

from kiosk.screens.widgets import PhotoPlaceholder


def write_png(path, size=32, rgb=(200, 120, 40)):
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def photo_of(card):
    (child,) = card.photo_box.children
    return child


def test_configured_photo_is_shown(make_kiosk, tmp_path):
    photo = write_png(tmp_path / "zhang.png")
    k = make_kiosk(staff={"photo": str(photo)})
    shown = photo_of(k.app.screens["rating"].header.card)
    assert isinstance(shown, Image) and shown.source == str(photo)
    assert shown.texture is not None and shown.texture.size == (32, 32)


def test_placeholder_without_photo_and_per_staff_photos(make_kiosk, tmp_path):
    k = make_kiosk(staff={"photo": str(tmp_path / "missing.png")})
    card = k.app.screens["rating"].header.card
    assert isinstance(photo_of(card), PhotoPlaceholder)
    (tmp_path / "staff").mkdir()
    photo = write_png(tmp_path / "staff" / "0502.png")
    k.device.submit(k.device.session.set_staff, "0502", "李华").result()
    k.advance(0)
    assert isinstance(photo_of(card), Image) and photo_of(card).source == str(photo)
    assert card.name_label.text == "李华"
