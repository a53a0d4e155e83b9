"""``kiosk server`` and ``kiosk admin`` fail with one ``kiosk: error:`` line and exit 1
on a port in use or out of range, a bad database URL, an unreachable PostgreSQL, a
missing database directory, and (except ``migrate``) a database file that does not
exist; a server that starts logs the database it opened, without its password.

Every case runs the real CLI as a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.server import ServerProcess, free_port, pg_available, postgres_cluster

ROOT = Path(__file__).resolve().parents[2]


def kiosk(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_SERVER_CONFIG", "KIOSK_DEBUG")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "kiosk.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_error_line(p: subprocess.CompletedProcess, *needles: str) -> str:
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiosk: error: "), p.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = kiosk("server", "--db", str(tmp_path / "c.db"), "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    one_error_line(p, f"port {port}", "already in use", "--port")
    assert not (tmp_path / "c.db").exists()  # refused before the database is touched


@pytest.mark.parametrize("port", ["70000", "0", "-1"])
def test_port_out_of_range(tmp_path, port):
    p = kiosk("server", "--db", str(tmp_path / "c.db"), f"--port={port}", cwd=tmp_path)
    one_error_line(p, f"port {port} is out of range", "1 and 65535")


@pytest.mark.parametrize("url, needle", [
    ("mysql://u@127.0.0.1/x", "not a supported database URL"),
    ("postgresql://u@127.0.0.1:notaport/x", "not a valid PostgreSQL URL"),
    ("postgresql://u@127.0.0.1:99999/x", "out of range"),
    ("sqlite://", "names no file"),
    ("-", "looks like a command-line option"),
])
def test_invalid_database_url(tmp_path, url, needle):
    one_error_line(kiosk("server", f"--db={url}", "--port", str(free_port()), cwd=tmp_path), needle)
    assert list(tmp_path.iterdir()) == []


def test_invalid_database_url_for_admin(tmp_path):
    one_error_line(kiosk("admin", "migrate", "--db=mysql://u@127.0.0.1/x", cwd=tmp_path), "not a supported")
    one_error_line(kiosk("admin", "add-user", "--db=--wal", "--username", "u", "--role", "viewer",
                         "--password", "long enough pw", cwd=tmp_path), "looks like a command-line option")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_postgresql(tmp_path):
    closed = free_port()  # nothing listens there
    url = f"postgresql://kiosk:s3cret-pw@127.0.0.1:{closed}/kiosk"
    for args in (["server", "--db", url, "--port", str(free_port())], ["admin", "migrate", "--db", url],
                 ["admin", "add-device", "--db", url, "--device-id", "d1"]):
        line = one_error_line(kiosk(*args, cwd=tmp_path), "cannot open the database", f"127.0.0.1:{closed}",
                              "refused")
        assert "s3cret-pw" not in line and "kiosk:***@" in line


def test_missing_database_directory_is_an_error_not_a_mkdir(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "central.db"
    for args in (["server", "--db", str(target), "--port", str(free_port())], ["admin", "migrate", "--db", str(target)],
                 ["admin", "migrate", "--db", "sqlite:///no/such/dir/central.db"]):
        one_error_line(kiosk(*args, cwd=tmp_path), f"{tmp_path / 'no' / 'such' / 'dir'}", "does not exist", "mkdir -p")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_or_a_file_that_is_no_database(tmp_path):
    one_error_line(kiosk("admin", "migrate", "--db", str(tmp_path), cwd=tmp_path), "cannot open the database",
                   "unable to open database file")
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n" * 100)
    one_error_line(kiosk("admin", "add-device", "--db", str(notes), "--device-id", "d1", cwd=tmp_path),
                   "cannot open the database", "file is not a database")
    assert notes.read_text() == "not a database\n" * 100


def test_admin_needs_an_existing_database_except_migrate(tmp_path):
    db = tmp_path / "central.db"
    for args in (["add-device", "--device-id", "d1"], ["revoke-device", "--device-id", "d1"],
                 ["add-user", "--username", "u", "--role", "viewer", "--password", "long enough pw"],
                 ["enroll-code", "--device-id", "d1"]):
        one_error_line(kiosk("admin", *args, "--db", str(db), cwd=tmp_path), f"no database at {db}",
                       "kiosk admin migrate")
        assert not db.exists()
    p = kiosk("admin", "migrate", "--db", str(db), cwd=tmp_path)
    assert p.returncode == 0 and db.exists(), p.stderr
    p = kiosk("admin", "add-device", "--db", str(db), "--device-id", "d1", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip().startswith("kd_"), p.stderr


@contextlib.contextmanager
def start_server(db_url: str, cwd: Path) -> Iterator[tuple[str, Path]]:
    """``kiosk server`` on a free port until it answers /healthz; yields its URL and log file."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_SERVER_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "kiosk.cli", "server", "--db", db_url, "--host", "127.0.0.1", "--port", str(port)]
    server = ServerProcess(f"http://127.0.0.1:{port}", cmd=cmd, env=env, log_path=cwd / "server.log", settings={})
    server.start(timeout=60)
    try:
        yield server.url, server.log_path
    finally:
        server.stop()


def test_the_server_logs_the_sqlite_database_it_opened(tmp_path):
    db = tmp_path / "central.db"
    with start_server(str(db), tmp_path) as (_base, log):
        text = log.read_text()
        assert f"database sqlite:///{db} (schema revision " in text, text
        assert "listening on http://127.0.0.1:" in text


@pytest.mark.pg
def test_the_server_logs_the_postgresql_database_without_its_password(tmp_path):
    ok, reason = pg_available()
    if not ok:
        pytest.skip(reason)
    with postgres_cluster() as url:  # trust auth: the password is accepted and ignored
        with_pw = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2-secret@")
        with start_server(with_pw, tmp_path) as (_base, log):
            text = log.read_text()
            host_db = with_pw.split("@", 1)[1]
            assert f"database postgresql+psycopg://postgres:***@{host_db} (schema revision " in text, text
            assert "hunter2-secret" not in text
