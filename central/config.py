"""The central server's configuration: the ``[server]``, ``[web]`` and
``[alerts]`` TOML tables and the :class:`Settings` the app is built from.

Each key is declared once, as a dataclass field made with :func:`key` (type,
default, check, doc); the TOML schema :data:`SERVER_SCHEMA` is built from those
fields. The file is read with the device's loader (:mod:`kiosk.config`), so
errors name the file, the key and what was expected. Without ``--config`` the
server reads ``$KIOSK_SERVER_CONFIG``, else ``/etc/kiosk/server.toml`` when it
exists, else the embedded defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import typing
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kiosk.config import Key, Section, _positive, load_config, parse
from kiosk.events import SOURCES as DEVICE_SOURCES

DEFAULT_PATH = "/etc/kiosk/server.toml"
ENV_VAR = "KIOSK_SERVER_CONFIG"


def _tz(v: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 'an IANA timezone name like "Asia/Shanghai"'
    return None


def _port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else "a TCP port 0..65535"


def _addresses(v: list) -> str | None:
    """A list of IP addresses or networks (``"10.0.0.0/8"``), or ``"*"``."""
    for item in v:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            return 'a list of IP addresses or networks, like ["127.0.0.1", "10.0.0.0/8"]'
    return None


def _dates(v: list) -> str | None:
    from datetime import date

    for item in v:
        try:
            date.fromisoformat(str(item))
        except ValueError:
            return f'a list of dates like "2027-01-01" ({item!r} is not one)'
    return None


CHANNEL_DEFAULTS = {"paper": 5, "phone": 6, "counter": 5, "qr": 3, "sms": 7, "app": 2}


def _channel_map(v: dict) -> str | None:
    """The channel (pf) of each non-device source: a table of those sources to 1..7."""
    if set(v) - set(CHANNEL_DEFAULTS) or any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 7
                                             for n in v.values()):
        return f"a table of {', '.join(CHANNEL_DEFAULTS)} to channel codes 1..7, like {{paper = 5, phone = 6}}"
    return None


def _sources(v: list) -> str | None:
    """A list of rating ``source`` codes: the devices' inputs and the channels (docs/channels.md)."""
    known = (*DEVICE_SOURCES, *CHANNEL_DEFAULTS)
    for item in v:
        if item not in known:
            return f'a list of rating sources from {", ".join(known)}, like ["touch", "qr"] ({item!r} is not one)'
    return None


