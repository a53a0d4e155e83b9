"""Alerts for supervisors: a webhook on every new 差评 and on cases one day
from overdue, delivered from an outbox so nothing is lost while the webhook is
down.

A scanner turns new cases (by id, past a watermark kept in ``web_meta``) and
cases whose deadline is near, of the rating sources ``[alerts] sources`` lists
(every source when it is empty), into ``alert_outbox`` rows; the unique
(kind, case) pair makes that safe with several server processes. A sender
posts due rows and, on failure, retries with exponential backoff, for ever:
an undelivered alert stays visible on the devices page. Message bodies are
built at send time in one of three formats: ``generic`` JSON, the WeCom robot
markdown message, or the DingTalk robot markdown message. They carry no
personal data of citizens (no phone, no comment).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kiosk.backoff import exponential
from kiosk.levels import REASON_BY_CODE, Level

from .. import cases as cases_mod
from ..auth import utcnow
from ..config import AlertSettings
from ..db import cases, is_sqlite, ratings, write_tx
from ..leases import LeasedJob
from .tables import alert_outbox, web_meta

log = logging.getLogger("central.alerts")

NEW_BAD = "new_bad"
DUE_SOON = "due_soon"
#: The provincial platform refused a record (``case_id`` holds the push record's id).
PUSH_REJECTED = "push_rejected"
#: The platform has been unreachable past ``[province] down_alert_minutes`` (``case_id``
#: holds the minute the outage began, so each outage is announced once).
PUSH_DOWN = "push_down"
PUSH_KINDS = (PUSH_REJECTED, PUSH_DOWN)
#: The highest push record id when alerts were first switched on: older refusals are never announced.
PUSH_FLOOR = "alerts.push_floor"
WATERMARK = "alerts.case_watermark"
#: The highest case id when alerts were first switched on: older cases are never announced.
FLOOR = "alerts.case_floor"
#: Cases are scanned from this many ids below the watermark again, so a case whose
#: ingest transaction committed late (PostgreSQL, concurrent writers) is not missed.
RESCAN = 200
CLAIM_SECONDS = 60
KEEP_SENT_DAYS = 90


def _insert_ignore(conn: Connection, table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    stmt: sa.Insert
    if is_sqlite(conn):
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        stmt = sqlite_insert(table).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        stmt = pg_insert(table).on_conflict_do_nothing()
    conn.execute(stmt, rows)


# --- scanning --------------------------------------------------------------------

def _listed(cfg: AlertSettings) -> sa.ColumnElement[bool]:
    """Whether a case's rating is of a source ``[alerts] sources`` lists (every case when it is empty)."""
    if not cfg.sources:
        return sa.true()
    return sa.exists().where(ratings.c.event_id == cases.c.rating_id, ratings.c.source.in_(cfg.sources))


def scan(engine: Engine, cfg: AlertSettings, now: datetime | None = None) -> int:
    """Queue alerts for new cases and for cases near their deadline; returns how many were queued."""
    now = now or utcnow()
    queued = 0
    with write_tx(engine) as conn:
        meta = dict(conn.execute(sa.select(web_meta.c.key, web_meta.c.value)
                                 .where(web_meta.c.key.in_([WATERMARK, FLOOR]))).all())
        if WATERMARK not in meta:
            # first start: announce only cases opened from now on
            top = str(conn.execute(sa.select(sa.func.max(cases.c.id))).scalar() or 0)
            _insert_ignore(conn, web_meta, [{"key": WATERMARK, "value": top}, {"key": FLOOR, "value": top}])
            meta = {WATERMARK: top, FLOOR: top}
        mark, floor = int(meta[WATERMARK]), int(meta.get(FLOOR, 0))
        have = alert_outbox.c
        listed = _listed(cfg)
        # every new case moves the watermark; only those of the listed sources are queued
        seen = conn.execute(
            sa.select(cases.c.id, listed.label("listed")).where(
                cases.c.id > max(mark - RESCAN, floor),
                ~sa.exists().where(have.kind == NEW_BAD, have.case_id == cases.c.id))
            .order_by(cases.c.id).limit(1000)).all()
        new_ids = [r.id for r in seen if r.listed]
        due_ids = conn.execute(
            sa.select(cases.c.id).where(
                cases.c.state.in_(cases_mod.CAN_BE_OVERDUE), cases.c.deadline > now,
                # one working day before the deadline (central.workdays), or within due_soon_hours
                sa.or_(cases.c.due_soon_at <= now, cases.c.deadline <= now + timedelta(hours=cfg.due_soon_hours)),
                listed, ~sa.exists().where(have.kind == DUE_SOON, have.case_id == cases.c.id))
            .order_by(cases.c.id).limit(1000)).scalars().all()
        rows = ([{"kind": NEW_BAD, "case_id": i, "created_at": now, "payload": "", "attempts": 0, "next_at": now}
                 for i in new_ids]
                + [{"kind": DUE_SOON, "case_id": i, "created_at": now, "payload": "", "attempts": 0,
                    "next_at": now} for i in due_ids])
        rows += _push_alerts(conn, now)
        _insert_ignore(conn, alert_outbox, rows)
        queued = len(rows)
        last = max((int(r.id) for r in seen), default=mark)
        if last > mark:
            conn.execute(web_meta.update().where(web_meta.c.key == WATERMARK).values(value=str(last)))
        # delivered alerts are kept a while for inspection; their cases are past re-queueing by then
        conn.execute(alert_outbox.delete().where(have.sent_at < now - timedelta(days=KEEP_SENT_DAYS)))
    return queued


