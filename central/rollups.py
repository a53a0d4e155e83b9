"""The daily, monthly and per-section rollups the statistics read (docs/api.md).

Ingest adds every new rating and unrated prompt; a case transition moves a
差评 between ``unrectified`` and ``rectified`` (or out of the counts, when it is
found invalid); a phone arriving with a rating's detail and a follow-up that
reaches the citizen move ``phoned`` and ``reached`` (``followup_rate``). All
call :func:`rollup_add` inside their own transaction, so the aggregates are
exact whatever runs at the same time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .bulk import bulk_insert
from .db import rollup_daily, rollup_monthly, rollup_sections, rollup_slots, rollup_slots_hall

ROLLUP_KEY = ("day", "section", "window_no", "staff_no", "level", "misuse")


@functools.lru_cache(maxsize=4096)
def _quarter_day(quarter: datetime, tz: ZoneInfo) -> date:
    return quarter.replace(tzinfo=UTC).astimezone(tz).date()


def local_day(t: datetime, tz: ZoneInfo) -> date:
    """The date, in the server timezone, of a naive-UTC time. UTC offsets and
    their changes fall on quarter hours, so the date is the same for a whole
    UTC quarter hour and is looked up once per quarter."""
    return _quarter_day(t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0), tz)


#: The counts of a rollup cell, in the order of a delta list (a shorter list leaves
#: the rest alone): ratings, valid 差评 not rectified, rectified, with a phone, and
#: those of them reached by a follow-up.
ROLLUP_COUNTS = ("count", "unrectified", "rectified", "phoned", "reached")


SECTION_KEY = ("day", "section", "level", "misuse")


def rollup_add(conn, deltas: dict[tuple, list[int]]) -> None:
    """Add ``{(day, section, window_no, staff_no, level, misuse): [count, unrectified,
    rectified, phoned, reached]}`` to the daily, the monthly and the per-section
    rollups (keys sorted so concurrent writers lock rows in one order)."""
    n = len(ROLLUP_COUNTS)
    monthly: dict[tuple, list[int]] = {}
    by_section: dict[tuple, list[int]] = {}
    for k, v in deltas.items():
        for cells, cell in ((monthly, (k[0].replace(day=1),) + k[1:]), (by_section, (k[0], k[1], k[4], k[5]))):
            m = cells.setdefault(cell, [0] * n)
            for i, x in enumerate(v):
                m[i] += x
    for table, key, cells in ((rollup_daily, ROLLUP_KEY, deltas), (rollup_monthly, ("month",) + ROLLUP_KEY[1:], monthly),
                              (rollup_sections, SECTION_KEY, by_section)):
        rows = [dict(zip(key, k, strict=True)) | dict(zip(ROLLUP_COUNTS, list(v) + [0] * (n - len(v)), strict=True))
                for k, v in sorted(cells.items(), key=lambda kv: (kv[0][0].isoformat(),) + kv[0][1:])
                if any(v)]
        bulk_insert(conn, table, rows,
                    suffix=f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
                           + ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in ROLLUP_COUNTS))


SLOT_KEY = ("day", "slot", "section", "window_no", "staff_no", "misuse")
HALL_SLOT_KEY = ("day", "slot", "misuse")


def slot_of(t: datetime) -> datetime:
    """A naive-UTC time cut to its half hour (the heat map's cell)."""
    return t.replace(minute=t.minute - t.minute % 30, second=0, microsecond=0)


def slots_add(conn, rows: Iterable[Mapping[str, Any]], sign: int = 1) -> None:
    """Count ratings (rows of the ``ratings`` table: ``day``, ``rated_at``,
    ``section``, ``window_no``, ``staff_no``, ``misuse``) in ``rollup_slots`` and
    ``rollup_slots_hall``; ``sign=-1`` takes them out again."""
    cells: dict[tuple, int] = {}
    hall: dict[tuple, int] = {}
    for r in rows:
        k = (r["day"], slot_of(r["rated_at"]), r["section"], r["window_no"], r["staff_no"], bool(r["misuse"]))
        cells[k] = cells.get(k, 0) + sign
        h = (k[0], k[1], k[5])
        hall[h] = hall.get(h, 0) + sign
    for table, key, counts in ((rollup_slots, SLOT_KEY, cells), (rollup_slots_hall, HALL_SLOT_KEY, hall)):
        out = [dict(zip(key, k, strict=True), count=n)
               for k, n in sorted(counts.items(), key=lambda kv: (kv[0][0].isoformat(), kv[0][1].isoformat())
                                  + kv[0][2:]) if n]
        bulk_insert(conn, table, out, suffix=f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
                                             f"count = {table.name}.count + excluded.count")