def key(default: Any, *, check: Callable[[Any], str | None] | None = None, choices: list | None = None,
        doc: str = "") -> Any:
    """A config key as a dataclass field: its default, check, choices and doc."""
    meta = {"check": check, "choices": choices, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class WebSettings:
    """The ``[web]`` table: the pages and the login throttle."""

    area_code: str = key("", doc="行政区划代码 for the national-interface export")
    heartbeat_interval_seconds: float = key(30.0, check=_positive)
    board_refresh_seconds: int = key(30, check=_positive, doc="the hall board fetches its figures this often")
    board_rotate_seconds: float = key(10.0, check=_positive,
                                      doc="the hall board shows each page this long (?interval= overrides)")
    board_rows: int = key(8, check=lambda v: None if 1 <= v <= 50 else "1..50",
                          doc="rows per page of the hall board's section / window / staff pages")
    board_show_staff: bool = key(False, doc="the hall board also rotates through a page per 工号")
    login_max_failures: int = key(5, check=_positive)
    login_window_minutes: float = key(15.0, check=_positive)


@dataclass
class AlertSettings:
    """The ``[alerts]`` table: the webhook for new 差评 and cases near their deadline."""

    enabled: bool = key(False)
    url: str = key("", doc="webhook URL")
    format: str = key("generic", choices=["generic", "wecom", "dingtalk"])
    base_url: str = key("", doc="this server's address, for links in messages")
    timeout_seconds: float = key(5.0, check=_positive)
    poll_seconds: float = key(5.0, check=_positive)
    retry_seconds: float = key(5.0, check=_positive)
    retry_max_seconds: float = key(600.0, check=_positive)
    due_soon_hours: float = key(24.0, check=_positive)
    sources: list = key([], check=_sources, doc="alert only on cases of ratings from these sources (empty: all)")


@dataclass
class ProvinceSettings:
    """The ``[province]`` table: pushing every rating to the provincial 好差评 platform
    (docs/province.md)."""

    enabled: bool = key(False)
    profile: str = key("shandong", choices=["shandong", "zhejiang", "gbt39046"],
                       doc="field names, code orders and time format of the platform")
    url: str = key("", check=lambda v: None if not v or v.startswith(("http://", "https://"))
                   else "an http:// or https:// URL", doc="the platform's rating endpoint")
    area_code: str = key("", check=lambda v: None if len(v) <= 12 else "at most 12 characters",
                         doc="行政区划代码 (areaCode)")
    data_source: str = key("", doc="数据来源 (dataSource) given by the platform")
    app_id: str = key("", doc="the platform's application id (sent in the app id header)")
    app_key: str = key("", doc="the platform's application key (sent in the app key header when set)")
    sign: str = key("none", choices=["none", "sm2"], doc="request signature")
    private_key_file: str = key("", doc="SM2 private key: 64 hex digits, or a PEM EC private key")
    public_key_file: str = key("", doc="the platform's SM2 public key (hex or PEM), to check answers")
    header_app_id: str = key("X-App-Id")
    header_app_key: str = key("X-App-Key")
    header_timestamp: str = key("X-Timestamp")
    header_nonce: str = key("X-Nonce")
    header_signature: str = key("X-Signature")
    timeout_seconds: float = key(10.0, check=_positive)
    poll_seconds: float = key(2.0, check=_positive)
    batch_size: int = key(50, check=lambda v: None if 1 <= v <= 1000 else "1..1000")
    lease_seconds: float = key(120.0, check=_positive, doc="a claimed record is free again after this")
    retry_seconds: float = key(5.0, check=_positive)
    retry_max_seconds: float = key(900.0, check=_positive)
    down_alert_minutes: float = key(30.0, check=_positive,
                                    doc="alert when the platform has been unreachable this long")


@dataclass
class Settings:
    """Everything :func:`central.app.create_app` needs: the ``[server]`` keys,
    ``web`` (``[web]``) and ``alerts`` (``[alerts]``)."""

    db: str = key("", doc="database URL or SQLite file; empty = ./central.db ($STATE_DIRECTORY if set)")
    host: str = key("127.0.0.1")
    port: int = key(8080, check=_port)
    timezone: str = key("Asia/Shanghai", check=_tz)
    rectify_days: int = key(5, check=_positive)
    rectify_day_kind: str = key("natural", choices=["natural", "working"],
                                doc="case deadlines in natural days or State Council working days")
    supervision_phone: str = key("", check=lambda v: None if len(v) <= 32 else "at most 32 characters",
                                 doc="监督电话: the devices show it on the thanks screen after a 差评")
    extra_holidays: list = key([], check=_dates, doc="YYYY-MM-DD days off beyond the holiday calendar")
    extra_workdays: list = key([], check=_dates, doc="YYYY-MM-DD working days beyond the holiday calendar")
    max_batch_events: int = key(500, check=lambda v: None if 1 <= v <= 10000 else "1..10000")
    max_body_bytes: int = key(1048576, check=_positive)
    max_inflight_batches: int = key(32, check=_positive,
                                    doc="batches processed at once per process; more get 503 + Retry-After")
    heartbeat_flush_seconds: float = key(1.0, check=lambda v: None if 0 <= v <= 60 else "0..60",
                                         doc="devices' last-seen times are written together this often "
                                             "(0 = with every heartbeat)")
    body_timeout_seconds: float = key(10.0, check=_positive,
                                      doc="seconds to receive 1 MiB of a request body; slower gets 408")
    public_stats: bool = key(True)
    hall_name: str = key("", check=lambda v: None if len(v) <= 64 else "at most 64 characters",
                         doc="the hall's name, shown on the hall board")
    session_hours: float = key(12.0, check=_positive)
    enroll_code_hours: float = key(24.0, check=_positive)
    cookie_secure: bool = key(False, doc="always mark cookies Secure (they are anyway over HTTPS)")
    trusted_proxies: list = key(["127.0.0.1", "::1"], check=_addresses,
                                doc="reverse proxies whose X-Forwarded-For/-Proto are believed")
    docs: bool = key(True, doc="serve the interactive API docs at /docs (from local files)")
    channel_for: dict = key(CHANNEL_DEFAULTS, check=_channel_map,
                            doc="channel (pf) of the ratings of each non-device source; missing ones keep the default")
    public_url: str = key("", check=lambda v: None if not v or v.startswith(("http://", "https://"))
                          else "an http:// or https:// address",
                          doc="the address citizens' phones reach this server at (the window QR codes)")
    qr_cooldown_seconds: float = key(600.0, check=_positive,
                                     doc="a second QR rating from one browser within this time is flagged misuse")
    qr_posts_per_minute: int = key(20, check=_positive,
                                   doc="QR ratings accepted per minute from one address; more get 429")
    log_level: str = key("info", choices=["debug", "info", "warning", "error"])
    web: WebSettings = field(default_factory=WebSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    province: ProvinceSettings = field(default_factory=ProvinceSettings)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @functools.cached_property
    def deadlines(self):
        """The case deadline rule (:class:`central.workdays.Deadlines`)."""
        from .workdays import Deadlines, WorkCalendar

        return Deadlines(self.rectify_days, self.rectify_day_kind, self.tz,
                         WorkCalendar(self.extra_holidays, self.extra_workdays))

    @property
    def hall_settings(self) -> dict[str, Any]:
        """What every device's thanks screen says after a 差评: the deadline rule
        and the supervision phone (sent with each heartbeat answer)."""
        out: dict[str, Any] = {"rectify_day_kind": self.rectify_day_kind}
        if self.rectify_days <= 60:  # the device's range for the sentence (kiosk.remote)
            out["rectify_days"] = self.rectify_days
        if self.supervision_phone:
            out["supervision_phone"] = self.supervision_phone
        return out

    def channel(self, source: str) -> int:
        """The channel (pf) of a non-device source's ratings."""
        return int(self.channel_for.get(source, CHANNEL_DEFAULTS[source]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> Settings:
        """A copy with the given keys changed (``None`` means "not given")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _section(name: str, cls: type) -> Section:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in fields(cls):
        if "check" not in f.metadata:
            continue  # a sub-table
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: a setting needs a default")
        keys.append(Key(f.name, typing.get_origin(hints[f.name]) or hints[f.name], default,
                        choices=f.metadata["choices"], check=f.metadata["check"], doc=f.metadata["doc"]))
    return Section(name, keys)


SERVER_SCHEMA = Section("", sections=[_section("server", Settings), _section("web", WebSettings),
                                      _section("alerts", AlertSettings), _section("province", ProvinceSettings)])


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
    settings = Settings(**cfg.server.to_dict(), web=WebSettings(**cfg.web.to_dict()),
                        alerts=AlertSettings(**cfg.alerts.to_dict()),
                        province=ProvinceSettings(**cfg.province.to_dict()))
    settings = settings.replace(**overrides)
    if not settings.db:
        from .db import default_sqlite_path
        settings = settings.replace(db=default_sqlite_path())
    return settings
