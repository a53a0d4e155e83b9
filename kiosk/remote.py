"""Per-device settings kept on the central server (docs/api.md, "Remote settings and the staff roster").

The uploader receives them in the heartbeat response and stores them in the
buffer's meta table (``settings.remote``); the device process picks them up
without a restart and, because the buffer is durable, keeps working on the
last known settings while offline and across restarts.

Values a server may set, all optional (absent = the local config's value):

``window``, ``section``, ``staff_no``, ``staff_name``, ``staff_photo`` (a path
under the data dir, written by the uploader), ``mode`` (free|transaction),
``language`` (zh_CN|en), ``reasons_for`` (bad|all), ``reasons`` (per level,
wire order, the subset of national codes to offer: ``{"1": ["115", "113"]}``),
and for the thanks screen after a 差评: ``rectify_days`` (1..60),
``rectify_day_kind`` (natural|working) and ``supervision_phone`` (监督电话);
``qr_url`` (the window's QR page, an http(s) URL of at most 512 characters)
for the QR on the idle and thanks screens (``[ui] show_qr``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .events import Window
from .levels import REASON_BY_CODE
from .session import Settings
from .status import SETTINGS_REMOTE

#: The buffer meta key that holds the settings last received.
META_KEY = SETTINGS_REMOTE

_TEXT = {"window": 32, "section": 64, "staff_no": 32, "staff_name": 64, "staff_photo": 512,
         "supervision_phone": 32}
_CHOICES = {"mode": ("free", "transaction"), "language": ("zh_CN", "en"), "reasons_for": ("bad", "all"),
            "rectify_day_kind": ("natural", "working")}


#: What the thanks screen says after a 差评 (the hall's deadline rule and 监督电话),
#: and the window's QR page (``qr_url``) the idle and thanks screens may show.
FOLLOW_UP_KEYS = ("rectify_days", "rectify_day_kind", "supervision_phone", "qr_url")

MAX_QR_URL = 512
_QR_URL = re.compile(r"https?://[^/\s?#]+(?:[/?#]\S*)?")


def validate(values: Any) -> dict[str, Any]:
    """Check a settings object; raises ValueError naming the first bad key."""
    if not isinstance(values, dict):
        raise ValueError("settings must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _TEXT:
            if not isinstance(value, str) or len(value) > _TEXT[key]:
                raise ValueError(f"settings.{key}: expected a string of at most {_TEXT[key]} characters")
            out[key] = value
        elif key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ValueError(f"settings.{key}: expected one of {', '.join(_CHOICES[key])}, got {value!r}")
            out[key] = value
        elif key == "reasons":
            out[key] = _reasons(value)
        elif key == "rectify_days":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 60:
                raise ValueError(f"settings.rectify_days: expected a whole number of days 1..60, got {value!r}")
            out[key] = value
        elif key == "qr_url":
            out[key] = _qr_url(value)
        else:
            raise ValueError(f"settings.{key}: unknown setting; expected one of "
                             f"{', '.join(sorted([*_TEXT, *_CHOICES, 'reasons', 'rectify_days', 'qr_url']))}")
    return out


def _qr_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_QR_URL or not _QR_URL.fullmatch(value):
        raise ValueError(f"settings.qr_url: expected an http(s) URL of at most {MAX_QR_URL} characters, "
                         f"got {str(value)[:60]!r}")
    return value


def _reasons(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError('settings.reasons: expected an object like {"1": ["115", "113"]}')
    out = {}
    for wire, codes in value.items():
        if str(wire) not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"settings.reasons: {wire!r} is not a level (1..5, wire order)")
        if not isinstance(codes, list):
            raise ValueError(f"settings.reasons.{wire}: expected a list of reason codes")
        for code in codes:
            reason = REASON_BY_CODE.get(str(code))
            if reason is None or reason.wire != int(wire):
                raise ValueError(f"settings.reasons.{wire}: {code!r} is not a national reason code of level {wire}")
        out[str(wire)] = [str(c) for c in codes]
    return out


def merge(cfg, remote: dict[str, Any] | None) -> tuple[Settings, dict[str, Any]]:
    """The session settings and display extras (language, staff photo) that
    apply: the local config overlaid with the server's values."""
    base = Settings.from_config(cfg)
    extras = {"language": cfg.ui.language, "staff_photo": cfg.staff.photo, "version": None}
    if not remote:
        return base, extras
    values = remote.get("values") or {}
    window = base.window
    staff_changed = "staff_no" in values and values["staff_no"] != window.staff_no
    window = Window(
        window_no=values.get("window", window.window_no),
        section=values.get("section", window.section),
        staff_no=values.get("staff_no", window.staff_no),
        staff_name=values.get("staff_name", "" if staff_changed else window.staff_name),
        channel=window.channel,
    )
    reasons = values.get("reasons")
    settings = dataclasses.replace(
        base, window=window, mode=values.get("mode", base.mode),
        reasons_for=values.get("reasons_for", base.reasons_for),
        reasons={int(k): tuple(v) for k, v in reasons.items()} if reasons else None)
    extras = {"language": values.get("language", extras["language"]),
              "staff_photo": values.get("staff_photo", "" if staff_changed else extras["staff_photo"]),
              "version": remote.get("version"),
              **{k: values[k] for k in FOLLOW_UP_KEYS if k in values}}
    return settings, extras
