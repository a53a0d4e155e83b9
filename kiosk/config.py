"""TOML configuration with declared keys, defaults and precise errors.

A schema is data: :class:`Section` objects holding :class:`Key` objects. Every
key read from a file is checked against it; an unknown key is an error (a typo
must never silently fall back to a default), and every error names the file,
the key, the bad value and what was expected.

The device schema is :data:`DEVICE_SCHEMA`; the central server declares its
own schema with the same classes.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError

DEFAULT_PATH = "/etc/kiosk/kiosk.toml"
ENV_VAR = "KIOSK_CONFIG"

_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number",
               str: "a string", list: "a list", dict: "a table"}


@dataclass
class Key:
    """One config key: its type, default and an optional extra check.

    ``check(value)`` returns an error text (what was expected) or None.
    ``choices`` restricts the value to a fixed set.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    choices: Iterable[Any] | None = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""
    nullable: bool = False

    def validate(self, value: Any, *, path: str | None, dotted: str) -> Any:
        if value is None and self.nullable:
            return None
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        original = value
        ok = isinstance(value, types)
        if ok and bool not in types and isinstance(value, bool):
            ok = False  # TOML booleans are not numbers here
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            expected = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            raise ConfigError(f"{value!r} is not valid: expected {expected}", path=path, key=dotted)
        if self.choices is not None and value not in list(self.choices):
            raise ConfigError(
                f"{value!r} is not valid: expected one of {', '.join(repr(c) for c in self.choices)}",
                path=path, key=dotted)
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ConfigError(f"{original!r} is not valid: expected {problem}", path=path, key=dotted)
        return value


@dataclass
class Section:
    """A TOML table: its keys and its sub-tables (``[hardware.serial]``)."""

    name: str
    keys: list[Key] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    doc: str = ""


class Namespace:
    """Attribute access to a validated config table (``cfg.hardware.serial.port``)."""

    def __init__(self, values: dict[str, Any], dotted: str = ""):
        self._dotted = dotted
        for k, v in values.items():
            setattr(self, k, Namespace(v, f"{dotted}.{k}" if dotted else k) if isinstance(v, dict) else v)

    if TYPE_CHECKING:
        # The keys and sub-tables are set from the schema at run time.
        def __getattr__(self, name: str) -> Any: ...

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for k, v in vars(self).items():
            if k.startswith("_"):
                continue
            out[k] = v.to_dict() if isinstance(v, Namespace) else v
        return out

    def __repr__(self) -> str:
        return f"<config [{self._dotted or '/'}] {self.to_dict()!r}>"


class Config(Namespace):
    """A validated configuration. ``path`` is the file it came from, or None
    when the embedded defaults are used."""

    def __init__(self, values: dict[str, Any], path: str | None):
        super().__init__(values)
        self._path = path

    @property
    def path(self) -> str | None:
        return self._path


def defaults(schema: Section) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in schema.keys:
        out[key.name] = key.default() if callable(key.default) else key.default
    for sub in schema.sections:
        out[sub.name] = defaults(sub)
    return out


def _merge(schema: Section, data: dict, *, path: str | None, prefix: str) -> dict[str, Any]:
    out = defaults(schema)
    keys = {k.name: k for k in schema.keys}
    subs = {s.name: s for s in schema.sections}
    for name, value in data.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in subs:
            if not isinstance(value, dict):
                raise ConfigError(f"{value!r} is not valid: expected a table [{dotted}]", path=path, key=dotted)
            out[name] = _merge(subs[name], value, path=path, prefix=dotted)
        elif name in keys:
            out[name] = keys[name].validate(value, path=path, dotted=dotted)
        else:
            known = sorted(list(keys) + list(subs))
            where = f"[{prefix}]" if prefix else "the top level"
            raise ConfigError(
                f"unknown key in {where}; expected one of: {', '.join(known)}", path=path, key=dotted)
    return out


def find_config_path(path: str | os.PathLike | None = None) -> tuple[str, bool]:
    """The config file to read: ``path``, else ``$KIOSK_CONFIG``, else the default.

    Returns ``(path, explicit)``; an explicit path that is missing is an error,
    a missing default path means "use the embedded defaults".
    """
    if path:
        return str(path), True
    env = os.environ.get(ENV_VAR)
    if env:
        return env, True
    return DEFAULT_PATH, False


def parse(schema: Section, data: dict, path: str | None = None) -> Config:
    """Validate an already-parsed TOML document against ``schema``."""
    return Config(_merge(schema, data, path=path, prefix=""), path)


def load_config(path: str | os.PathLike | None = None, *, schema: Section | None = None) -> Config:
    """Read and validate a TOML config (``path``, ``$KIOSK_CONFIG`` or the default)."""
    schema = schema or DEVICE_SCHEMA
    where, explicit = find_config_path(path)
    p = Path(where)
    if not p.exists():
        if explicit:
            raise ConfigError("the config file does not exist (check --config or $KIOSK_CONFIG)", path=where)
        return parse(schema, {}, None)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=where) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=where) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=where) from exc
    return parse(schema, data, where)


# --- checks ---------------------------------------------------------------

def _positive(v) -> str | None:
    return None if v > 0 else "a number greater than 0"


def _non_negative(v) -> str | None:
    return None if v >= 0 else "a number of 0 or more"


def _size(v: str) -> str | None:
    m = re.fullmatch(r"(\d{3,5})x(\d{3,5})", v)
    return None if m else 'a size like "1024x600"'


def _bind(v: str) -> str | None:
    host, _, port = v.rpartition(":")
    if host and port.isdigit() and 0 <= int(port) <= 65535:
        return None
    return 'an address like "127.0.0.1:8765"'


