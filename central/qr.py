"""Window QR codes: a random code per window that an admin can rotate, the
address it stands for (``[server] public_url`` + ``/r/{code}``), its PNG and SVG.

The code is made the first time a window's QR is asked for; rotating it makes a
new one, and the old address then answers 404 (a poster taken from the wall, or
a photo of it passed around, stops working). The phone page that the address
opens is :mod:`central.web.pages.qr`.
"""

from __future__ import annotations

import io
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .auth import utcnow
from .db import write_tx

metadata = sa.MetaData()

window_qr_codes = sa.Table(
    "window_qr_codes", metadata,
    sa.Column("window_no", sa.Text, primary_key=True),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
)


def _new_code() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 random bits


def code_for(engine: Engine, window_no: str, actor: str = "system") -> str:
    """The window's current code, made on first use."""
    with engine.connect() as conn:
        code = current_code(conn, window_no)
    if code is not None:
        return code
    with write_tx(engine) as conn:
        return ensure_code(conn, window_no, actor)


def ensure_code(conn: Connection, window_no: str, actor: str = "system") -> str:
    """:func:`code_for` inside the caller's write transaction."""
    code = current_code(conn, window_no)
    if code is None:
        code = _new_code()
        conn.execute(window_qr_codes.insert().values(window_no=window_no, code=code, created_at=utcnow(),
                                                     created_by=actor))
    return code


def current_code(conn: Connection, window_no: str) -> str | None:
    return conn.execute(sa.select(window_qr_codes.c.code).where(window_qr_codes.c.window_no == window_no)).scalar()


def rotate(engine: Engine, window_no: str, actor: str) -> str:
    """A new code for the window; the old address stops working."""
    code = _new_code()
    with write_tx(engine) as conn:
        n = conn.execute(window_qr_codes.update().where(window_qr_codes.c.window_no == window_no)
                         .values(code=code, created_at=utcnow(), created_by=actor)).rowcount
        if not n:
            conn.execute(window_qr_codes.insert().values(window_no=window_no, code=code, created_at=utcnow(),
                                                         created_by=actor))
    return code


def window_of(conn: Connection, code: str) -> str | None:
    """The window a code belongs to (None: unknown or rotated away)."""
    return conn.execute(sa.select(window_qr_codes.c.window_no).where(window_qr_codes.c.code == code)).scalar()


def url_for(public_url: str, code: str) -> str:
    """The address a window's QR code stands for."""
    return public_url.rstrip("/") + "/r/" + code


def png(url: str, scale: int = 10) -> bytes:
    """The QR code of ``url`` as a PNG (error correction M, four-module quiet zone)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def svg(url: str) -> str:
    """The QR code of ``url`` as an inline ``<svg>`` element (for the printed poster)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=10, border=4, xmldecl=False,
                                                  svgns=True, nl=False, svgclass="qr", lineclass=None)
    return out.getvalue().decode("utf-8")
