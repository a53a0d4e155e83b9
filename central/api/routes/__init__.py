"""One router per resource; :data:`ROUTERS` in the order the app includes them."""

from __future__ import annotations

from . import batches, cases, devices, entries, ops, province, settings, stats, users

ROUTERS = [ops.router, batches.router, devices.router, users.router, stats.router, cases.router,
           settings.router, province.router, entries.router]
