"""``kiosk server`` and ``kiosk admin …`` (docs/cli.md).

Heavy imports (FastAPI, SQLAlchemy, uvicorn) happen inside the command
functions so ``kiosk --help`` stays fast.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL",
                   help="database URL (sqlite:///rel.db, sqlite:////abs.db, postgresql://user@host:port/db) "
                        "or a SQLite file path; its directory must exist, and a name starting with '-' is refused")
    p.add_argument("--config", metavar="P", help="server config TOML (default $KIOSK_SERVER_CONFIG or "
                                                 "/etc/kiosk/server.toml)")


def register(sub) -> None:
    """Add the ``server`` and ``admin`` commands to the ``kiosk`` parser."""
    p = sub.add_parser("server", help="run the central server",
                       description="Run the central server: batch ingest, statistics, cases. "
                                   "The database schema is created/upgraded on start and the log names the "
                                   "database (password hidden). A port in use or out of range, a bad database "
                                   "URL, an unreachable database or a missing database directory is one error "
                                   "line and exit 1.")
    _db_args(p)
    p.add_argument("--host", metavar="H", help="address to listen on (default [server] host, 127.0.0.1)")
    p.add_argument("--port", metavar="N", type=int, help="TCP port (default [server] port, 8080)")
    p.set_defaults(func=cmd_server)

    a = sub.add_parser("admin", help="server-side chores: devices, users, enrolment codes",
                       description="Server-side chores on the central database. Every action but `migrate` "
                                   "needs an existing database: a SQLite file that is not there is an error "
                                   "(create it with `kiosk admin migrate` or by starting the server).")
    asub = a.add_subparsers(dest="admin_command", metavar="ACTION")
    asub.required = True

    d = asub.add_parser("add-device", help="register a device and print its token (shown once)")
    _db_args(d)
    d.add_argument("--device-id", required=True, metavar="ID")
    d.add_argument("--window", metavar="W")
    d.add_argument("--section", metavar="S")
    d.add_argument("--staff-no", metavar="N")
    d.set_defaults(func=cmd_add_device)

    r = asub.add_parser("revoke-device", help="revoke a device's token")
    _db_args(r)
    r.add_argument("--device-id", required=True, metavar="ID")
    r.set_defaults(func=cmd_revoke_device)

    u = asub.add_parser("add-user", help="create a user or reset their password and role")
    _db_args(u)
    u.add_argument("--username", required=True, metavar="U")
    u.add_argument("--role", required=True, choices=["admin", "supervisor", "viewer", "clerk"])
    u.add_argument("--password", metavar="PW",
                   help="the password (default: prompt, or one line from stdin when it is not a terminal)")
    u.set_defaults(func=cmd_add_user)

    e = asub.add_parser("enroll-code", help="make a one-time enrolment code for `kiosk provision`")
    _db_args(e)
    e.add_argument("--device-id", required=True, metavar="ID")
    e.add_argument("--window", metavar="W")
    e.add_argument("--section", metavar="S")
    e.add_argument("--staff-no", metavar="N")
    e.add_argument("--expires-hours", type=float, metavar="H",
                   help="validity in hours (default [server] enroll_code_hours, 24)")
    e.set_defaults(func=cmd_enroll_code)

    i = asub.add_parser("add-integration",
                        help="register another system (SMS gateway, app) and print its key (shown once)")
    _db_args(i)
    i.add_argument("--name", required=True, metavar="NAME")
    i.add_argument("--source", required=True, choices=["sms", "app"])
    i.set_defaults(func=cmd_add_integration)

    m = asub.add_parser("migrate", help="create or upgrade the database schema and exit")
    _db_args(m)
    m.set_defaults(func=cmd_migrate)


def _settings(args):
    from .config import load_settings

    return load_settings(getattr(args, "config", None), db=getattr(args, "db", None),
                         host=getattr(args, "host", None), port=getattr(args, "port", None))


def shown_url(url: str) -> str:
    """A database URL fit for a log line: normalised, the password replaced by ``***``."""
    import sqlalchemy as sa

    from .db import normalize_url

    return sa.engine.make_url(normalize_url(url)).render_as_string(hide_password=True)


def open_database(url: str, *, create: bool) -> str:
    """Create or upgrade the schema of ``url`` and return its revision, or fail with one
    clear line: a malformed URL, a SQLite file whose directory is missing (never made
    silently), a file that does not exist when ``create`` is false, a database that
    cannot be reached."""
    import sqlalchemy as sa

    from . import CentralError, db

    normal = db.normalize_url(url)
    if normal.startswith("sqlite"):
        name = sa.engine.make_url(normal).database or ""
        if name and name != ":memory:":
            path = Path(name).expanduser().absolute()
            if not path.parent.is_dir():
                raise CentralError(f"the directory {path.parent} of the database {path.name} does not exist: "
                                   f"create it (mkdir -p {path.parent}) or give another --db")
            if not create and not path.exists():
                raise CentralError(f"no database at {path}: check --db or [server] db, or create it with "
                                   f"`kiosk admin migrate --db {path}`")
    try:
        db.upgrade(url)
        return db.current_revision(url) or "none"
    except sa.exc.DBAPIError as exc:
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        password = sa.engine.make_url(normal).password
        if password:
            reason = reason.replace(str(password), "***")
        hint = ("is it a database file this user may write?" if normal.startswith("sqlite")
                else "is it running, and are the host, port, user and password right?")
        raise CentralError(f"cannot open the database {shown_url(url)}: {reason} ({hint})") from None


def listen_socket(host: str, port: int):
    """The server's listening socket, bound before anything else happens, so a port in
    use or out of range is one clear error and no database is touched."""
    import errno
    import socket

    from . import CentralError

    if not 1 <= port <= 65535:
        raise CentralError(f"port {port} is out of range: give --port or [server] port between 1 and 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise CentralError(f"cannot listen on {host!r}: {exc.strerror}; give --host or [server] host an "
                           "address of this machine (127.0.0.1, 0.0.0.0)") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CentralError(f"port {port} on {host} is already in use (another server?): stop it or give "
                               "another --port") from None
        raise CentralError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _engine(args):
    """Settings and engine for an admin chore: the database must already exist."""
    from . import db

    settings = _settings(args)
    open_database(settings.db, create=False)
    return settings, db.engine_for(settings.db)


def cmd_server(args) -> int:
    import logging

    import uvicorn

    from . import CentralError
    from .app import create_app

    settings = _settings(args)
    sock = listen_socket(settings.host, settings.port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    revision = open_database(settings.db, create=True)
    log = logging.getLogger("central")
    log.info("database %s (schema revision %s)", shown_url(settings.db), revision)
    log.info("listening on http://%s:%d", settings.host, settings.port)
    app = create_app(settings)
    from kiosk.systemd import attach_to_asgi
    attach_to_asgi(app)
    from .api.fastpath import HeartbeatFastPath
    from .api.routes.devices import MAX_HEARTBEAT
    asgi = HeartbeatFastPath(app, MAX_HEARTBEAT)  # the fleet's most frequent request, beside the app's stack
    server = uvicorn.Server(uvicorn.Config(asgi, host=settings.host, port=settings.port, log_level=settings.log_level,
                                           access_log=settings.log_level == "debug", timeout_graceful_shutdown=5,
                                           proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies))
    server.run(sockets=[sock])
    if not server.started:
        raise CentralError(f"the server on {settings.host}:{settings.port} stopped while starting: see the log above")
    return 0


def cmd_migrate(args) -> int:
    settings = _settings(args)
    revision = open_database(settings.db, create=True)
    print(f"database {shown_url(settings.db)} at revision {revision}", file=sys.stderr)
    return 0


def cmd_add_device(args) -> int:
    from .auth import add_device

    _, engine = _engine(args)
    token = add_device(engine, args.device_id, window=args.window, section=args.section,
                       staff_no=args.staff_no)
    print(f"device {args.device_id} registered; its token (shown once) follows", file=sys.stderr)
    print(token)
    return 0


def cmd_revoke_device(args) -> int:
    from . import CentralError
    from .auth import revoke_device

    _, engine = _engine(args)
    if not revoke_device(engine, args.device_id):
        raise CentralError(f"no device {args.device_id!r} in the database")
    print(f"device {args.device_id} revoked", file=sys.stderr)
    return 0


def cmd_add_user(args) -> int:
    from .auth import add_user

    password = args.password
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.username}: ")
            if getpass.getpass("again: ") != password:
                from . import CentralError
                raise CentralError("the passwords differ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    _, engine = _engine(args)
    add_user(engine, args.username, password, args.role)
    print(f"user {args.username} ({args.role}) saved", file=sys.stderr)
    return 0


def cmd_enroll_code(args) -> int:
    from .auth import make_enroll_code
    from .timefmt import rfc3339

    settings, engine = _engine(args)
    hours = args.expires_hours if args.expires_hours is not None else settings.enroll_code_hours
    code, expires = make_enroll_code(engine, args.device_id, hours=hours, window=args.window,
                                     section=args.section, staff_no=args.staff_no)
    print(f"enrolment code for {args.device_id}, valid until {rfc3339(expires, 'seconds')}; "
          f"on the device: kiosk provision --server URL --code {code}", file=sys.stderr)
    print(code)
    return 0


def cmd_add_integration(args) -> int:
    from .channels import add_integration

    _, engine = _engine(args)
    key = add_integration(engine, args.name, args.source)
    print(f"integration {args.name} ({args.source}) saved; its key is shown once: "
          "POST /api/v1/channel-ratings with Authorization: Bearer KEY", file=sys.stderr)
    print(key)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m central server|admin …`` (the same commands without the device parts)."""
    parser = argparse.ArgumentParser(prog="python -m central")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(sub)
    from kiosk.cli import run_command

    return run_command(parser.parse_args(argv))
