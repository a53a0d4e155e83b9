"""Server test helpers: a throwaway PostgreSQL, a real server subprocess, devices and users.

Used by tests/server/, the uploader's tests and bench/. Everything runs on
loopback; nothing here is imported by the server itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PG_BIN = Path(os.environ.get("KIOSK_PG_BIN", "/usr/lib/postgresql/15/bin"))
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_available() -> tuple[bool, str]:
    """Whether :func:`postgres_cluster` can run here.

    Returns ``(ok, reason)``; use ``pytest.skip(reason)`` when not ok.
    Needs initdb/pg_ctl in $KIOSK_PG_BIN (default /usr/lib/postgresql/15/bin)
    and, when running as root, the ``postgres`` OS user.
    """
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return False, f"PostgreSQL binaries not found in {PG_BIN} (apt install postgresql-15)"
    if os.geteuid() == 0:
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            return False, "running as root and there is no 'postgres' OS user to run the cluster"
    return True, ""


def _pg_cmd(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + args
    return args


@contextlib.contextmanager
def postgres_cluster(*, max_connections: int = 200, durable: bool = False) -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster; yields ``postgresql://postgres@127.0.0.1:PORT/postgres``.

    initdb in a temp dir (owned by the ``postgres`` OS user when we are root), trust
    auth, listening on 127.0.0.1 at a free port; stopped and deleted at exit.
    ``durable=False`` turns fsync off (tests); benchmarks pass ``durable=True``.
        with postgres_cluster() as url: add_device(url, "dev-1")
    """
    ok, reason = pg_available()
    if not ok:
        raise RuntimeError(reason)
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-pg-"))
    data, sock, logf = tmp / "data", tmp / "sock", tmp / "pg.log"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = free_port()
    try:
        subprocess.run(_pg_cmd([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                "-E", "UTF8", "--locale=C", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections={max_connections}"
                " -c shared_buffers=128MB")
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(_pg_cmd([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(logf), "-o", opts,
                                "-w", "-t", "60", "start"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _dispose_engines(f"127.0.0.1:{port}/")
        if (data / "postmaster.pid").exists():
            subprocess.run(_pg_cmd([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                    "stop"]), check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def _dispose_engines(fragment: str) -> None:
    from central import db

    with db._engines_lock:
        for url in [u for u in db._engines if fragment in u]:
            db._engines.pop(url).dispose()


class ServerProcess(str):
    """The base URL of a running server (it IS that string) with process controls.

    ``stop()`` / ``start()`` / ``restart()`` keep the same port; ``kill()`` is SIGKILL;
    ``log()`` is the server's stdout+stderr so far. ``settings`` are the [server]
    keys it was started with.
    """

    def __new__(cls, url: str, **_: Any):
        return super().__new__(cls, url)

    def __init__(self, url: str, *, cmd: list[str], env: dict[str, str], log_path: Path, settings: dict):
        self.url = url
        self.cmd = cmd
        self.env = env
        self.log_path = log_path
        self.settings = settings
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        import requests

        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                         cwd=str(REPO_ROOT), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not answer /healthz within {timeout}s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""


@contextlib.contextmanager
def running_server(db_url: str, port: int | None = None, **settings: Any) -> Iterator[ServerProcess]:
    """``kiosk server`` as a real subprocess on 127.0.0.1; yields its base URL.

    ``db_url``: a URL or SQLite path (migrated on start). ``settings``: any [server]
    key (timezone="UTC", rectify_days=5, max_batch_events=500, public_stats=False …);
    a dict value is another table (``web={"board_refresh_seconds": 5}``).
    The yielded value is a str (``"http://127.0.0.1:PORT"``) with .stop()/.start()/
    .restart()/.kill()/.log(); it is terminated at exit.
    """
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-server-"))
    port = port or free_port()
    def toml(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, list):
            return "[" + ", ".join(toml(v) for v in value) + "]"
        return json.dumps(str(value), ensure_ascii=False)

    lines = ["[server]"] + [f"{k} = {toml(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    for table, values in settings.items():
        if isinstance(values, dict):
            lines += ["", f"[{table}]"] + [f"{k} = {toml(v)}" for k, v in values.items()]
    (tmp / "server.toml").write_text("\n".join(lines) + "\n", "utf-8")
    cmd = [sys.executable, "-m", "central", "server", "--config", str(tmp / "server.toml"),
           "--db", str(db_url), "--host", "127.0.0.1", "--port", str(port)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("KIOSK_SERVER_CONFIG", None)
    server = ServerProcess(f"http://127.0.0.1:{port}", cmd=cmd, env=env, log_path=tmp / "server.log",
                           settings=settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def add_device(db_url: str, device_id: str, window: str | None = "1", section: str | None = "综合服务区",
               staff_no: str | None = "") -> str:
    """Register a device in the server database and return its bearer token.

    Migrates the database first, so it works on a fresh file/cluster. Calling it
    again for the same id issues a new token (the old one stops working).
        token = add_device(url, "dev-1"); headers={"Authorization": f"Bearer {token}"}
    """
    from central import auth, db

    db.upgrade(db_url)
    return auth.add_device(db.engine_for(db_url), device_id, window=window, section=section,
                           staff_no=staff_no)


def add_user(db_url: str, username: str, password: str, role: str = "admin") -> None:
    """Create (or reset) a user with role admin|supervisor|viewer.

    Migrates the database first. Log in with
    ``requests.post(url + "/api/v1/login", json={"username": u, "password": p}).json()["token"]``.
    Passwords need at least 8 characters.
    """
    from central import auth, db

    db.upgrade(db_url)
    auth.add_user(db.engine_for(db_url), username, password, role)


def revoke_device(db_url: str, device_id: str) -> None:
    """Revoke a device's token (its uploads then get 401)."""
    from central import auth, db

    db.upgrade(db_url)
    auth.revoke_device(db.engine_for(db_url), device_id)


def rfc3339_ms(t: datetime | None = None) -> str:
    """``2026-12-01T08:15:02.123Z`` for ``t`` (aware or naive UTC; default now)."""
    t = t or datetime.now(UTC)
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t.isoformat(timespec="milliseconds") + "Z"


def rating_event(satisfaction: int = 5, **fields: Any) -> dict[str, Any]:
    """A valid wire ``rating`` event (DESIGN §4); ``fields`` override any key.

    Defaults: fresh uuid4 id, created_at now, clock_synced true, boot_id "boot-1",
    mono_ms 1000, source "touch", channel 4, window "1", section "综合服务区",
    staff "A001"/"张三", misuse false, project/ticket/prompt null.
    """
    ev = {"id": str(uuid.uuid4()), "type": "rating", "created_at": rfc3339_ms(), "clock_synced": True,
          "boot_id": "boot-1", "mono_ms": 1000, "satisfaction": satisfaction, "source": "touch",
          "channel": 4, "window_no": "1", "section": "综合服务区", "staff_no": "A001",
          "staff_name": "张三", "project_no": None, "ticket_no": None, "prompt_id": None, "misuse": False}
    ev.update(fields)
    return ev


def detail_event(rating_id: str, reasons: list[str], **fields: Any) -> dict[str, Any]:
    """A valid ``rating_detail`` event for ``rating_id``; ``fields`` override any key."""
    ev = {"id": str(uuid.uuid4()), "type": "rating_detail", "created_at": rfc3339_ms(),
          "clock_synced": True, "boot_id": "boot-1", "mono_ms": 1000, "rating_id": rating_id,
          "reasons": reasons, "comment": None, "phone": None}
    ev.update(fields)
    return ev


def unrated_event(**fields: Any) -> dict[str, Any]:
    """A valid ``unrated`` event; ``fields`` override any key."""
    ev = {"id": str(uuid.uuid4()), "type": "unrated", "created_at": rfc3339_ms(), "clock_synced": True,
          "boot_id": "boot-1", "mono_ms": 1000, "prompt_id": str(uuid.uuid4()), "project_no": None,
          "ticket_no": None, "staff_no": "A001", "staff_name": "张三", "window_no": "1",
          "section": "综合服务区", "channel": 4}
    ev.update(fields)
    return ev


def make_batch(device_id: str, events: list[dict], *, boot_id: str = "boot-1",
               sent_mono_ms: int = 2000) -> dict[str, Any]:
    """A ``POST /api/v1/batches`` body (schema 1) around ``events``."""
    return {"schema": 1, "device_id": device_id, "sent_at": rfc3339_ms(), "boot_id": boot_id,
            "sent_mono_ms": sent_mono_ms, "events": events}
