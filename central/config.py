"""The central server's configuration: the ``[server]`` TOML table and the
:class:`Settings` the app is built from.

The file is read with the device's loader (:mod:`kiosk.config`), so errors
name the file, the key and what was expected. Without ``--config`` the server
reads ``$KIOSK_SERVER_CONFIG``, else ``/etc/kiosk/server.toml`` when it exists,
else the embedded defaults.
"""

from __future__ import annotations

import functools
import os
import zoneinfo
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kiosk.config import Key, Section, load_config, parse

DEFAULT_PATH = "/etc/kiosk/server.toml"
ENV_VAR = "KIOSK_SERVER_CONFIG"


def _tz(v: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 'an IANA timezone name like "Asia/Shanghai"'
    return None


def _positive(v) -> str | None:
    return None if v > 0 else "a number greater than 0"


def _dates(v: list) -> str | None:
    from datetime import date

    for item in v:
        try:
            date.fromisoformat(str(item))
        except ValueError:
            return f'a list of dates like "2027-01-01" ({item!r} is not one)'
    return None


def _port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else "a TCP port 0..65535"


SERVER_SCHEMA = Section("", sections=[
    Section("server", [
        Key("db", str, "", doc="database URL or SQLite file; empty = ./central.db ($STATE_DIRECTORY if set)"),
        Key("host", str, "127.0.0.1"),
        Key("port", int, 8080, check=_port),
        Key("timezone", str, "Asia/Shanghai", check=_tz),
        Key("rectify_days", int, 5, check=_positive),
        Key("rectify_day_kind", str, "natural", choices=["natural", "working"],
            doc="case deadlines in natural days or State Council working days"),
        Key("extra_holidays", list, [], check=_dates, doc="YYYY-MM-DD days off beyond the holiday calendar"),
        Key("extra_workdays", list, [], check=_dates, doc="YYYY-MM-DD working days beyond the holiday calendar"),
        Key("max_batch_events", int, 500, check=lambda v: None if 1 <= v <= 10000 else "1..10000"),
        Key("max_body_bytes", int, 1048576, check=_positive),
        Key("max_inflight_batches", int, 32, check=_positive,
            doc="batches processed at once per process; more get 503 + Retry-After"),
        Key("public_stats", bool, True),
        Key("session_hours", (int, float), 12.0, check=_positive),
        Key("enroll_code_hours", (int, float), 24.0, check=_positive),
        Key("cookie_secure", bool, False),
        Key("log_level", str, "info", choices=["debug", "info", "warning", "error"]),
    ]),
    Section("web", [
        Key("area_code", str, "", doc="行政区划代码 for the national-interface export"),
        Key("heartbeat_interval_seconds", (int, float), 30.0, check=_positive),
        Key("board_refresh_seconds", int, 30, check=_positive),
        Key("login_max_failures", int, 5, check=_positive),
        Key("login_window_minutes", (int, float), 15.0, check=_positive),
    ]),
    Section("alerts", [
        Key("enabled", bool, False),
        Key("url", str, "", doc="webhook URL"),
        Key("format", str, "generic", choices=["generic", "wecom", "dingtalk"]),
        Key("base_url", str, "", doc="this server's address, for links in messages"),
        Key("timeout_seconds", (int, float), 5.0, check=_positive),
        Key("poll_seconds", (int, float), 5.0, check=_positive),
        Key("retry_seconds", (int, float), 5.0, check=_positive),
        Key("retry_max_seconds", (int, float), 600.0, check=_positive),
        Key("due_soon_hours", (int, float), 24.0, check=_positive),
    ]),
])


@dataclass
class Settings:
    """Everything :func:`central.app.create_app` needs."""

    db: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    timezone: str = "Asia/Shanghai"
    rectify_days: int = 5
    rectify_day_kind: str = "natural"
    extra_holidays: list[str] = field(default_factory=list)
    extra_workdays: list[str] = field(default_factory=list)
    max_batch_events: int = 500
    max_body_bytes: int = 1048576
    max_inflight_batches: int = 32
    public_stats: bool = True
    session_hours: float = 12.0
    enroll_code_hours: float = 24.0
    cookie_secure: bool = False
    log_level: str = "info"
    web: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @functools.cached_property
    def deadlines(self):
        """The case deadline rule (:class:`central.workdays.Deadlines`)."""
        from .workdays import Deadlines, WorkCalendar

        return Deadlines(self.rectify_days, self.rectify_day_kind, self.tz,
                         WorkCalendar(self.extra_holidays, self.extra_workdays))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> Settings:
        values = self.to_dict()
        values.update({k: v for k, v in changes.items() if v is not None})
        return Settings(**values)


def load_settings(path: str | os.PathLike | None = None, **overrides: Any) -> Settings:
    """Settings from a server config file (see module doc) with CLI overrides
    (``None`` means "not given")."""
    if path is None:
        env = os.environ.get(ENV_VAR)
        if env:
            path = env
        elif Path(DEFAULT_PATH).exists():
            path = DEFAULT_PATH
    cfg = load_config(path, schema=SERVER_SCHEMA) if path else parse(SERVER_SCHEMA, {})
    values = cfg.server.to_dict()
    names = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in values.items() if k in names},
                        web=cfg.web.to_dict(), alerts=cfg.alerts.to_dict())
    settings = settings.replace(**overrides)
    if not settings.db:
        from .db import default_sqlite_path
        settings = settings.replace(db=default_sqlite_path())
    return settings
