"""Case attachments: the written report (限期整改), the formal document (暂不能整改),
a photo of the fix (docs/api.md "Attachments").

A file is accepted only when its declared ``Content-Type`` is PDF, PNG or JPEG
AND its first bytes are that format's signature, and it is at most
:data:`MAX_BYTES`. It is stored in the database under a generated id: the name a
user gives is kept for display and for the download's
``Content-Disposition: attachment`` only, never used as a path. Downloads need
a login (the route checks it).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import CentralError
from .db import case_attachments, cases, write_tx
from .timefmt import rfc3339

MAX_BYTES = 10 * 1024 * 1024
#: Content-Type → the signatures its bytes may start with, and the file-name suffix.
TYPES: dict[str, tuple[tuple[bytes, ...], str]] = {
    "application/pdf": ((b"%PDF-",), ".pdf"),
    "image/png": ((b"\x89PNG\r\n\x1a\n",), ".png"),
    "image/jpeg": ((b"\xff\xd8\xff",), ".jpg"),
}


class AttachmentError(CentralError, ValueError):
    """A file that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def clean_name(name: str | None, content_type: str) -> str:
    """A display name: no directories, no control characters, at most 120 characters,
    with the suffix of its type."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".")
    base = re.sub(r"\s+", " ", base)[:120] or "attachment"
    suffix = TYPES[content_type][1]
    if not base.lower().endswith((suffix, ".jpeg") if suffix == ".jpg" else (suffix,)):
        base += suffix
    return base


def check_type(content_type: str | None) -> str:
    """The accepted media type named by a ``Content-Type`` header, or a 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in TYPES:
        raise AttachmentError(f"Content-Type {media or 'missing'!r} is not accepted: send application/pdf, "
                              "image/png or image/jpeg", 415)
    return media


def check(content_type: str | None, data: bytes) -> str:
    """The media type of an acceptable file, or :class:`AttachmentError`."""
    media = check_type(content_type)
    if len(data) > MAX_BYTES:
        raise AttachmentError(f"the file is {len(data)} bytes: at most {MAX_BYTES} (10 MiB) are accepted", 413)
    if not data:
        raise AttachmentError("the file is empty: send its bytes as the request body")
    if not data.startswith(TYPES[media][0]):
        raise AttachmentError(f"the file's bytes are not {media}: it does not start with that format's "
                              "signature; send the real file with its own Content-Type", 415)
    return media


def store(engine: Engine, case_id: int, name: str | None, content_type: str | None, data: bytes, *,
          actor: str, now: datetime) -> dict[str, Any]:
    """Check and keep a file for a case; returns its listing entry."""
    media = check(content_type, data)
    display = clean_name(name, media)
    with write_tx(engine) as conn:
        if conn.execute(sa.select(cases.c.id).where(cases.c.id == case_id)).first() is None:
            raise AttachmentError(f"no case {case_id}", 404)
        att_id = conn.execute(case_attachments.insert().values(
            case_id=case_id, name=display, content_type=media, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), content=data, uploaded_by=actor, uploaded_at=now)
            .returning(case_attachments.c.id)).scalar_one()
    return {"id": att_id, "name": display, "content_type": media, "size": len(data)}


_LISTED = [case_attachments.c[n] for n in ("id", "name", "content_type", "size", "sha256", "uploaded_by",
                                            "uploaded_at")]


def listing(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """The files of a case, oldest first, without their bytes."""
    rows = conn.execute(sa.select(*_LISTED).where(case_attachments.c.case_id == case_id)
                        .order_by(case_attachments.c.id))
    return [{"id": r.id, "name": r.name, "content_type": r.content_type, "size": r.size, "sha256": r.sha256,
             "uploaded_by": r.uploaded_by, "uploaded_at": rfc3339(r.uploaded_at, "seconds")}
            for r in rows]


def ids_of(conn: Connection, case_id: int) -> set[int]:
    return {r.id for r in conn.execute(sa.select(case_attachments.c.id)
                                       .where(case_attachments.c.case_id == case_id))}


def fetch(conn: Connection, case_id: int, att_id: int):
    """The row (with bytes) of one file of one case, or None."""
    return conn.execute(sa.select(case_attachments).where(case_attachments.c.case_id == case_id,
                                                          case_attachments.c.id == att_id)).first()


def download_headers(row) -> dict[str, str]:
    """Headers that make a browser save the file, never render it in our origin."""
    ascii_name = row.name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.name)}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox"}
