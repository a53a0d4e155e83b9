"""The devices page: last seen, backlog, rejected, clock, hardware, version;
stale (no heartbeat for 3 intervals) and faulty devices stand out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from central import db
from testkit.server import add_device

from .conftest import as_user


def _beat(site, token: str, **state) -> None:
    body = {"app_version": "1.2.3", "pending": 0, "rejected": 0, "clock_synced": True,
            "hardware": {"touch": {"ok": True}}, **state}
    r = requests.post(site.url + "/api/v1/heartbeat", json=body, headers={"Authorization": f"Bearer {token}"},
                      timeout=10)
    assert r.status_code == 200


def test_devices_page(page, site):
    ok = add_device(site.db, "dv-ok", window="7", section="社保医保")
    faulty = add_device(site.db, "dv-faulty", window="8", section="社保医保")
    stale = add_device(site.db, "dv-stale", window="9", section="社保医保")
    add_device(site.db, "dv-never", window="10", section="社保医保")
    _beat(site, ok, pending=12, oldest_pending_age_seconds=40)
    _beat(site, faulty, rejected=2, clock_synced=False,
          hardware={"touch": {"ok": True}, "serial": {"ok": False, "connected": False}})
    _beat(site, stale)
    as_user(page, site, "viewer")
    page.goto(site.url + "/devices")  # the server writes the heartbeats it keeps before showing them
    with db.write_tx(db.engine_for(site.db)) as conn:  # its last heartbeat was 3 intervals (3 × 30 s) ago and more
        conn.execute(db.devices.update().where(db.devices.c.device_id == "dv-stale").values(
            last_seen_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=91)))
    page.goto(site.url + "/devices")

    def row(device_id: str):
        return page.locator(f"#devices tr[data-id='{device_id}']")

    assert row("dv-ok").get_attribute("data-status") == "ok"
    assert row("dv-faulty").get_attribute("data-status") == "faulty"
    assert row("dv-stale").get_attribute("data-status") == "stale"
    assert row("dv-never").get_attribute("data-status") == "never"
    text = row("dv-ok").inner_text()
    assert "12" in text and "40 秒前" in text and "1.2.3" in text and "NTP" in text
    f = row("dv-faulty").inner_text()
    assert "未同步" in f and "串口" in f  # the hardware source by its Chinese name
    assert row("dv-faulty").locator(".pill.red").inner_text() == "串口"
    # the faulty and stale rows are coloured differently from an ok row
    bg = {d: row(d).locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
          for d in ("dv-ok", "dv-faulty", "dv-stale")}
    assert len(set(bg.values())) == 3
    assert not page.errors, page.errors
