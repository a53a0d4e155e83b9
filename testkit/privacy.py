"""What a public page or a pushed record must never contain: a mainland mobile number."""

from __future__ import annotations

import re

# 11 digits starting 13x-19x, whole or masked in the middle (138****5678), standing alone:
# the hex digits of a UUID around it do not make it a phone number.
_MOBILE = re.compile(r"(?<![0-9A-Fa-f])1[3-9]\d(?:\d{4}|\*{4})\d{4}(?![0-9A-Fa-f])")


def phone_numbers(text: str | bytes) -> list[str]:
    """Every mobile number, whole or masked, found in *text*."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _MOBILE.findall(text)
