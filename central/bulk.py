"""Many rows in one statement, in each database's own dialect: the hot ingest
path, where per-row statement processing would cost more than the database.

PostgreSQL gets ``INSERT … SELECT … FROM unnest(%b::type[], …)`` (one array per
column, sent in psycopg's binary format; a column with one value throughout is
one scalar); SQLite a multi-row ``VALUES (…), (…)`` with values converted the
way SQLAlchemy itself stores them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .db import is_sqlite


def _sqlite_converter(column: sa.Column):
    """How a Python value of ``column`` is stored on SQLite, in SQLAlchemy's own
    formats (so Core queries read these rows back exactly); None = as is."""
    t = column.type
    if isinstance(t, sa.DateTime):
        return _repeating(lambda v: v.isoformat(" ", "microseconds"))
    if isinstance(t, sa.Date):
        return _repeating(lambda v: v.isoformat())
    if isinstance(t, sa.Boolean):
        return lambda v: None if v is None else int(v)
    return None


def _repeating(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` for a column whose rows often repeat the value just seen (one
    received_at, one day for a whole batch): that value is converted once."""
    last: list[Any] = [None, None]

    def convert(v: Any) -> Any:
        if v is last[0]:
            return last[1]
        out = None if v is None else fn(v)
        last[0], last[1] = v, out
        return out
    return convert


def _pg_array(column: sa.Column) -> str:
    t = column.type
    if isinstance(t, sa.Boolean):
        return "boolean[]"
    if isinstance(t, sa.SmallInteger):
        return "smallint[]"
    if isinstance(t, sa.BigInteger):
        return "bigint[]"
    if isinstance(t, sa.Integer):
        return "integer[]"
    if isinstance(t, sa.DateTime):
        return "timestamp[]"
    if isinstance(t, sa.Date):
        return "date[]"
    return "text[]"


def bulk_insert(conn, table: sa.Table, rows: list[dict], *, suffix: str = "",
                chunk: int = 1000) -> list[tuple]:
    """Insert ``rows`` (dicts with the same keys) in one statement through the
    driver. ``suffix`` is appended (ON CONFLICT …, RETURNING …); the rows of a
    RETURNING clause are returned."""
    if not rows:
        return []
    cols = list(rows[0])
    returning = "RETURNING" in suffix
    out: list[tuple] = []
    tail = " " + suffix if suffix else ""
    if not is_sqlite(conn):
        sql, params = pg_insert(table, rows, tail)
        res = conn.exec_driver_sql(sql, params)
        return [tuple(x) for x in res] if returning else []
    one = "(" + ", ".join(["?"] * len(cols)) + ")"
    convert = [(c, _sqlite_converter(table.c[c])) for c in cols]
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES " + ", ".join([one] * len(part)) + tail
        values = [f(r[c]) if f else r[c] for r in part for c, f in convert]
        res = conn.exec_driver_sql(sql, tuple(values))
        if returning:
            out.extend(tuple(x) for x in res)
    return out


def pg_insert(table: sa.Table, rows: list[dict], tail: str = "") -> tuple[str, tuple]:
    """PostgreSQL ``INSERT … SELECT … FROM unnest(…)`` of ``rows`` and its parameters.

    ``%b``: values go in psycopg's binary format (its text format escapes every
    array element). A column with one value in every row (the device, the
    receive time, often the window and staff) is sent once, as a scalar."""
    cols = list(rows[0])
    scalars: list[Any] = []
    arrays: list[tuple[str, list[Any]]] = []
    names: list[str] = []
    picks: list[str] = []
    for c in cols:
        values = [r[c] for r in rows]
        kind = _pg_array(table.c[c])
        if len(values) > 1 and values.count(values[0]) == len(values) and (arrays or c != cols[-1]):
            picks.append(f"%b::{kind[:-2]}")
            scalars.append(values[0])
        else:
            picks.append(f"u.{c}")
            names.append(c)
            arrays.append((kind, values))
    sql = (f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(picks)} FROM unnest("
           + ", ".join(f"%b::{kind}" for kind, _ in arrays) + f") AS u({', '.join(names)}){tail}")
    return sql, tuple(scalars) + tuple(values for _, values in arrays)
