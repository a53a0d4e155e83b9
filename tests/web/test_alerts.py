"""Alerts: every new 差评 and every case a day from overdue goes to the webhook
through the outbox; nothing is lost while the webhook is down."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa

from central import db
from central.web import alerts
from central.web.tables import alert_outbox, web_meta
from testkit.server import add_device, add_user, free_port, make_batch

from .conftest import PASSWORD, ev_detail, ev_rating, web_server

TZ = ZoneInfo("Asia/Shanghai")
CASE = {"id": 7, "rating_id": "r-7", "device_id": "d", "state": "open", "state_zh": "待核实", "satisfaction": 1,
        "section": "综合服务区", "window_no": "3", "staff_no": "A003", "day": "2026-12-01",
        "rated_at": "2026-12-01T02:00:00.000Z", "opened_at": "2026-12-01T02:00:01.000Z",
        "deadline": "2026-12-06T02:00:00.000Z", "updated_at": "2026-12-01T02:00:01.000Z", "overdue": False,
        "rating": {"staff_name": "张三"}, "reasons": ["115"], "comment": "私人留言", "phone": "138****5678"}


def test_message_formats():
    g = alerts.build_message(alerts.NEW_BAD, CASE, fmt="generic", base_url="http://hall:8080/", tz=TZ, alert_id=3)
    assert g["event"] == "bad_rating" and g["alert_id"] == 3 and g["url"] == "http://hall:8080/cases/7"
    assert g["case"]["satisfaction"] == 1 and g["case"]["level_zh"] == "非常不满意" and g["case"]["reasons"] == ["115"]
    assert "2026-12-01 10:00" in g["text"]  # server timezone
    w = alerts.build_message(alerts.DUE_SOON, CASE, fmt="wecom", base_url="", tz=TZ, alert_id=3)
    assert w["msgtype"] == "markdown" and set(w["markdown"]) == {"content"}
    assert "即将超期" in w["markdown"]["content"] and "服务态度差效率低" in w["markdown"]["content"]
    d = alerts.build_message(alerts.NEW_BAD, CASE, fmt="dingtalk", base_url="", tz=TZ, alert_id=3)
    assert d["msgtype"] == "markdown" and d["markdown"]["title"] == "差评提醒 #7"
    assert "[查看工单](/cases/7)" in d["markdown"]["text"]
    for body in (g, w, d):  # citizens' personal data never leaves
        text = json.dumps(body, ensure_ascii=False)
        assert "5678" not in text and "私人留言" not in text
    assert alerts.backoff(alerts.AlertSettings(retry_seconds=2, retry_max_seconds=30), 1) == 2
    assert alerts.backoff(alerts.AlertSettings(retry_seconds=2, retry_max_seconds=30), 3) == 8
    assert alerts.backoff(alerts.AlertSettings(retry_seconds=2, retry_max_seconds=30), 10) == 30


def _add_case(conn, now: datetime, deadline: datetime, state: str = "open") -> int:
    return conn.execute(db.cases.insert().values(
        rating_id=str(uuid.uuid4()), device_id="d", state=state, satisfaction=2, section="s",
        window_no="1", staff_no="A", day=now.date(), rated_at=now, opened_at=now, deadline=deadline,
        updated_at=now)).inserted_primary_key[0]


def test_scan_queues_new_cases_once_and_cases_near_their_deadline(tmp_path):
    url = str(tmp_path / "c.db")
    db.upgrade(url)
    engine = db.engine_for(url)
    cfg = alerts.AlertSettings(due_soon_hours=24)
    now = datetime(2026, 12, 1, 8, 0)
    with db.write_tx(engine) as conn:
        old = _add_case(conn, now, now + timedelta(days=5))
    assert alerts.scan(engine, cfg, now) == 0  # cases from before alerts were on are not announced
    with db.write_tx(engine) as conn:
        new = _add_case(conn, now, now + timedelta(days=5))
        near = _add_case(conn, now - timedelta(days=4), now + timedelta(hours=20))
        _add_case(conn, now - timedelta(days=4), now + timedelta(hours=20), state="rectified")
        _add_case(conn, now - timedelta(days=6), now - timedelta(hours=1))  # already overdue
    assert alerts.scan(engine, cfg, now) == 4 + 1  # every new case, and the one near its deadline
    assert alerts.scan(engine, cfg, now) == 0  # once per case and kind
    with engine.connect() as conn:
        got = sorted((r.kind, r.case_id) for r in conn.execute(sa.select(alert_outbox)))
    assert (alerts.NEW_BAD, old) not in got
    assert (alerts.NEW_BAD, new) in got and (alerts.NEW_BAD, near) in got
    assert [c for k, c in got if k == alerts.DUE_SOON] == [near]
    # a day later the 5-day case is near its deadline too
    assert alerts.scan(engine, cfg, now + timedelta(days=4, hours=1)) == 2  # `old` and `new`
    # delivered alerts are pruned after KEEP_SENT_DAYS, and their cases are not announced again
    with db.write_tx(engine) as conn:
        conn.execute(alert_outbox.update().values(sent_at=now))
    later = now + timedelta(days=alerts.KEEP_SENT_DAYS + 1)
    assert alerts.scan(engine, cfg, later) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alert_outbox)).scalar_one() == 0


def _add_rated_case(conn, now: datetime, deadline: datetime, source: str) -> int:
    """A case with its rating of ``source`` (alerts look the source up on the rating)."""
    rating_id = str(uuid.uuid4())
    conn.execute(db.ratings.insert().values(
        event_id=rating_id, device_id="", satisfaction=2, misuse=False, source=source, channel=3,
        window_no="1", section="s", staff_no="A", staff_name="张三", rated_at=now, day=now.date()))
    return conn.execute(db.cases.insert().values(
        rating_id=rating_id, device_id="", state="open", satisfaction=2, section="s", window_no="1",
        staff_no="A", day=now.date(), rated_at=now, opened_at=now, deadline=deadline,
        updated_at=now)).inserted_primary_key[0]


def test_scan_queues_only_the_cases_of_the_listed_sources(tmp_path):
    url = str(tmp_path / "c.db")
    db.upgrade(url)
    engine = db.engine_for(url)
    cfg = alerts.AlertSettings(due_soon_hours=24, sources=["qr"])
    now = datetime(2026, 12, 1, 8, 0)
    assert alerts.scan(engine, cfg, now) == 0  # first start: the watermark
    with db.write_tx(engine) as conn:
        qr_new = _add_rated_case(conn, now, now + timedelta(days=5), "qr")
        _add_rated_case(conn, now, now + timedelta(days=5), "touch")
        qr_near = _add_rated_case(conn, now - timedelta(days=4), now + timedelta(hours=20), "qr")
        _add_rated_case(conn, now - timedelta(days=4), now + timedelta(hours=20), "paper")
        last = _add_rated_case(conn, now, now + timedelta(days=5), "gpio")
    assert alerts.scan(engine, cfg, now) == 3  # the two qr cases as new, the near one as due soon
    assert alerts.scan(engine, cfg, now) == 0
    with engine.connect() as conn:
        got = sorted((r.kind, r.case_id) for r in conn.execute(sa.select(alert_outbox)))
        mark = conn.execute(sa.select(web_meta.c.value).where(web_meta.c.key == alerts.WATERMARK)).scalar_one()
    assert got == sorted([(alerts.NEW_BAD, qr_new), (alerts.NEW_BAD, qr_near), (alerts.DUE_SOON, qr_near)])
    assert int(mark) == last  # the cases left out move the watermark on all the same
    # a day later the other qr case is near its deadline; the touch and gpio ones stay quiet
    assert alerts.scan(engine, cfg, now + timedelta(days=4, hours=1)) == 1
    both = alerts.AlertSettings(due_soon_hours=24, sources=["qr", "touch", "gpio"])
    assert alerts.scan(engine, both, now + timedelta(days=4, hours=1)) == 2 + 2  # touch and gpio: new, due soon


def test_an_unknown_alert_source_is_a_config_error_naming_the_key(tmp_path):
    from central.config import load_settings
    from kiosk.exceptions import ConfigError

    from ..conftest import run_kiosk

    good = tmp_path / "good.toml"
    good.write_text('[alerts]\nsources = ["touch", "gpio", "qr"]\n', encoding="utf-8")
    assert load_settings(good).alerts.sources == ["touch", "gpio", "qr"]
    assert load_settings(None).alerts.sources == []  # the default: every source
    bad = tmp_path / "bad.toml"
    bad.write_text('[alerts]\nsources = ["qr", "fax"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alerts\.sources: .*'fax' is not one"):
        load_settings(bad)
    proc = run_kiosk("server", "--config", str(bad), "--db", str(tmp_path / "c.db"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("kiosk: error:")
    assert "alerts.sources" in proc.stderr and "fax" in proc.stderr, proc.stderr


class Receiver:
    """A webhook receiver on a fixed port that can be started late."""

    def __init__(self, port: int):
        self.port = port
        self.bodies: list[dict] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def _wait(cond, timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_webhook_down_then_up_loses_nothing(tmp_path):
    url = str(tmp_path / "alerts.db")
    add_user(url, "sup", PASSWORD, "supervisor")
    token = add_device(url, "al-1")
    port = free_port()
    receiver = Receiver(port)
    engine = db.engine_for(url)
    with web_server(url, alerts={"enabled": True, "url": f"http://127.0.0.1:{port}/hook", "format": "generic",
                                 "poll_seconds": 0.2, "retry_seconds": 0.2, "retry_max_seconds": 1.0,
                                 "timeout_seconds": 2.0}) as server:
        now = datetime.now().astimezone()
        bad = [ev_rating(s, t=now, section="综合服务区", window="1", staff="A001", name="张三") for s in (1, 2, 1)]
        events = bad + [ev_rating(5, t=now, section="综合服务区", window="1", staff="A001", name="张三"),
                        ev_detail(bad[0], ["115"], comment="留言", phone="13900001111")]
        r = requests.post(server + "/api/v1/batches", json=make_batch("al-1", events, boot_id="x"),
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200

        def failing():
            with engine.connect() as conn:
                rows = conn.execute(sa.select(alert_outbox)).all()
            return len(rows) == 3 and all(r.sent_at is None for r in rows) and min(r.attempts for r in rows) >= 1 \
                and rows[0].attempts >= 2 and rows

        rows = _wait(failing, what="failed attempts while the webhook is down")
        assert all(r.last_error for r in rows if r.attempts)
        s = requests.Session()
        s.post(server + "/api/v1/login", json={"username": "sup", "password": PASSWORD}, timeout=10)
        page = s.get(server + "/devices", timeout=10).text
        assert "最近错误" in page

        receiver.start()
        try:
            _wait(lambda: len({b["case"]["id"] for b in receiver.bodies}) == 3, what="delivery once the webhook is up")
        finally:
            receiver.stop()
        cases = {c["rating_id"]: c["id"] for c in
                 s.get(server + "/api/v1/cases", timeout=10).json()["cases"]}
        assert sorted(b["case"]["id"] for b in receiver.bodies) == sorted(cases[e["id"]] for e in bad)
        assert all(b["event"] == "bad_rating" for b in receiver.bodies)
        first = next(b for b in receiver.bodies if b["case"]["id"] == cases[bad[0]["id"]])
        assert first["case"]["reasons"] == ["115"]
        assert "13900001111" not in json.dumps(receiver.bodies) and "留言" not in json.dumps(receiver.bodies,
                                                                                         ensure_ascii=False)
        with engine.connect() as conn:
            assert all(r.sent_at is not None for r in conn.execute(sa.select(alert_outbox)))
        assert "已发送" in s.get(server + "/devices", timeout=10).text
