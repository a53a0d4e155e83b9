"""Pieces the benchmarks share: percentiles and the raw-SQLite baseline."""

from __future__ import annotations

import sqlite3


def pct(values, q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def raw_conn(path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the buffer's pragmas and the same table:
    the baseline for "how fast can a durable insert be here"."""
    import sqlite_utils

    from kiosk.buffer import MIGRATIONS, SCHEMA_VERSION

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    db = sqlite_utils.Database(conn)
    for v in range(1, SCHEMA_VERSION + 1):
        MIGRATIONS[v](db)
    return conn
