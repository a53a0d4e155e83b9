"""``kiosk server`` and ``kiosk admin …`` (DESIGN §6).

Heavy imports (FastAPI, SQLAlchemy, uvicorn) happen inside the command
functions so ``kiosk --help`` stays fast.
"""

from __future__ import annotations

import argparse
import getpass
import sys


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL",
                   help="database URL (sqlite:///rel.db, sqlite:////abs.db, postgresql://user@host:port/db) "
                        "or a SQLite file path")
    p.add_argument("--config", metavar="P", help="server config TOML (default $KIOSK_SERVER_CONFIG or "
                                                 "/etc/kiosk/server.toml)")


def register(sub) -> None:
    """Add the ``server`` and ``admin`` commands to the ``kiosk`` parser."""
    p = sub.add_parser("server", help="run the central server",
                       description="Run the central server: batch ingest, statistics, cases. "
                                   "The database schema is created/upgraded on start.")
    _db_args(p)
    p.add_argument("--host", metavar="H", help="address to listen on (default [server] host, 127.0.0.1)")
    p.add_argument("--port", metavar="N", type=int, help="TCP port (default [server] port, 8080)")
    p.set_defaults(func=cmd_server)

    a = sub.add_parser("admin", help="server-side chores: devices, users, enrolment codes",
                       description="Server-side chores on the central database.")
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
    u.add_argument("--role", required=True, choices=["admin", "supervisor", "viewer"])
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

    m = asub.add_parser("migrate", help="create or upgrade the database schema and exit")
    _db_args(m)
    m.set_defaults(func=cmd_migrate)


def _settings(args):
    from .config import load_settings

    return load_settings(getattr(args, "config", None), db=getattr(args, "db", None),
                         host=getattr(args, "host", None), port=getattr(args, "port", None))


def _engine(args):
    from . import db

    settings = _settings(args)
    db.upgrade(settings.db)
    return settings, db.engine_for(settings.db)


def cmd_server(args) -> int:
    import logging

    import uvicorn

    from . import db
    from .app import create_app

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    db.upgrade(settings.db)
    app = create_app(settings)
    from kiosk.systemd import attach_to_asgi
    attach_to_asgi(app)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=settings.log_level == "debug", timeout_graceful_shutdown=5,
                proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies)
    return 0


def cmd_migrate(args) -> int:
    from . import db

    settings = _settings(args)
    db.upgrade(settings.db)
    print(f"database at revision {db.current_revision(settings.db)}", file=sys.stderr)
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

    settings, engine = _engine(args)
    hours = args.expires_hours if args.expires_hours is not None else settings.enroll_code_hours
    code, expires = make_enroll_code(engine, args.device_id, hours=hours, window=args.window,
                                     section=args.section, staff_no=args.staff_no)
    print(f"enrolment code for {args.device_id}, valid until {expires.isoformat(timespec='seconds')}Z; "
          f"on the device: kiosk provision --server URL --code {code}", file=sys.stderr)
    print(code)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m central server|admin …`` (the same commands without the device parts)."""
    parser = argparse.ArgumentParser(prog="python -m central")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(sub)
    from kiosk.cli import run_command

    return run_command(parser.parse_args(argv))
