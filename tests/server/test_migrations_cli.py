"""Schema migrations and the `kiosk server` / `kiosk admin` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from central import db
from central.config import load_settings
from kiosk.exceptions import ConfigError
from testkit.server import REPO_ROOT

from .conftest import new_pg_database


def _kiosk(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("KIOSK_SERVER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "kiosk.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=str(cwd or REPO_ROOT), timeout=60)


def _assert_schema_matches(url: str) -> None:
    """The tables declared in central.db are exactly what the migrations built
    (tables other packages add with their own migrations are not compared)."""
    ours = set(db.metadata.tables)

    def include(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in ours

    with db.engine_for(url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include})
        assert compare_metadata(ctx, db.metadata) == []


def test_migrations_build_the_declared_schema_sqlite(tmp_path):
    url = str(tmp_path / "m.db")
    assert db.current_revision(url) is None
    db.upgrade(url)
    assert db.current_revision(url) == db.head_revision()
    _assert_schema_matches(url)
    db.upgrade(url)  # idempotent
    from alembic import command
    cfg = db.alembic_config(url)
    with db.engine_for(url).connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
    assert db.current_revision(url) is None
    db.upgrade(url)
    _assert_schema_matches(url)


@pytest.mark.pg
def test_migrations_build_the_declared_schema_pg(pg_base_url):
    url = new_pg_database(pg_base_url)
    db.upgrade(url)
    assert db.current_revision(url) == db.head_revision()
    _assert_schema_matches(url)


@pytest.mark.parametrize(("given", "expected"), [
    ("sqlite:///rel.db", "sqlite:///rel.db"),
    ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
    ("postgresql://u@h:5433/d", "postgresql+psycopg://u@h:5433/d"),
    ("/var/lib/central.db", "sqlite:////var/lib/central.db"),
])
def test_db_urls(given, expected):
    assert db.normalize_url(given) == expected


def test_bad_db_url():
    with pytest.raises(ValueError, match="not a supported database URL"):
        db.normalize_url("mysql://x/y")


def test_admin_commands(tmp_path):
    p = _kiosk("admin", "add-device", "--db", "sqlite:///rel.db", "--device-id", "w-01", "--window", "3",
               cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "rel.db").exists()
    token = p.stdout.strip()
    assert token.startswith("kd_") and len(token) > 40
    url = str(tmp_path / "rel.db")
    from central.auth import device_for_token
    with db.engine_for(url).connect() as conn:
        dev = device_for_token(conn, token)
        assert dev is not None and dev.device_id == "w-01" and dev.window_no == "3"

    p = _kiosk("admin", "add-user", "--db", url, "--username", "boss", "--role", "supervisor",
               stdin="long enough pw\n")
    assert p.returncode == 0, p.stderr
    p = _kiosk("admin", "add-user", "--db", url, "--username", "boss", "--role", "viewer", "--password", "short")
    assert p.returncode == 1 and p.stderr.startswith("kiosk: error: ") and p.stderr.count("\n") == 1
    p = _kiosk("admin", "add-user", "--db", url, "--username", "boss", "--role", "king", "--password", "x" * 9)
    assert p.returncode == 2  # argparse: invalid choice

    p = _kiosk("admin", "revoke-device", "--db", url, "--device-id", "w-01")
    assert p.returncode == 0, p.stderr
    with db.engine_for(url).connect() as conn:
        assert device_for_token(conn, token) is None
    p = _kiosk("admin", "revoke-device", "--db", url, "--device-id", "nope")
    assert p.returncode == 1 and "no device 'nope'" in p.stderr


def test_server_config(tmp_path):
    cfg = tmp_path / "server.toml"
    cfg.write_text('[server]\ndb = "x.db"\nport = 9000\ntimezone = "UTC"\n', encoding="utf-8")
    s = load_settings(cfg, port=9100)
    assert (s.db, s.port, s.timezone, s.rectify_days, s.public_stats) == ("x.db", 9100, "UTC", 5, True)
    cfg.write_text('[server]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="server.timezone"):
        load_settings(cfg)
    cfg.write_text('[server]\nportt = 1\n', encoding="utf-8")
    p = _kiosk("server", "--config", str(cfg))
    assert p.returncode == 1 and "server.portt" in p.stderr and str(cfg) in p.stderr


def test_help_lists_the_commands():
    p = _kiosk("--help")
    assert "server" in p.stdout and "admin" in p.stdout and "provision" in p.stdout
    p = _kiosk("admin", "--help")
    for action in ("add-device", "revoke-device", "add-user", "enroll-code", "migrate"):
        assert action in p.stdout


def test_example_server_config_is_valid():
    s = load_settings(REPO_ROOT / "config" / "server.toml")
    assert s.timezone == "Asia/Shanghai" and s.rectify_days == 5 and s.max_batch_events == 500


def test_docs_cover_every_endpoint_and_command(api):
    doc = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    spec = api.get("/openapi.json").json()
    ours = [p for p in spec["paths"] if p.startswith("/api/") or p in ("/healthz", "/metrics")]
    for path in ours:
        assert f"`{path}`" in doc or f" {path}`" in doc, f"{path} is not documented in docs/api.md"
    for command in ("kiosk server", "kiosk admin add-device", "kiosk admin revoke-device", "kiosk admin add-user",
                    "kiosk admin enroll-code", "kiosk admin migrate", "kiosk provision"):
        assert command in doc, f"{command} is not documented in docs/api.md"
