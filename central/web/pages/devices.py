"""The devices page: which device needs a technician, and the alert outbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from ... import heartbeats
from ...api import deps
from ...auth import utcnow
from ...db import devices
from ..alerts import outbox_status
from .common import render, to_login, user_of

router = APIRouter(include_in_schema=False)
ORDER = {"faulty": 0, "stale": 1, "never": 2, "ok": 3, "revoked": 4}


def device_row(r, now: datetime, stale_after: timedelta) -> dict[str, Any]:
    """One device's state for the page: ``status`` is revoked, never, stale, faulty or ok."""
    try:
        state = json.loads(r.last_state) if r.last_state else {}
    except ValueError:
        state = {}
    if not isinstance(state, dict):
        state = {}
    hardware = state.get("hardware")
    if not isinstance(hardware, dict):
        hardware = {}
    faults = sorted(name for name, h in hardware.items() if isinstance(h, dict) and h.get("ok") is False)
    if r.revoked_at is not None or r.token_hash is None:
        status = "revoked"
    elif r.last_seen_at is None:
        status = "never"
    elif now - r.last_seen_at > stale_after:
        status = "stale"
    elif faults or state.get("sync_stopped") or (state.get("rejected") or 0) > 0:
        status = "faulty"
    else:
        status = "ok"
    return {"row": r, "state": state, "hardware": hardware, "faults": faults, "status": status,
            "seen_ago": None if r.last_seen_at is None else int((now - r.last_seen_at).total_seconds())}


@router.get("/devices")
def devices_page(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    settings = deps.get_settings(request)
    heartbeats.flush_kept(request.app.state)
    now = utcnow()
    stale_after = timedelta(seconds=3 * settings.web.heartbeat_interval_seconds)
    with deps.get_engine(request).connect() as conn:
        out = [device_row(r, now, stale_after) for r in conn.execute(
            sa.select(devices).order_by(devices.c.section, devices.c.window_no, devices.c.device_id))]
        alerts = outbox_status(conn)
    out.sort(key=lambda d: ORDER[d["status"]])  # the ones that need a technician first
    counts = {s: sum(1 for d in out if d["status"] == s) for s in ORDER}
    return render(request, "devices.html", user=user, devices=out, counts=counts, alerts=alerts,
                  alerts_enabled=bool(settings.alerts.enabled and settings.alerts.url),
                  stale_seconds=int(stale_after.total_seconds()))
