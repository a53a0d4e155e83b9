"""Fixtures for the central server tests: a real ``kiosk server`` subprocess per
module and backend (SQLite file, throwaway PostgreSQL cluster), and a small
client that makes devices and users directly in the server's database."""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass

import pytest
import requests

from testkit.pg import new_pg_database
from testkit.server import add_device, add_user, make_batch, running_server

BACKENDS = ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]
PASSWORD = "correct horse 1"


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("central") / "central.db")
    return new_pg_database(request.getfixturevalue("pg_base_url"))


@dataclass
class Device:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A client for one running server plus direct access to its database."""

    def __init__(self, url: str, db_url: str):
        self.url = str(url)
        self.db_url = db_url
        self.http = requests.Session()
        self._sessions: dict[str, dict[str, str]] = {}

    def device(self, prefix: str = "dev", **kw) -> Device:
        device_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        return Device(device_id, add_device(self.db_url, device_id, **kw))

    def upload(self, device: Device, events: list[dict], *, gz: bool = False, **batch_kw) -> requests.Response:
        body = json.dumps(make_batch(device.id, events, **batch_kw)).encode()
        headers = {**device.headers, "Content-Type": "application/json"}
        if gz:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return self.http.post(self.url + "/api/v1/batches", data=body, headers=headers, timeout=30)

    def results(self, device: Device, events: list[dict], **kw) -> list[dict]:
        r = self.upload(device, events, **kw)
        assert r.status_code == 200, r.text
        return r.json()["results"]

    def new_user(self, role: str, prefix: str | None = None) -> dict[str, str]:
        """Headers of a new logged-in user with ``role``, named ``prefix-…``."""
        username = f"{prefix or role}-{uuid.uuid4().hex[:6]}"
        add_user(self.db_url, username, PASSWORD, role)
        r = requests.post(self.url + "/api/v1/login", json={"username": username, "password": PASSWORD},
                          timeout=10)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def as_role(self, role: str) -> dict[str, str]:
        """Headers of a logged-in user with ``role`` (created on first use)."""
        if role not in self._sessions:
            self._sessions[role] = self.new_user(role)
        return self._sessions[role]

    def get(self, path: str, role: str | None = None, **kw) -> requests.Response:
        headers = self.as_role(role) if role else {}
        return self.http.get(self.url + path, headers=headers, timeout=30, **kw)

    def post(self, path: str, role: str | None = None, **kw) -> requests.Response:
        headers = self.as_role(role) if role else {}
        return self.http.post(self.url + path, headers=headers, timeout=30, **kw)

    def stats(self, **params) -> dict:
        r = self.get("/api/v1/stats", params=params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def server(db_url):
    with running_server(db_url, timezone="Asia/Shanghai", rectify_days=5) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(server, db_url) -> Api:
    return Api(server, db_url)
