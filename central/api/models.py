"""Types shared by the routes' OpenAPI schema: the error answer, checked text,
a case id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel


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


class ErrorOut(BaseModel):
    error: str
    detail: Any = None


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the OpenAPI schema: these codes answer :class:`ErrorOut`."""
    return {code: {"model": ErrorOut} for code in codes}
