"""The local API for the window's queue/business system (DESIGN §6).

``POST /v1/prompt`` with ``{"project_no", "ticket_no", "staff_no"}`` opens a
prompt and returns its id; ``GET /v1/prompt/<id>`` returns ``pending``,
``rated`` (with ``satisfaction``, wire order) or ``unrated``. Bound to
127.0.0.1 by default; with ``[local_api] token`` set, requests must carry
``Authorization: Bearer <token>``. Standard library only: the device does not
carry a web framework.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .exceptions import KioskError

log = logging.getLogger(__name__)

MAX_BODY = 4096
TIMEOUT = 5.0


class LocalApi:
    """The HTTP server; runs in its own thread and hands requests to the device."""

    def __init__(self, device, bind: str = "127.0.0.1:8765", token: str = ""):
        host, _, port = bind.rpartition(":")
        self.device = device
        self.token = token
        handler = type("Handler", (_Handler,), {"api": self})
        try:
            self.httpd = ThreadingHTTPServer((host.strip("[]"), int(port)), handler)
        except OSError as exc:
            raise KioskError(f"local API cannot listen on {bind}: {exc.strerror} "
                             f"(change [local_api] bind or stop the other program)") from exc
        self.httpd.daemon_threads = True
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


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi
    server_version = "kiosk-local-api"

    def log_message(self, fmt: str, *args) -> None:
        log.debug("local api %s " + fmt, self.client_address[0], *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if not self.api.token:
            return True
        got = self.headers.get("Authorization", "")
        if hmac.compare_digest(got.encode(), f"Bearer {self.api.token}".encode()):
            return True
        self._send(401, {"error": "missing or wrong bearer token"})
        return False

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/prompt":
            return self._send(404, {"error": f"no such endpoint: POST {self.path}"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._send(400, {"error": "bad Content-Length"})
        if length > MAX_BODY:
            return self._send(413, {"error": f"body larger than {MAX_BODY} bytes"})
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            fields = {}
            for key in ("project_no", "ticket_no", "staff_no"):
                value = body.get(key)
                if value is not None and not isinstance(value, (str, int)):
                    raise ValueError(f"{key} must be a string")
                if value is not None and len(str(value)) > 64:
                    raise ValueError(f"{key} is longer than 64 characters")
                fields[key] = None if value is None else str(value)
        except ValueError as exc:
            return self._send(400, {"error": f"bad request body: {exc}"})
        try:
            prompt = self.api.device.trigger(**fields).result(TIMEOUT)
        except KioskError as exc:
            return self._send(503, {"error": str(exc)})
        except TimeoutError:
            return self._send(503, {"error": "the device did not answer in time"})
        self._send(201, {"id": prompt.id, "status": "pending", "project_no": prompt.project_no,
                         "ticket_no": prompt.ticket_no, "staff_no": prompt.staff_no})

    def do_GET(self) -> None:  # noqa: N802
        if not self._authorised():
            return
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 3 or parts[:2] != ["v1", "prompt"]:
            return self._send(404, {"error": f"no such endpoint: GET {self.path}"})
        try:
            found = self.api.device.prompt_status(parts[2]).result(TIMEOUT)
        except TimeoutError:
            return self._send(503, {"error": "the device did not answer in time"})
        if found is None:
            return self._send(404, {"error": f"no prompt with id {parts[2]}"})
        self._send(200, found)