def _pins(count: int) -> Callable[[Any], str | None]:
    def check(v) -> str | None:
        if len(v) != count or not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 27 for p in v):
            return f"a list of {count} BCM pin numbers (0..27), left to right"
        if len(set(v)) != len(v):
            return f"{count} different BCM pins"
        return None
    return check


def _leds(v) -> str | None:
    if v and _pins(5)(v):
        return "an empty list or 5 BCM pin numbers (0..27), left to right"
    return None


def _key_map(v) -> str | None:
    if not v:
        return None
    if sorted(v) != [1, 2, 3, 4, 5] or any(isinstance(x, bool) for x in v):
        return ("a list of the 5 button numbers 1..5, one per KEY number: "
                "key_map[k-1] is the position (1 = leftmost = 非常满意) of KEY k")
    return None


def _url(v: str) -> str | None:
    if not v or re.match(r"https?://[^/\s]+", v):
        return None
    return 'an http(s) URL like "https://rating.example.gov.cn"'


def _pin_hash(v: str) -> str | None:
    if not v or v.startswith("scrypt$"):
        return None
    return 'a hash made by "kiosk hash-pin" (starting with "scrypt$")'


def _window(v: str) -> str | None:
    return None if len(v) <= 32 else "at most 32 characters"


DEVICE_SCHEMA = Section("", sections=[
    Section("device", [
        Key("id", str, "demo-device", check=lambda v: None if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", v)
            else "1-64 letters, digits, '.', '_' or '-'"),
        Key("window", str, "1", check=_window),
        Key("section", str, "综合服务区"),
        Key("area_code", str, "", check=lambda v: None if not v or re.fullmatch(r"\d{6,12}", v)
            else "an administrative division code of 6 to 12 digits"),
        Key("channel", int, 4, choices=[1, 2, 3, 4, 5, 6, 7]),
        Key("data_dir", str, "", doc="empty = $STATE_DIRECTORY, /var/lib/kiosk or ~/.local/share/kiosk"),
        Key("retain_days", int, 90, check=_positive),
    ]),
    Section("staff", [
        Key("no", str, ""),
        Key("name", str, ""),
        Key("photo", str, ""),
    ]),
    Section("ui", [
        Key("mode", str, "free", choices=["free", "transaction"]),
        Key("fullscreen", bool, True),
        Key("size", str, "1024x600", check=_size),
        Key("language", str, "zh_CN", choices=["zh_CN", "en"]),
        Key("thanks_seconds", (int, float), 3.0, check=_positive),
        Key("cooldown_seconds", (int, float), 5.0, check=_non_negative),
        Key("prompt_timeout_seconds", (int, float), 60.0, check=_positive),
        Key("reasons_timeout_seconds", (int, float), 20.0, check=_positive),
        Key("reasons_for", str, "bad", choices=["bad", "all"]),
        Key("font", str, ""),
        Key("technician_pin", str, "", check=_pin_hash),
        Key("supervision_phone", str, "", doc="监督电话 shown after a 差评 (remote settings may override)"),
        Key("show_qr", bool, False, doc="show the window's QR (qr_url from the server) on the idle and thanks screens"),
    ]),
    Section("audio", [
        Key("enabled", bool, False),
        Key("prompt_sound", str, ""),
        Key("thanks_sound", str, ""),
    ]),
    Section("hardware", sections=[
        Section("serial", [
            Key("enabled", bool, False),
            Key("port", str, "/dev/ttyUSB0"),
            Key("baudrate", int, 9600, choices=[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]),
            Key("require_checksum", bool, False),
            Key("key_map", list, [], check=_key_map),
        ]),
        Section("gpio", [
            Key("enabled", bool, False),
            Key("buttons", list, [5, 6, 13, 19, 26], check=_pins(5)),
            Key("trigger", int, 0, nullable=True, check=lambda v: None if 0 <= v <= 27 else "a BCM pin 0..27 (0 = none)"),
            Key("leds", list, [], check=_leds),
            Key("active_low", bool, True),
            Key("debounce_ms", int, 30, check=_non_negative),
            Key("stuck_seconds", (int, float), 10.0, check=_positive),
        ]),
        Section("keyboard", [
            Key("enabled", bool, True),
        ]),
        Section("simulated", [
            Key("enabled", bool, False),
        ]),
    ]),
    Section("sync", [
        Key("server", str, "", check=_url),
        Key("token", str, ""),
        Key("token_file", str, ""),
        Key("interval_seconds", (int, float), 30.0, check=_positive),
        Key("batch_size", int, 200, check=lambda v: None if 1 <= v <= 500 else "1..500"),
        Key("ca_bundle", str, ""),
        Key("timeout_seconds", (int, float), 10.0, check=_positive),
    ]),
    Section("local_api", [
        Key("enabled", bool, True),
        Key("bind", str, "127.0.0.1:8765", check=_bind),
        Key("token", str, "", doc="inline token; empty = read token_file"),
        Key("token_file", str, "", doc="empty = local_api.token in the data directory, made on first start"),
        Key("max_prompts_per_minute", int, 60,
            check=lambda v: None if 1 <= v <= 6000 else "a number of prompts per minute, 1..6000"),
        Key("require_project_no", bool, False,
            doc="true = every POST /v1/prompt must carry project_no (办件编号), else 400 project_no_required"),
    ]),
])


def data_dir(cfg: Config) -> Path:
    """The device's state directory (buffer, token, settings)."""
    if cfg.device.data_dir:
        return Path(cfg.device.data_dir).expanduser()
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    system = Path("/var/lib/kiosk")
    if os.geteuid() == 0 or (system.exists() and os.access(system, os.W_OK)):
        return system
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "kiosk"
