"""The staff card: photo when there is one, a placeholder when there is none;
name and 工号 at least as large as the prompt, long names fitted inside the card."""

import struct
import zlib

import pytest
from kivy.uix.image import Image

from kiosk.screens.harness import settle
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


LONG_NAME = "欧阳木合塔尔·买买提"
LONG_SECTION = "不动产登记与税务综合服务区（二楼东侧）"


def inside(inner, outer) -> bool:
    ix, iy = inner.to_window(inner.x, inner.y)
    ox, oy = outer.to_window(outer.x, outer.y)
    return ix >= ox - 0.5 and iy >= oy - 0.5 and ix + inner.width <= ox + outer.width + 0.5 \
        and iy + inner.height <= oy + outer.height + 0.5


@pytest.mark.parametrize("size", ["800x480", "1024x600"])
@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("name", ["张敏", LONG_NAME])
def test_staff_card_reads_from_the_citizens_chair(make_kiosk, tmp_path, size, language, name):
    photo = write_png(tmp_path / "p.png", size=90)
    k = make_kiosk(size=size, ui={"language": language},
                   staff={"name": name, "no": "20231187", "photo": str(photo)}, device={"section": LONG_SECTION})
    settle(3)
    screen = k.app.screens["rating"]
    band, card = screen.header, screen.header.card
    prompt = band.message
    for label in (card.name_label, card.no_label):
        assert label.font_size >= prompt.font_size, f"{label.text!r} smaller than the prompt line"
        assert not label.overflows(), f"{label.text!r} does not fit its box"
        assert inside(label, card), f"{label.text!r} leaves the card"
    assert card.name_label.font_size >= 0.04 * k.root.height, "still large after fitting a long name"
    if name == LONG_NAME:
        assert card.name_label.text == "欧阳木合塔尔·\n买买提", "broken at the middle dot, not mid-name"
    assert inside(card, band), "the card stays in the band, out of the buttons"
    image = photo_of(card)
    assert isinstance(image, Image)
    assert image.norm_image_size[1] >= band.height / 5, "the photo is at least 1/5 of the band's height"
    assert screen.footer.text == LONG_SECTION and not screen.footer.overflows()
    assert screen.footer.font_size >= 12
