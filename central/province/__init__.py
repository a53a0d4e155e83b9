"""The push of every rating to the provincial 好差评 platform (docs/province.md).

:func:`number_and_enqueue` is called in the transaction that inserts ratings,
whatever their channel: it gives each rating of a project_no its
``assess_number`` (评价次数, 1, 2, … in arrival order; the project's counter row
stays locked until the transaction ends, so concurrent batches never share a
number) and writes its push record. A 差评 with neither reasons nor comment
waits (``waiting_detail``) until a detail or the 核实 step brings reasons
(:func:`release`). :mod:`central.province.worker` sends the records.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kiosk.levels import BAD_WIRE

from ..bulk import bulk_insert
from ..db import province_counters, province_outbox

PENDING = "pending"
SENT = "sent"
REJECTED = "rejected"
#: The ``web_meta`` key that holds since when (naive UTC) the platform has been unreachable
#: for longer than ``[province] down_alert_minutes``; absent while it answers.
DOWN_KEY = "province.down_since"
WAITING_DETAIL = "waiting_detail"
SKIPPED = "skipped"
STATUSES = (PENDING, SENT, REJECTED, WAITING_DETAIL, SKIPPED)
STATUS_ZH = {PENDING: "待推送", SENT: "已推送", REJECTED: "被拒绝", WAITING_DETAIL: "待补评价指标",
             SKIPPED: "无办件编号"}

_COUNT_SQL = (" ON CONFLICT (project_no) DO UPDATE SET last_number = province_counters.last_number"
              " + excluded.last_number RETURNING project_no, last_number")


def number_and_enqueue(conn: Connection, rating_rows: list[dict[str, Any]], now: datetime,
                       with_detail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Before the rows (dicts of ratings columns) are inserted: set each one's
    ``assess_number`` and write its push record. ``with_detail`` holds the ids of
    ratings whose reasons or comment are already known (a 差评 among the others waits)."""
    if not rating_rows:
        return
    counts = Counter(r["project_no"] for r in rating_rows if r.get("project_no"))
    last: dict[str, int] = {}
    if counts:  # sorted: concurrent transactions lock the counters in one order
        rows = [{"project_no": p, "last_number": n} for p, n in sorted(counts.items())]
        last = {p: n for p, n in bulk_insert(conn, province_counters, rows, suffix=_COUNT_SQL)}
    given: Counter[str] = Counter()
    for r in rating_rows:
        p = r.get("project_no")
        if p:
            given[p] += 1
            r["assess_number"] = last[p] - counts[p] + given[p]
        else:
            r["assess_number"] = None
    bulk_insert(conn, province_outbox, [
        {"rating_id": r["event_id"], "status": _first_status(r, with_detail), "attempts": 0,
         "next_attempt_at": now, "created_at": now, "updated_at": now} for r in rating_rows])


def _first_status(r: dict[str, Any], with_detail: set[str]) -> str:
    bad = r["satisfaction"] in BAD_WIRE and not r.get("misuse")
    return WAITING_DETAIL if bad and r["event_id"] not in with_detail else PENDING


def release(conn: Connection, rating_ids: list[str], now: datetime) -> int:
    """The waiting 差评 among ``rating_ids`` now have reasons or a comment: push them."""
    if not rating_ids:
        return 0
    o = province_outbox.c
    res = conn.execute(province_outbox.update()
                       .where(o.rating_id.in_(sorted(set(rating_ids))), o.status == WAITING_DETAIL)
                       .values(status=PENDING, next_attempt_at=now, updated_at=now))
    return res.rowcount or 0


def counts(conn: Connection) -> dict[str, int]:
    """The push records by status (every status, 0 when none)."""
    o = province_outbox.c
    have: dict[str, int] = dict(conn.execute(sa.select(o.status, sa.func.count()).group_by(o.status)).all())
    return {s: int(have.get(s, 0)) for s in STATUSES}


def records(conn: Connection, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Push records (newest first) with their rating's project, level and case; no personal data."""
    from ..db import cases, ratings
    from ..timefmt import rfc3339

    o = province_outbox.c
    q = (sa.select(o.id, o.rating_id, o.status, o.attempts, o.reason, o.last_error, o.next_attempt_at, o.sent_at,
                   ratings.c.project_no, ratings.c.assess_number, ratings.c.satisfaction, ratings.c.rated_at,
                   ratings.c.window_no, cases.c.id.label("case_id"))
         .join(ratings, ratings.c.event_id == o.rating_id)
         .outerjoin(cases, cases.c.rating_id == o.rating_id).order_by(o.id.desc()).limit(limit))
    if status is not None:
        q = q.where(o.status == status)
    out = []
    for r in conn.execute(q):
        row = dict(r._mapping)
        for k in ("next_attempt_at", "sent_at", "rated_at"):
            row[k] = rfc3339(row[k]) if row[k] is not None else None
        row["status_zh"] = STATUS_ZH[row["status"]]
        out.append(row)
    return out
