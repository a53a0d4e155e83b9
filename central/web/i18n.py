"""Chinese first, English on request (``?lang=en`` or the ``kiosk_lang`` cookie)."""

from __future__ import annotations

from fastapi import Request

from ..api.deps import LANG_COOKIE as COOKIE

LANGS = ("zh", "en")


def pick(request: Request) -> tuple[str, bool]:
    """The page language and whether the cookie must be (re)set."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked, request.cookies.get(COOKIE) != asked
    cookie = request.cookies.get(COOKIE)
    return (cookie if cookie in LANGS else "zh"), False


def translator(lang: str):
    """``_("中文", "English")`` in templates."""
    def _(zh: str, en: str) -> str:
        return en if lang == "en" else zh
    return _
