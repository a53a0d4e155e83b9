"""``python -m bench.hall_day``: parse the options, set up the server, run the day."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys

from testkit.pg import postgres_cluster
from testkit.server import running_server

from . import __doc__ as DESCRIPTION
from .day import run_day
from .hall import SECTIONS, Hall


def main() -> int:
    ap = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=60)
    ap.add_argument("--sections", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the compressed day")
    ap.add_argument("--mean-gap", type=float, default=6.0, help="mean seconds between citizens per window")
    ap.add_argument("--prompt-timeout", type=float, default=3.0)
    ap.add_argument("--serial-share", type=float, default=0.2)
    ap.add_argument("--transaction-share", type=float, default=0.33)
    ap.add_argument("--db", help="database URL (default: a SQLite file)")
    ap.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL cluster")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--short", action="store_true", help="the CI version: 5 windows, about a minute")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--self-check", action="store_true",
                    help="after the real comparison, forge errors in the truth and show they are caught")
    args = ap.parse_args()
    if args.short:
        args.devices, args.sections, args.minutes, args.mean_gap = 6, 3, 1.0, 2.5
    args.sections = min(args.sections, len(SECTIONS))

    hall = Hall(args)
    with contextlib.ExitStack() as stack:
        if args.pg:
            db_url = stack.enter_context(postgres_cluster(durable=True))
        else:
            db_url = args.db or f"sqlite:///{hall.work / 'server.db'}"
        server = stack.enter_context(running_server(db_url, timezone="Asia/Shanghai"))
        stack.callback(lambda: None if args.keep else shutil.rmtree(hall.work, ignore_errors=True))
        return run_day(hall, db_url, server)


if __name__ == "__main__":
    sys.exit(main())
