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

import logging
import zlib
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
