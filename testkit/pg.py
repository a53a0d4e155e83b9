"""A throwaway PostgreSQL cluster for the tests and the benchmarks, and a fresh
database in it per test (the pytest fixture ``pg_base_url`` is in
:mod:`testkit.pytest_plugin`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("KIOSK_PG_BIN", "/usr/lib/postgresql/15/bin"))


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
    from .server import free_port

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


def new_pg_database(base_url: str, prefix: str = "t_") -> str:
    """A new, empty database in the cluster at ``base_url``; returns its URL."""
    import psycopg

    name = prefix + uuid.uuid4().hex[:12]
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name
