"""The window's QR code on the touch screen (``[ui] show_qr``): the citizen scans
it to rate on their phone (the ``qr_url`` the server sends with the heartbeat
answer, kept with the remote settings so it shows offline too).

The code is drawn on the device with segno: black modules on white with the
standard quiet zone of four modules, one texture pixel per module scaled up
without smoothing, so the edges stay sharp at any size.
"""

from __future__ import annotations

from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.image import Image

from .base import park, unpark
from .widgets import INK, Text

QUIET_ZONE = 4  #: modules of white around the code (ISO/IEC 18004)


def qr_texture(url: str) -> Texture:
    """A texture of the QR code for ``url`` (error correction M), quiet zone included."""
    import segno

    rows = [list(row) for row in segno.make_qr(url, error="m").matrix_iter(scale=1, border=QUIET_ZONE)]
    size = len(rows)
    # Kivy textures start at the bottom row; RGBA keeps every row 4-byte aligned.
    pixels = bytes(v for row in reversed(rows) for dark in row
                   for v in ((0, 0, 0, 255) if dark else (255, 255, 255, 255)))
    texture = Texture.create(size=(size, size), colorfmt="rgba")
    texture.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte")
    texture.mag_filter = "nearest"
    texture.min_filter = "nearest"
    return texture


class QrPanel(FloatLayout):
    """A white card with the QR code and the caption "扫码评价" under it;
    out of sight while there is no URL."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.canvas.before:
            Color(1, 1, 1, 1)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._redraw, size=self._redraw)
        self.image = Image(fit_mode="contain", size_hint=(0.96, 0.84), pos_hint={"center_x": 0.5, "top": 0.985})
        self.caption = Text(rel_size=0.034, bold=True, color=INK, size_hint=(1, 0.14), pos_hint={"x": 0, "y": 0})
        self.add_widget(self.image)
        self.add_widget(self.caption)
        self.url: str | None = None
        park(self)

    def _redraw(self, *_) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size

    @property
    def shown(self) -> bool:
        return self.url is not None

    def show_url(self, url: str | None) -> None:
        """Show the code for ``url``; None hides the panel."""
        if url == self.url:
            return
        self.url = url
        if url is None:
            self.image.texture = None
            park(self)
            return
        self.image.texture = qr_texture(url)
        unpark(self)
