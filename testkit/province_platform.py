"""A fake provincial 好差评 platform: a real HTTP server on 127.0.0.1 that
enforces the platform's rules, for the push tests and the benchmark.

It takes one JSON record per POST and answers ``{"code": "200", "msg": "成功"}``,
or ``{"code": "400", "msg": why}`` when a rule is broken: the required fields,
a 差评 without evalDetail or writingEvaluation, the assessTime format, and
(projectNo, assessNumber) seen before → ``本次服务已存在评价``. It can be switched
``down`` (503), ``slow`` (sleeps past the client timeout) or ``closed`` (the port
refuses connections) and can check SM2 signatures.

    with FakePlatform("shandong") as fp:
        fp.url, fp.receipts[("P1", 1)], fp.records, fp.already
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from central.province import profiles

_TIME = {"%Y-%m-%d %H:%M:%S": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
         "%Y%m%dT%H%M%S": re.compile(r"\d{8}T\d{6}")}


class FakePlatform:
    def __init__(self, profile: str = "shandong", *, public_key: str | None = None, headers: Any = None):
        self.profile = profiles.get(profile)
        self.public_key = public_key
        self.headers = headers  # ProvinceSettings-like: header_* names and app_id, to check signatures
        self.mode = "up"
        self.slow_seconds = 0.0
        self.refuse: dict[tuple[str, int], str] = {}  # key -> reason to refuse with
        self.receipts: Counter[tuple[str, int]] = Counter()  # accepted records per key
        self.already: Counter[tuple[str, int]] = Counter()  # "already exists" answers per key
        self.records: dict[tuple[str, int], dict[str, Any]] = {}
        self.request_headers: list[dict[str, str]] = []  # names in lower case
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/evaluate"

    # --- life ------------------------------------------------------------------
    def start(self) -> FakePlatform:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        """Stop listening: connections to the port are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePlatform:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def refused(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return True
        return False

    # --- the rules ---------------------------------------------------------------
    def check(self, rec: Any, headers: dict[str, str], body: bytes) -> tuple[str, str]:
        """(code, msg) for one record."""
        n = self.profile.names
        if not isinstance(rec, dict):
            return "400", "body: expected a JSON object"
        if self.public_key is not None:
            from central.province.signer import verify

            h = self.headers
            sig = headers.get(h.header_signature.lower(), "")
            if headers.get(h.header_app_id.lower()) != h.app_id or not sig or not verify(
                    self.public_key, sig, h.app_id, headers.get(h.header_timestamp.lower(), ""),
                    headers.get(h.header_nonce.lower(), ""), body):
                return "401", "签名验证失败"
        for item in ("project_no", "pf", "satisfaction", "assess_number", "assess_time"):
            if rec.get(n[item]) in (None, ""):
                return "400", f"{n[item]}不能为空"
        if not _TIME[self.profile.time_format].fullmatch(str(rec[n["assess_time"]])):
            return "400", f"{n['assess_time']}格式错误"
        sat = int(rec[n["satisfaction"]])
        bad = sat in ((4, 5) if self.profile.order == "gbt" else (1, 2))
        if bad and not rec.get(n["eval_detail"]) and not rec.get(n["writing"]):
            return "400", "差评须填写评价指标或文字评价"
        key = (str(rec[n["project_no"]]), int(rec[n["assess_number"]]))
        if key in self.refuse:
            return "400", self.refuse[key]
        with self.lock:
            if key in self.records:
                self.already[key] += 1
                return "500", profiles.ALREADY_EXISTS
            self.records[key] = rec
            self.receipts[key] += 1
        return "200", "成功"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if fp.mode == "slow":
                    time.sleep(fp.slow_seconds)
                if fp.mode == "down":
                    self._answer(503, {"code": "503", "msg": "系统维护中"})
                    return
                with fp.lock:
                    fp.bodies.append(body)
                    fp.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                try:
                    rec = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    self._answer(400, {"code": "400", "msg": "请求不是JSON"})
                    return
                code, msg = fp.check(rec, {k.lower(): v for k, v in self.headers.items()}, body)
                self._answer(200, {"code": code, "msg": msg})

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                out = json.dumps(data, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        return Handler
