"""The local API for the window's queue/business system (docs/local_api.md).

``POST /v1/prompt`` with ``{"project_no", "ticket_no", "staff_no"}`` and,
optionally, the rest of the 办件 (``task_code``, ``task_name``, ``dept_code``,
``dept_name``, ``user_name``, ``user_prop``, ``accept_date``, ``promise_date``)
opens a prompt and returns its id; ``GET /v1/prompt/<id>`` returns ``pending``,
``rated`` (with ``satisfaction``, wire order) or ``unrated``. ``POST /v1/pause``
with ``{"paused": true|false}`` sets 暂停服务 (prompts refused with 503).

It listens on 127.0.0.1 by default and is meant for one program on the same
machine, never for a web page: every request must carry the token
(``Authorization: Bearer <token>``), name this device in ``Host`` (no DNS
rebinding) and carry no ``Origin`` (no page in a browser can open prompts);
``OPTIONS`` is refused. Bodies have a hard size cap and a nesting cap, and
prompts are limited per minute so a runaway client cannot fill the statistics
with 未评价. Standard library only: the device does not carry a web framework.

Requests go through one pipeline (:meth:`_Handler._dispatch`) and a route
table (:data:`ROUTES`): a new endpoint is one :class:`Route` and one method.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import json
import logging
import math
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .events import check_project
from .exceptions import KioskError

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024        #: bytes; a larger Content-Length is a 413, the body is not read
MAX_DEPTH = 16              #: JSON nesting levels; our bodies are flat objects
TIMEOUT = 5.0               #: seconds to wait for the device's session thread
SOCKET_TIMEOUT = 10.0       #: seconds a client may stall while sending its request
LINGER_BYTES = 1024 * 1024  #: unread body discarded after an error reply, so the client sees the reply
LINGER_SECONDS = 2.0
TOKEN_FILE = "local_api.token"  #: the token's file name in the data directory, by default


class ApiError(KioskError):
    """A request refused with an HTTP status and a one-line message (and,
    for refusals a program may act on, a stable ``code``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.code = code


# --- the token --------------------------------------------------------------------

def token_location(cfg) -> Path | None:
    """The token file the device reads, or None when ``[local_api] token`` is set inline.

    ``[local_api] token_file`` (relative paths are in the data directory),
    else ``local_api.token`` in the data directory.
    """
    from .config import data_dir

    if cfg.local_api.token:
        return None
    path = Path(cfg.local_api.token_file or TOKEN_FILE).expanduser()
    return path if path.is_absolute() else data_dir(cfg) / path


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def ensure_token_file(path: Path) -> bool:
    """Write a new token to ``path`` (mode 0640) unless it exists; True when written."""
    if path.exists():
        return False
    from .provision import write_private

    try:
        write_private(path, new_token() + "\n", mode=0o640)
    except OSError as exc:
        raise KioskError(f"cannot write the local API token file {path}: {exc.strerror} (check the "
                         f"directory's permissions, or set [local_api] token_file or token)") from exc
    return True


def load_token(cfg, *, create: bool = True) -> tuple[str, str, bool]:
    """``(token, where, created)`` for the local API.

    A config without any token never means "no token": the device makes one
    in the token file on first start (``create``) and says where it is.
    """
    if cfg.local_api.token:
        return cfg.local_api.token.strip(), f"[local_api] token in {cfg.path or 'the config'}", False
    path = token_location(cfg)
    assert path is not None
    created = ensure_token_file(path) if create else False
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KioskError(f"cannot read the local API token file {path}: {exc.strerror} "
                         f"(check [local_api] token_file and its permissions)") from exc
    if not token:
        raise KioskError(f"the local API token file {path} is empty: write a token in it, or delete it "
                         f"and the device makes a new one at the next start")
    return token, str(path), created


# --- the rate limit -----------------------------------------------------------------

class PromptLimit:
    """At most ``per_minute`` prompt openings in any 60 s (a sliding window)."""

    def __init__(self, per_minute: int, clock):
        self.per_minute = per_minute
        self.clock = clock
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Count one opening, or raise a 429 :class:`ApiError` with ``Retry-After``."""
        with self._lock:
            now = self.clock.monotonic()
            while self._times and self._times[0] <= now - 60.0:
                self._times.popleft()
            if len(self._times) >= self.per_minute:
                wait = max(1, math.ceil(self._times[0] + 60.0 - now))
                raise ApiError(429, f"more than {self.per_minute} prompts in a minute "
                                    f"([local_api] max_prompts_per_minute): retry in {wait} s",
                               {"Retry-After": str(wait)})
            self._times.append(now)


# --- routes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """One endpoint: method, path pattern (named groups become ``params``) and
    the :class:`LocalApi` method that answers it. ``body``: the request has a
    JSON object body (Content-Length required)."""

    method: str
    pattern: str
    action: str
    body: bool = False
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "regex", re.compile(self.pattern + r"/?"))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/prompt", "open_prompt", body=True),
    Route("GET", "/v1/prompt/(?P<prompt_id>[^/]+)", "prompt_status"),
    Route("POST", "/v1/pause", "set_paused", body=True),
)


@dataclass
class Request:
    """What an action sees: the path parameters and the parsed JSON body."""

    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any]


def _text_fields(body: dict[str, Any], keys, limit: int = 64) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    for key in keys:
        value = body.get(key)
        if value is not None and (not isinstance(value, (str, int)) or isinstance(value, bool)):
            raise ApiError(400, f"bad request body: {key} must be a string")
        if value is not None and len(str(value)) > limit:
            raise ApiError(400, f"bad request body: {key} is longer than {limit} characters")
        fields[key] = None if value is None else str(value)
    return fields


class LocalApi:
    """The HTTP server; runs in its own thread and hands requests to the device."""

    def __init__(self, device, bind: str = "127.0.0.1:8765", token: str = "", *,
                 max_prompts_per_minute: int = 60, require_project_no: bool = False, clock=None):
        if not token:
            raise KioskError("the local API needs a token: set [local_api] token or token_file "
                             "(docs/local_api.md)")
        host, _, port = bind.rpartition(":")
        self.device = device
        self.token = token
        self.require_project_no = require_project_no
        self.bind_host = host.strip("[]")
        self.limit = PromptLimit(max_prompts_per_minute, clock or device.clock)
        handler = type("Handler", (_Handler,), {"api": self})
        try:
            self.httpd = _Server((self.bind_host, int(port)), handler)
        except OSError as exc:
            raise KioskError(f"local API cannot listen on {bind}: {exc.strerror} "
                             f"(change [local_api] bind or stop the other program)") from exc
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="local-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- checks every request passes -------------------------------------------------

    def host_allowed(self, value: str | None) -> bool:
        """``Host`` must name this listener: localhost, 127.0.0.1, ::1 or the bind
        address (any IP literal when bound to all addresses), with its port."""
        if not value:
            return False
        m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?", value.strip())
        if not m:
            return False
        name, port = m.group(1).strip("[]").lower().rstrip("."), m.group(2)
        if (int(port) if port else 80) != self.port:
            return False
        if name in ("localhost", "127.0.0.1", "::1", self.bind_host.lower()):
            return True
        if self.bind_host in ("", "0.0.0.0", "::"):
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return False
            return True
        return False

    def authorised(self, header: str | None) -> bool:
        return hmac.compare_digest((header or "").encode(), f"Bearer {self.token}".encode())

    # --- actions ---------------------------------------------------------------------

    def open_prompt(self, req: Request) -> tuple[int, dict[str, Any]]:
        fields = _text_fields(req.body, ("project_no", "ticket_no", "staff_no"))
        try:
            project = check_project(req.body)
        except ValueError as exc:
            raise ApiError(400, f"bad request body: {exc}") from None
        if self.require_project_no and not (project or {}).get("project_no"):
            raise ApiError(400, "project_no_required: this window rates every 办件, so every prompt must "
                                "carry project_no ([local_api] require_project_no)", code="project_no_required")
        self.limit.acquire()
        try:
            prompt = self.device.trigger(**fields, project=project).result(TIMEOUT)
        except KioskError as exc:
            raise ApiError(503, str(exc)) from None
        except TimeoutError:
            raise ApiError(503, "the device did not answer in time") from None
        return 201, {"id": prompt.id, "status": "pending", "project_no": prompt.project_no,
                     "ticket_no": prompt.ticket_no, "staff_no": prompt.staff_no}

    def prompt_status(self, req: Request) -> tuple[int, dict[str, Any]]:
        prompt_id = req.params["prompt_id"]
        try:
            found = self.device.prompt_status(prompt_id).result(TIMEOUT)
        except TimeoutError:
            raise ApiError(503, "the device did not answer in time") from None
        if found is None:
            raise ApiError(404, f"no prompt with id {prompt_id}")
        return 200, found

    def set_paused(self, req: Request) -> tuple[int, dict[str, Any]]:
        """暂停服务 on or off: ``{"paused": true|false}``."""
        paused = req.body.get("paused")
        if not isinstance(paused, bool):
            raise ApiError(400, 'bad request body: expected {"paused": true} or {"paused": false}')
        try:
            view = self.device.set_paused(paused).result(TIMEOUT)
        except TimeoutError:
            raise ApiError(503, "the device did not answer in time") from None
        return 200, {"paused": view.paused, "state": view.state.value}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # One line, never a traceback: a broken client must not flood the journal.
        import sys

        exc = sys.exc_info()[1]
        log.warning("local API: request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)


def _too_deep(raw: bytes, limit: int) -> bool:
    """Whether a JSON text nests arrays/objects deeper than ``limit`` (strings skipped)."""
    depth = 0
    for ch in re.findall(rb"[\[\]{}]", re.sub(rb'"(?:[^"\\]|\\.)*"', b"", raw)):
        if ch in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi
    server_version = "kiosk-local-api"
    timeout = SOCKET_TIMEOUT

    def log_message(self, fmt: str, *args) -> None:
        log.debug("local api %s " + fmt, self.client_address[0], *args)

    # --- the pipeline ------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._body_read = False
        try:
            status, body = self._handle()
            headers: dict[str, str] = {}
        except ApiError as exc:
            status, body, headers = exc.status, {"error": str(exc)}, exc.headers
            if exc.code:
                body["code"] = exc.code
        except Exception as exc:  # a bug: one line in the log, one line to the client
            log.error("local API: %s %s failed: %s: %s", self.command, self.path, type(exc).__name__, exc)
            status, body, headers = 500, {"error": "internal error in the device (see its log)"}, {}
        self._send(status, body, headers)
        if not self._body_read and (self.headers.get("Content-Length", "0").strip() not in ("", "0")
                                    or "Transfer-Encoding" in self.headers):
            self._linger()

    # Every method goes through the same pipeline; unknown ones get 405 there.
    do_GET = do_POST = do_OPTIONS = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch  # noqa: N815

    def _handle(self) -> tuple[int, dict[str, Any]]:
        api = self.api
        if not api.host_allowed(self.headers.get("Host")):
            raise ApiError(403, f"Host {self.headers.get('Host')!r} is not this device: use "
                                f"127.0.0.1:{api.port} or localhost:{api.port}")
        site = self.headers.get("Sec-Fetch-Site")
        if "Origin" in self.headers or (site is not None and site != "none"):
            raise ApiError(403, "requests from web pages are refused (Origin header): the local API "
                                "is for the queue system, not for browsers")
        if self.command == "OPTIONS":
            raise ApiError(403, "OPTIONS (CORS preflight) is refused: the local API is not for web pages")
        if not api.authorised(self.headers.get("Authorization")):
            raise ApiError(401, "missing or wrong bearer token (Authorization: Bearer <token>; "
                                "see [local_api] token_file)", {"WWW-Authenticate": "Bearer"})
        path = self.path.split("?", 1)[0]
        matches = [(r, m) for r in ROUTES if (m := r.regex.fullmatch(path))]
        if not matches:
            raise ApiError(404, f"no such endpoint: {self.command} {path}")
        found = next(((r, m) for r, m in matches if r.method == self.command), None)
        if found is None:
            allowed = ", ".join(sorted({r.method for r, _ in matches}))
            raise ApiError(405, f"{self.command} is not allowed on {path}: use {allowed}", {"Allow": allowed})
        route, match = found
        body = self._json_body() if route.body else {}
        req = Request(self.command, path, {k: v for k, v in match.groupdict().items() if v is not None}, body)
        return getattr(api, route.action)(req)

    def _json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, read with a hard size cap."""
        if "Transfer-Encoding" in self.headers:
            raise ApiError(411, "Transfer-Encoding is not supported: send the body with a Content-Length")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            raise ApiError(411, "Content-Length is required on POST")
        if len(values) > 1 or not re.fullmatch(r"\d{1,12}", values[0].strip()):
            raise ApiError(400, f"Content-Length {', '.join(values)!r} is not valid: expected one "
                                "number of bytes")
        length = int(values[0])
        if length > MAX_BODY:
            raise ApiError(413, f"body larger than {MAX_BODY} bytes ({length} announced)")
        try:
            raw = self.rfile.read(length) if length else b""
        except TimeoutError:
            raise ApiError(408, f"the body did not arrive within {SOCKET_TIMEOUT:.0f} s") from None
        self._body_read = True
        if len(raw) < length:
            raise ApiError(400, f"body shorter than its Content-Length ({len(raw)} of {length} bytes)")
        if not raw.strip():
            return {}
        if _too_deep(raw, MAX_DEPTH):
            raise ApiError(400, f"bad request body: JSON nested deeper than {MAX_DEPTH} levels")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"bad request body: {str(exc).splitlines()[0] or type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad request body: expected a JSON object")
        return body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a request line or headers too
        long, a malformed request, an unknown method) as one-line JSON too."""
        text = message or self.responses.get(code, ("error",))[0]
        if getattr(self, "request_version", "") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # nobody speaks 0.9: answer with a status line
        self._send(code, {"error": f"{text} ({code})" if message else text}, {})

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:
            log.debug("local api %s: reply not sent: %s", self.client_address[0], exc)
        self.close_connection = True

    def _linger(self) -> None:
        """After an error reply to a request whose body was not read: stop
        sending, then discard (never keep) a bounded amount of what the client
        still sends, so it reads the reply instead of a connection reset."""
        sock = self.connection
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.5)
            deadline, left = time.monotonic() + LINGER_SECONDS, LINGER_BYTES
            while left > 0 and time.monotonic() < deadline:
                chunk = sock.recv(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass


def describe(cfg) -> dict[str, Any]:
    """Where the local API listens and where its token is, for ``kiosk status``."""
    if not cfg.local_api.enabled:
        return {"enabled": False}
    path = token_location(cfg)
    return {"enabled": True, "bind": cfg.local_api.bind,
            "token_file": str(path) if path else None,
            "token_file_exists": path.exists() if path else None,
            "max_prompts_per_minute": cfg.local_api.max_prompts_per_minute,
            "require_project_no": cfg.local_api.require_project_no,
            "docs": "docs/local_api.md"}

