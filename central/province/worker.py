"""Sending the push records to the provincial platform.

One round: claim up to ``batch_size`` due ``pending`` records (PostgreSQL:
``SELECT … FOR UPDATE SKIP LOCKED``, then a lease in ``claimed_until`` and a
random ``claim_token``; SQLite: the same inside ``BEGIN IMMEDIATE``), commit,
post each, then write the outcome only where the token is still ours. A
process that dies while sending leaves its lease to expire; the record is sent
again and the platform's "already exists" answer counts as sent. Failures of
the platform (no answer, HTTP 5xx, a timeout) back off per record with full
jitter, bounded by ``retry_max_seconds``; a refusal is ``rejected`` with the
platform's reason, until an admin pushes it again.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kiosk.backoff import exponential

from ..auth import utcnow
from ..db import case_transitions, cases, is_sqlite, province_outbox, rating_details, ratings, write_tx
from . import DOWN_KEY, PENDING, REJECTED, SENT, SKIPPED, profiles
from .signer import Signer

log = logging.getLogger("central.province")


@dataclass
class Answer:
    """The platform's answer: ``ok``; or a refusal with ``reason``; or ``down`` (try later)."""

    ok: bool
    reason: str = ""
    down: bool = False


Poster = Callable[[str, bytes, dict[str, str], float], tuple[int, bytes]]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536)


def judge(profile: profiles.Profile, status: int, body: bytes) -> Answer:
    """What an HTTP answer means under ``profile``."""
    if status >= 500 or status in (408, 429):
        return Answer(False, f"HTTP {status}", down=True)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    msg = str(data.get(profile.message_field, "")) if isinstance(data, dict) else body[:200].decode("utf-8", "replace")
    if any(text in msg for text in profile.already_exists):
        return Answer(True, msg)
    code = str(data.get(profile.code_field)) if isinstance(data, dict) else ""
    if status == 200 and code in profile.ok_codes:
        return Answer(True)
    return Answer(False, msg or f"HTTP {status}")


def _claim(engine: Engine, batch: int, lease: float, now: datetime) -> tuple[str, list[int]]:
    token = secrets.token_hex(16)
    o = province_outbox.c
    with write_tx(engine) as conn:
        q = (sa.select(o.id).where(o.status == PENDING, o.next_attempt_at <= now,
                                   sa.or_(o.claimed_until.is_(None), o.claimed_until < now))
             .order_by(o.id).limit(batch))
        if not is_sqlite(conn):
            q = q.with_for_update(skip_locked=True)
        ids = list(conn.execute(q).scalars())
        if ids:
            conn.execute(province_outbox.update().where(o.id.in_(ids))
                         .values(claimed_until=now + timedelta(seconds=lease), claim_token=token))
    return token, ids


