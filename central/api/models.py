"""Types shared by the routes' OpenAPI schema: the error answer, checked text,
a case id, the ``source`` filter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel

from ..stats import ALL_SOURCES


def _text(value: str) -> str:
    """Refuse text the database cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_text)]
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SOURCE_HELP = "one source or a comma list: " + ", ".join(ALL_SOURCES)
#: ``?source=paper,qr`` (checked by :func:`central.api.deps.sources`: an unknown name is a 400)
SourceParam = Annotated[Text | None, Query(max_length=200, description=SOURCE_HELP)]


class ErrorOut(BaseModel):
    error: str
    detail: Any = None


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the OpenAPI schema: these codes answer :class:`ErrorOut`."""
    return {code: {"model": ErrorOut} for code in codes}
