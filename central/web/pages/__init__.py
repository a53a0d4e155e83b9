"""The web pages, one module per page group, sharing :mod:`.common` and
:mod:`central.api.deps`. Every page reads through the same functions as the
API (:mod:`central.stats`, :mod:`central.cases`, :mod:`central.auth`), so the
numbers a supervisor sees are the numbers ``GET /api/v1/stats`` returns. Roles
are checked on every request; every form carries a CSRF token."""

from __future__ import annotations

from . import board, cases, devices, entry, exports, login, overview, province, qr, ratings

ROUTERS = [login.router, overview.router, ratings.router, devices.router, cases.router, board.router,
           exports.router, province.router, qr.router, entry.router]
