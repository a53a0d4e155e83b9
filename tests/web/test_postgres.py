"""The pages, exports, case forms and the alert outbox on PostgreSQL too."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests
import sqlalchemy as sa

from central import db
from central.web import alerts
from central.web.tables import alert_outbox
from testkit.server import add_device, add_user, pg_available, postgres_cluster

from .conftest import PASSWORD, known_dataset, upload, web_server


@pytest.fixture(scope="module")
def pg_url():
    ok, reason = pg_available()
    if not ok:
        pytest.skip(reason)
    with postgres_cluster() as url:
        yield url


@pytest.mark.pg
def test_pages_on_postgresql(pg_url):
    add_user(pg_url, "sup", PASSWORD, "supervisor")
    token = add_device(pg_url, "pg-dev", window="1", section="综合服务区")
    data = known_dataset()
    with web_server(pg_url) as url:
        upload(url, "pg-dev", token, data.events)
        s = requests.Session()
        s.post(url + "/api/v1/login", json={"username": "sup", "password": PASSWORD}, timeout=10).raise_for_status()
        for path in ("/overview", "/ratings", "/cases", "/devices", "/board", "/cases/1"):
            assert s.get(url + path, timeout=30).status_code == 200, path
        html = s.get(url + "/overview?from=2000-01-01", timeout=30).text
        api = s.get(url + "/api/v1/stats", params={"from": "2000-01-01"}, timeout=30).json()
        assert int(re.search(r'id="total-count" data-value="(\d+)"', html).group(1)) == api["total"]["count"]
        r = s.get(url + "/export/ratings.xlsx", params={"from": "2000-01-01"}, timeout=30)
        assert openpyxl.load_workbook(io.BytesIO(r.content))["ratings"].max_row == len(data.ratings) + 1
        page = s.get(url + "/cases/1", timeout=30).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = s.post(url + "/cases/1/transition", data={"csrf_token": csrf, "to": "verified", "note": "ok"},
                   allow_redirects=False, timeout=30)
        assert r.status_code == 303
        assert s.get(url + "/api/v1/cases/1", timeout=30).json()["state"] == "verified"
    engine = db.engine_for(pg_url)
    cfg = alerts.AlertSettings(due_soon_hours=24 * 6)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        open_cases = conn.execute(sa.select(sa.func.count()).select_from(db.cases)
                                  .where(db.cases.c.state.in_(["open", "verified"]))).scalar_one()
    # the first scan announces no old case as new, but every case near its deadline
    assert alerts.scan(engine, cfg, now) == open_cases > 0
    assert alerts.scan(engine, cfg, now) == 0
    with engine.connect() as conn:
        kinds = set(conn.execute(sa.select(alert_outbox.c.kind).distinct()).scalars())
    assert kinds == {alerts.DUE_SOON}
    sent = []
    n, failed = alerts.deliver_due(engine, cfg, ZoneInfo("Asia/Shanghai"),
                                   post=lambda u, body, t: sent.append(body), now=now)
    assert n == len(sent) == open_cases and failed == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(alert_outbox.c.sent_at.is_(None))).scalar_one() == 0