def _push_alerts(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Alert rows for records the provincial platform refused and for an outage
    (central.province): one per record, one per outage."""
    from ..db import province_outbox
    from ..province import DOWN_KEY, REJECTED

    meta = dict(conn.execute(sa.select(web_meta.c.key, web_meta.c.value)
                             .where(web_meta.c.key.in_([PUSH_FLOOR, DOWN_KEY]))).all())
    if PUSH_FLOOR not in meta:
        top = str(conn.execute(sa.select(sa.func.max(province_outbox.c.id))).scalar() or 0)
        _insert_ignore(conn, web_meta, [{"key": PUSH_FLOOR, "value": top}])
        meta[PUSH_FLOOR] = top
    po, have = province_outbox.c, alert_outbox.c
    refused = conn.execute(sa.select(po.id).where(
        po.id > int(meta[PUSH_FLOOR]), po.status == REJECTED,
        ~sa.exists().where(have.kind == PUSH_REJECTED, have.case_id == po.id)).order_by(po.id).limit(1000)).scalars()
    ids = [(PUSH_REJECTED, i) for i in refused]
    if DOWN_KEY in meta:
        began = datetime.fromisoformat(meta[DOWN_KEY]).replace(tzinfo=UTC)
        ids.append((PUSH_DOWN, int(began.timestamp() // 60)))
    return [{"kind": k, "case_id": i, "created_at": now, "payload": "", "attempts": 0, "next_at": now} for k, i in ids]


def push_subject(conn: Connection, kind: str, subject: int) -> dict[str, Any] | None:
    """What a provincial-push alert is about: the refused record, or the outage."""
    from ..db import province_outbox

    if kind == PUSH_DOWN:
        return {"since": datetime.fromtimestamp(subject * 60, UTC).replace(tzinfo=None).isoformat() + "Z"}
    po = province_outbox.c
    row = conn.execute(sa.select(po.id, po.reason, po.updated_at, ratings.c.section, ratings.c.window_no,
                                 ratings.c.project_no, ratings.c.satisfaction)
                       .join(ratings, ratings.c.event_id == po.rating_id).where(po.id == subject)).first()
    if row is None:
        return None
    return {"push_id": row.id, "reason": row.reason or "", "section": row.section, "window_no": row.window_no,
            "project_no": row.project_no or "", "satisfaction": row.satisfaction}


def build_push_message(kind: str, subject: dict[str, Any], *, fmt: str, base_url: str, tz: ZoneInfo,
                       alert_id: int) -> dict[str, Any]:
    """The webhook body for a provincial-push alert in ``fmt`` (no personal data)."""
    url = f"{base_url.rstrip('/')}/province" if base_url else "/province"
    if kind == PUSH_DOWN:
        title = "省级好差评平台连接中断"
        lines = [f"自 {_local(subject['since'], tz)} 起无法连接省级平台，评价数据暂存待推送，恢复后自动补推。"]
    else:
        title = f"省级平台拒收评价 #{subject['push_id']}"
        lines = [f"版块：{subject['section']}　窗口：{subject['window_no']}　办件编号：{subject['project_no'] or '（无）'}",
                 f"评价：{Level.from_wire(subject['satisfaction']).zh}　平台答复：{subject['reason'][:200]}"]
    if fmt == "generic":
        return {"event": kind, "alert_id": alert_id, "title": title, "text": "\n".join(lines), "url": url,
                "push": subject}
    md = f"### {title}\n" + "\n".join(f"> {line}" for line in lines) + f"\n\n[查看推送状态]({url})"
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": md}}
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": md}}
    raise ValueError(f"[alerts] format: expected generic, wecom or dingtalk, got {fmt!r}")


# --- messages ---------------------------------------------------------------------

def _local(iso: str | None, tz: ZoneInfo) -> str:
    if not iso:
        return ""
    t = datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=UTC).astimezone(tz)
    return t.strftime("%Y-%m-%d %H:%M")


def source_zh(source: str | None) -> str:
    """How an alert names where a rating came from (a device's sources are all 现场评价器)."""
    from ..channels import SOURCE_ZH

    return SOURCE_ZH.get(source or "", "现场评价器")


def build_message(kind: str, case: dict[str, Any], *, fmt: str, base_url: str, tz: ZoneInfo,
                  alert_id: int) -> dict[str, Any]:
    """The webhook body for one alert in ``fmt`` (generic | wecom | dingtalk)."""
    level = Level.from_wire(case["satisfaction"])
    staff_name = (case.get("rating") or {}).get("staff_name", "")
    reasons = [REASON_BY_CODE[c].zh for c in case.get("reasons", []) if c in REASON_BY_CODE]
    url = f"{base_url.rstrip('/')}/cases/{case['id']}" if base_url else f"/cases/{case['id']}"
    title = ("差评提醒" if kind == NEW_BAD else "差评工单即将超期") + f" #{case['id']}"
    lines = [
        f"版块：{case['section']}　窗口：{case['window_no']}　工号：{case['staff_no']} {staff_name}".rstrip(),
        f"评价：{level.zh}　来源：{source_zh((case.get('rating') or {}).get('source'))}　"
        f"时间：{_local(case['rated_at'], tz)}",
        f"原因：{'、'.join(reasons) if reasons else '（未选择）'}",
        f"状态：{case['state_zh']}　整改期限：{_local(case['deadline'], tz)}",
    ]
    if fmt == "generic":
        return {
            "event": "bad_rating" if kind == NEW_BAD else "case_due_soon", "alert_id": alert_id,
            "title": title, "text": "\n".join(lines), "url": url,
            "case": {"id": case["id"], "state": case["state"], "section": case["section"],
                     "window_no": case["window_no"], "staff_no": case["staff_no"], "staff_name": staff_name,
                     "satisfaction": case["satisfaction"], "level": level.value, "level_zh": level.zh,
                     "rated_at": case["rated_at"], "deadline": case["deadline"], "overdue": case["overdue"],
                     "reasons": case.get("reasons", [])},
        }
    md = f"### {title}\n" + "\n".join(f"> {line}" for line in lines) + f"\n\n[查看工单]({url})"
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": md}}
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": md}}
    raise ValueError(f"[alerts] format: expected generic, wecom or dingtalk, got {fmt!r}")


# --- sending ----------------------------------------------------------------------

Poster = Callable[[str, dict[str, Any], float], None]


def http_post(url: str, body: dict[str, Any], timeout: float) -> None:
    """POST ``body`` as JSON; raises on a network error, a non-2xx answer or a robot's errcode."""
    import requests

    r = requests.post(url, json=body, timeout=timeout)
    if not 200 <= r.status_code < 300:
        raise OSError(f"HTTP {r.status_code}")
    try:
        answer = r.json()
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode") not in (None, 0):
        raise OSError(f"errcode {answer.get('errcode')}: {str(answer.get('errmsg'))[:100]}")


def backoff(cfg: AlertSettings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure."""
    return exponential(cfg.retry_seconds, cfg.retry_max_seconds, attempts - 1)


def deliver_due(engine: Engine, cfg: AlertSettings, tz: ZoneInfo, *, post: Poster = http_post,
                now: datetime | None = None, limit: int = 50) -> tuple[int, int]:
    """Send the alerts that are due, oldest first; returns (sent, failed).

    A round stops at the first failure: the webhook is probably down, and the
    rest will be tried after the backoff.
    """
    now = now or utcnow()
    o = alert_outbox.c
    with engine.connect() as conn:
        due = conn.execute(sa.select(o.id, o.kind, o.case_id, o.attempts).where(
            o.sent_at.is_(None), o.next_at <= now,
            sa.or_(o.claimed_until.is_(None), o.claimed_until < now)).order_by(o.id).limit(limit)).all()
    sent = failed = 0
    for row in due:
        with write_tx(engine) as conn:
            got = conn.execute(alert_outbox.update().where(
                o.id == row.id, o.sent_at.is_(None),
                sa.or_(o.claimed_until.is_(None), o.claimed_until < now))
                .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS)))
            if got.rowcount != 1:
                continue
            body = _body(conn, row, cfg, tz, now)
        error = None if body is not None else f"{row.kind} {row.case_id} not found"
        if body is not None:
            try:
                post(cfg.url, body, cfg.timeout_seconds)
            except Exception as exc:  # any delivery failure is retried later
                error = f"{type(exc).__name__}: {exc}"[:300]
        done = utcnow()
        with write_tx(engine) as conn:
            if error is None:
                conn.execute(alert_outbox.update().where(o.id == row.id).values(
                    sent_at=done, attempts=row.attempts + 1, claimed_until=None, last_error=None,
                    payload=json.dumps(body, ensure_ascii=False)))
                sent += 1
            else:
                conn.execute(alert_outbox.update().where(o.id == row.id).values(
                    attempts=row.attempts + 1, claimed_until=None, last_error=error,
                    next_at=done + timedelta(seconds=backoff(cfg, row.attempts + 1))))
                failed += 1
        if error is not None:
            log.warning("alert %s for case %s not delivered (attempt %d): %s", row.kind, row.case_id,
                        row.attempts + 1, error)
            break
    return sent, failed


def _body(conn: Connection, row: Any, cfg: AlertSettings, tz: ZoneInfo, now: datetime) -> dict[str, Any] | None:
    kw = {"fmt": cfg.format, "base_url": cfg.base_url, "tz": tz, "alert_id": row.id}
    if row.kind in PUSH_KINDS:
        subject = push_subject(conn, row.kind, row.case_id)
        return None if subject is None else build_push_message(row.kind, subject, **kw)
    case = cases_mod.get_case(conn, row.case_id, now=now, show_phone=False)
    return None if case is None else build_message(row.kind, case, **kw)


def outbox_status(conn: Connection) -> dict[str, Any]:
    """Pending and delivered counts and the last delivery error, for the devices page."""
    o = alert_outbox.c
    pending = conn.execute(sa.select(sa.func.count()).where(o.sent_at.is_(None))).scalar_one()
    sent = conn.execute(sa.select(sa.func.count()).where(o.sent_at.is_not(None))).scalar_one()
    last = conn.execute(sa.select(o.last_error, o.attempts, o.next_at).where(
        o.sent_at.is_(None), o.last_error.is_not(None)).order_by(o.id).limit(1)).first()
    return {"pending": pending, "sent": sent, "last_error": last.last_error if last else None,
            "attempts": last.attempts if last else 0}


class AlertSender:
    """Scans and delivers every ``poll_seconds`` on its own thread until stopped, in one
    server process at a time: the holder of the ``alerts`` lease (central.leases). When
    that process dies another one takes the lease and goes on where it stopped."""

    LEASE = "alerts"

    def __init__(self, engine: Engine, cfg: AlertSettings, tz: ZoneInfo, post: Poster = http_post):
        self.engine = engine
        self.cfg = cfg
        self.tz = tz
        self.post = post
        self._job = LeasedJob(engine, self.LEASE, self.run_once, every=cfg.poll_seconds)

    def run_once(self) -> tuple[int, int]:
        scan(self.engine, self.cfg)
        return deliver_due(self.engine, self.cfg, self.tz, post=self.post)

    def start(self) -> None:
        self._job.start()

    def stop(self) -> None:
        self._job.stop(timeout=self.cfg.timeout_seconds + 2)