def _details(conn: Connection, rating_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The latest detail's reasons and comment of each rating, else the reasons 核实 learned."""
    out: dict[str, dict[str, Any]] = {}
    d = rating_details.c
    for r in conn.execute(sa.select(d.rating_id, d.reasons, d.comment).where(d.rating_id.in_(rating_ids))
                          .order_by(d.created_at, d.event_id)):
        out[r.rating_id] = {"reasons": json.loads(r.reasons), "comment": r.comment}
    t = case_transitions.c
    for s in conn.execute(sa.select(cases.c.rating_id, t.data).join(cases, cases.c.id == t.case_id)
                          .where(cases.c.rating_id.in_(rating_ids), t.to_state == "verified",
                                 t.data.is_not(None)).order_by(t.id)):
        learned = json.loads(s.data).get("reasons")
        have = out.setdefault(s.rating_id, {"reasons": [], "comment": None})
        if learned and not have["reasons"]:
            have["reasons"] = learned
    return out


def load(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """The ratings of push records ``ids`` with their reasons and comment (no phone)."""
    o = province_outbox.c
    cols = [c for c in ratings.c if c.name not in ("claimed_window_no", "claimed_section", "staff_flagged")]
    rows = [dict(r._mapping) for r in conn.execute(
        sa.select(o.id.label("push_id"), *cols).join(ratings, ratings.c.event_id == o.rating_id)
        .where(o.id.in_(ids)).order_by(o.id))]
    more = _details(conn, [r["event_id"] for r in rows])
    for r in rows:
        r.update(more.get(r["event_id"], {"reasons": [], "comment": None}))
    return rows


class Pusher:
    """Pushes due records every ``poll_seconds`` on its own thread (``cfg`` is
    :class:`central.config.ProvinceSettings`)."""

    def __init__(self, engine: Engine, cfg: Any, tz: ZoneInfo, post: Poster = http_post):
        self.engine = engine
        self.cfg = cfg
        self.tz = tz
        self.post = post
        self.profile = profiles.get(cfg.profile)
        self.signer = Signer(cfg)
        self.down_since: datetime | None = None
        self._warned = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> int:
        """One round; the number of records whose outcome was written."""
        now = now or utcnow()
        token, ids = _claim(self.engine, self.cfg.batch_size, self.cfg.lease_seconds, now)
        if not ids:
            return 0
        with self.engine.connect() as conn:
            rows = load(conn, ids)
        outcomes = []
        for r in rows:  # the outcomes are written together: one commit per round
            outcomes.append((r["push_id"], self._send(r)))
            if self._stop.is_set():
                break
        with write_tx(self.engine) as conn:
            return sum(self._finish(conn, push_id, token, a) for push_id, a in outcomes)

    def _send(self, r: dict[str, Any]) -> Answer | None:
        """None = skipped (no project_no while the profile needs one)."""
        if self.profile.requires_project and not r.get("project_no"):
            return None
        cfg = self.cfg
        rec = profiles.record(self.profile, r, area_code=cfg.area_code, data_source=cfg.data_source, tz=self.tz)
        body = json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            status, answer = self.post(cfg.url, body, self.signer.headers(body), cfg.timeout_seconds)
        except (OSError, TimeoutError) as exc:
            answer_ = Answer(False, f"{type(exc).__name__}: {exc}"[:300], down=True)
        else:
            answer_ = judge(self.profile, status, answer)
        self._note_down(answer_.down)
        return answer_

    def _note_down(self, down: bool) -> None:
        """Track how long the platform has been unreachable; warn once past ``down_alert_minutes``."""
        now = utcnow()
        if not down:
            if self.down_since is not None:
                mark_down(self.engine, None)
            self.down_since, self._warned = None, False
            return
        self.down_since = self.down_since or now
        if not self._warned and now - self.down_since >= timedelta(minutes=self.cfg.down_alert_minutes):
            self._warned = True
            log.warning("the provincial platform has been unreachable since %s UTC", self.down_since.isoformat())
            mark_down(self.engine, self.down_since)

    def _finish(self, conn: Connection, push_id: int, token: str, a: Answer | None) -> int:
        o = province_outbox.c
        now = utcnow()
        values: dict[str, Any] = {"claimed_until": None, "claim_token": None, "updated_at": now}
        if a is None:
            values.update(status=SKIPPED, reason="no project_no (办件编号)")
        elif a.ok:
            values.update(status=SENT, sent_at=now, last_error=None, reason=a.reason or None)
        elif not a.down:
            values.update(status=REJECTED, reason=a.reason, last_error=a.reason)
        if a is not None and a.down:
            attempts = conn.execute(sa.select(o.attempts).where(o.id == push_id)).scalar_one()
            delay = random.uniform(0.5, 1.0) * exponential(self.cfg.retry_seconds, self.cfg.retry_max_seconds,
                                                          attempts)
            values.update(last_error=a.reason, next_attempt_at=now + timedelta(seconds=delay))
        values["attempts"] = o.attempts + 1 if a is not None else o.attempts
        res = conn.execute(province_outbox.update().where(o.id == push_id, o.claim_token == token)
                           .values(**values))
        return res.rowcount or 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("province outbox unavailable: %s", type(exc).__name__)
                busy = 0
            except Exception:
                log.exception("province push round failed")
                busy = 0
            if not busy:
                self._stop.wait(self.cfg.poll_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="province-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.cfg.timeout_seconds + 2)


def mark_down(engine: Engine, since: datetime | None) -> None:
    """Record (``since``) or clear (None) that the platform has been unreachable for
    longer than ``down_alert_minutes``: the alert scanner (central.web.alerts) turns
    the record into one alert per outage, whichever process noticed it first."""
    from ..web.tables import web_meta

    try:
        with write_tx(engine) as conn:
            have = conn.execute(sa.select(web_meta.c.value).where(web_meta.c.key == DOWN_KEY)).scalar()
            if since is None and have is not None:
                conn.execute(web_meta.delete().where(web_meta.c.key == DOWN_KEY))
            elif since is not None and have is None:
                conn.execute(web_meta.insert().values(key=DOWN_KEY, value=since.isoformat()))
    except sa.exc.SQLAlchemyError as exc:  # another process wrote it first, or the database is away
        log.warning("province outage mark not written: %s", type(exc).__name__)


def repush(conn: Connection, *, push_id: int | None = None, now: datetime) -> int:
    """Make one record (``push_id``) or every rejected one pending again, due now."""
    o = province_outbox.c
    where = [o.id == push_id, o.status.in_((REJECTED, SKIPPED, SENT))] if push_id is not None \
        else [o.status == REJECTED]
    res = conn.execute(province_outbox.update().where(*where)
                       .values(status=PENDING, next_attempt_at=now, attempts=0, updated_at=now,
                               claimed_until=None, claim_token=None))
    return res.rowcount or 0
