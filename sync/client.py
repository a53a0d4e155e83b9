"""HTTP to the central server: one ``requests.Session``, gzip JSON bodies,
a timeout on every request and TLS always verified (the system CAs, or
``[sync] ca_bundle``); there is no switch to turn verification off.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from kiosk import __version__
from kiosk.exceptions import ConfigError

from . import TransportError

BATCHES = "/api/v1/batches"
HEARTBEAT = "/api/v1/heartbeat"


@dataclass
class Reply:
    """A complete HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        if self._json is None:
            self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def retry_after(self, now: float | None = None) -> float | None:
        """Seconds asked for by ``Retry-After`` (delta-seconds or an HTTP date)."""
        return parse_retry_after(self.headers.get("retry-after"), now)

    def brief(self, limit: int = 160) -> str:
        """The start of the body as text, for error messages."""
        text = self.body[:limit].decode("utf-8", "replace").strip()
        try:
            body = self.json()
        except ValueError:
            return text
        if isinstance(body, dict):
            for key in ("error", "detail"):
                if isinstance(body.get(key), str):
                    return body[key][:limit]
        return text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class Client:
    """Talks to one server with one device token."""

    def __init__(self, server: str, token: str, *, ca_bundle: str = "", timeout: float = 10.0,
                 compress_level: int = 5):
        if not server:
            raise ConfigError("not set: expected the central server URL, like "
                              '"https://rating.example.gov.cn"', key="sync.server")
        if ca_bundle and not Path(ca_bundle).is_file():
            raise ConfigError(f"{ca_bundle!r} is not a readable file: expected a PEM CA bundle "
                              "(or leave it empty for the system CAs)", key="sync.ca_bundle")
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = float(timeout)
        self.verify: str | bool = ca_bundle or True
        self.compress_level = compress_level
        self.session = requests.Session()
        self.session.headers.update({
            "User-Agent": f"kiosk-sync/{__version__}",
            "Accept": "application/json",
        })

    def post_json(self, path: str, body: Any, *, timeout: float | None = None) -> Reply:
        """POST ``body`` as gzip JSON. Raises TransportError when no complete
        answer came back; any HTTP status is returned as a Reply."""
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.post_raw(path, raw, timeout=timeout)

    def post_raw(self, path: str, raw: bytes, *, timeout: float | None = None) -> Reply:
        """POST ``raw`` (UTF-8 JSON text, already encoded) gzipped; as :meth:`post_json`."""
        data = gzip.compress(raw, compresslevel=self.compress_level, mtime=0)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        url = self.server + path
        t = timeout if timeout is not None else self.timeout
        try:
            resp = self.session.post(url, data=data, headers=headers, timeout=(t, t),
                                     verify=self.verify, allow_redirects=False)
            content = resp.content  # reads the whole body: a truncated one raises here
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"TLS error talking to {self.server}: {_root(exc)} "
                                 "(check [sync] ca_bundle and the server certificate)") from exc
        except requests.exceptions.Timeout as exc:
            raise TransportError(f"no answer from {self.server} within {t:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise TransportError(f"cannot reach {self.server}: {_root(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"broken answer from {self.server}: {_root(exc)}") from exc
        return Reply(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, content)

    def close(self) -> None:
        self.session.close()


def _root(exc: BaseException) -> str:
    """The innermost cause's message: 'Connection refused', not three wrappers."""
    seen = exc
    while True:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    text = str(seen) or type(seen).__name__
    if seen is not exc and isinstance(seen, OSError) and seen.strerror:
        text = seen.strerror
    return text[:200]
