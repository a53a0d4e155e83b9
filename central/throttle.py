"""The login throttle, shared by ``POST /api/v1/login`` and the login page.

A login attempt first takes a place in ``web_login_attempts`` for the user name
and for the client address, in one transaction that also counts the places
already taken in the window (serialised per name and address: SQLite's write
lock, a PostgreSQL advisory lock). Only then is the password checked. A good
password gives its places back; a wrong one leaves them as the record of a
failure. So N parallel wrong passwords for one account are checked at most
``login_max_failures`` times, whatever their timing. The attempt that locks an
account is logged.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .config import WebSettings
from .db import is_sqlite, write_tx
from .web.tables import login_attempts

log = logging.getLogger("central.login")

#: a client address may fail this many times more often than one user name (a hall may share one address)
ADDRESS_FACTOR = 4


@dataclass
class Attempt:
    """A place taken for one login: ``refused`` when the name or the address is
    locked (``retry_after`` seconds from now)."""

    username: str
    ip: str
    refused: str | None = None  # "user" | "address"
    retry_after: int = 0
    last_try: bool = False
    ids: list[int] = field(default_factory=list)

    def message(self, lang: str = "en") -> str:
        """What the person at the login form reads."""
        minutes = max(1, -(-self.retry_after // 60))
        if self.refused == "user":
            return (f"账号 {self.username} 因多次密码错误已暂时锁定，请 {minutes} 分钟后再试，或请管理员重置密码。"
                    if lang == "zh" else
                    f"the account {self.username!r} is locked after too many wrong passwords; try again in "
                    f"{minutes} minutes or ask an administrator to reset the password")
        return (f"此地址登录失败次数过多，请 {minutes} 分钟后再试。" if lang == "zh" else
                f"too many failed logins from this address; try again in {minutes} minutes")


class LoginThrottle:
    """Counts failed logins per user name and per client address over ``[web]
    login_window_minutes``; at ``login_max_failures`` the name is locked."""

    def __init__(self, engine: Engine, web: WebSettings):
        self.engine = engine
        self.max_failures = web.login_max_failures
        self.window = timedelta(minutes=web.login_window_minutes)

    def _keys(self, username: str, ip: str) -> list[tuple[str, int, str]]:
        return [(f"u:{username.lower()}"[:128], self.max_failures, "user"),
                (f"ip:{ip}"[:128], ADDRESS_FACTOR * self.max_failures, "address")]

    def begin(self, username: str, ip: str, now: datetime) -> Attempt:
        """Take a place for a login by ``username`` from ``ip``, or refuse it."""
        attempt = Attempt(username, ip)
        since = now - self.window
        keys = self._keys(username, ip)
        with write_tx(self.engine) as conn:
            if not is_sqlite(self.engine):
                for key, _, _ in sorted(keys):
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                 {"k": zlib.crc32(key.encode("utf-8"))})
            conn.execute(login_attempts.delete().where(login_attempts.c.at < since))
            for key, limit, kind in keys:
                taken, first = conn.execute(sa.select(sa.func.count(), sa.func.min(login_attempts.c.at)).where(
                    login_attempts.c.key == key, login_attempts.c.at >= since)).one()
                if taken >= limit:
                    attempt.refused = kind
                    attempt.retry_after = max(1, int((first + self.window - now).total_seconds()) + 1)
                    return attempt
                attempt.last_try = attempt.last_try or (kind == "user" and taken + 1 >= limit)
            for key, _, _ in keys:
                attempt.ids.append(conn.execute(login_attempts.insert().values(key=key, at=now)
                                                .returning(login_attempts.c.id)).scalar_one())
        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the places go back."""
        if attempt.ids:
            with write_tx(self.engine) as conn:
                conn.execute(login_attempts.delete().where(login_attempts.c.id.in_(attempt.ids)))

    def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the places stay, as the failure's record."""
        if attempt.last_try:
            log.warning("login: the account %r is locked for %d minutes after %d wrong passwords "
                        "(the last from %s)", attempt.username, int(self.window.total_seconds() // 60),
                        self.max_failures, attempt.ip)


class BatchSlots:
    """How many batches are processed at once in this process, and how long a
    refused one is told to wait.

    ``limit`` is ``[server] max_inflight_batches``, but never more than the
    database connections the process has (``connections``) less a few kept for
    everything else (``/healthz``, the pages, heartbeats): a batch waiting for a
    connection holds a slot and makes every other request wait too.

    A refused batch gets ``Retry-After`` drawn at random from 1 to a window sized
    to the queue: the batches refused in the last ``span`` seconds over the
    batches finished per second, so the refused return at about the rate the
    server finishes them instead of all together.
    """

    RESERVED = 4

    def __init__(self, limit: int, connections: int | None = None, *, span: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None):
        if connections is not None:
            limit = max(1, min(limit, connections - self.RESERVED))
        self.limit = limit
        self.used = 0
        self.span = span
        self.clock = clock
        self.rng = rng or random.Random()
        self._done: collections.deque[float] = collections.deque()
        self._refused: collections.deque[float] = collections.deque()

    def take(self) -> bool:
        """A slot, or False (the caller answers 503 with :meth:`retry_after`)."""
        if self.used >= self.limit:
            self._refused.append(self.clock())
            return False
        self.used += 1
        return True

    def release(self) -> None:
        self.used -= 1
        self._done.append(self.clock())

    def window(self) -> int:
        """The largest Retry-After now, in seconds (2 to 120)."""
        since = self.clock() - self.span
        for q in (self._done, self._refused):
            while q and q[0] < since:
                q.popleft()
        per_second = max(len(self._done) / self.span, 1.0)
        return int(min(120, max(2, math.ceil(len(self._refused) / per_second))))

    def retry_after(self) -> int:
        return self.rng.randint(1, self.window())
