"""Alerts from the provincial push: a refused record and an outage longer than
``[province] down_alert_minutes`` each reach the supervisors' webhook once, with
no personal data."""

from __future__ import annotations

import json

from central import db
from central.province import DOWN_KEY
from central.web.tables import web_meta
from testkit.province_platform import FakePlatform
from testkit.server import free_port, rating_event, running_server
from tests.web.test_alerts import Receiver

from .conftest import Api
from .test_province_push import counts, province, wait_for

PHONE = "13812345678"


def test_a_refusal_and_an_outage_are_each_announced_once(tmp_path):
    port = free_port()
    receiver = Receiver(port)
    receiver.start()
    alerts = {"enabled": True, "url": f"http://127.0.0.1:{port}/hook", "format": "generic",
              "poll_seconds": 0.2, "retry_seconds": 0.2, "retry_max_seconds": 1.0, "timeout_seconds": 2.0}
    dbfile = str(tmp_path / "c.db")
    try:
        with FakePlatform("shandong") as fp:
            fp.refuse[("P-R", 1)] = "事项编码不存在"
            with running_server(dbfile, timezone="Asia/Shanghai", alerts=alerts,
                                province=province(fp, down_alert_minutes=0.01)) as srv:
                api = Api(srv, dbfile)
                dev = api.device()
                api.results(dev, [rating_event(4, project_no="P-R")])
                wait_for("the refusal announced",
                         lambda: [b for b in receiver.bodies if b["event"] == "push_rejected"])
                fp.mode = "down"
                api.results(dev, [rating_event(5, project_no="P-D")])
                wait_for("the outage announced", lambda: [b for b in receiver.bodies if b["event"] == "push_down"])
                engine = db.engine_for(dbfile)
                with engine.connect() as conn:
                    assert conn.execute(web_meta.select().where(web_meta.c.key == DOWN_KEY)).first() is not None
                fp.mode = "up"
                wait_for("sent after the outage", lambda: counts(api)["sent"] == 1)
                with engine.connect() as conn:
                    wait_for("the outage mark cleared", lambda: conn.execute(
                        web_meta.select().where(web_meta.c.key == DOWN_KEY)).first() is None)
                api.results(dev, [rating_event(3, project_no="P-R2")])
                wait_for("the next one sent", lambda: counts(api)["sent"] == 2)
    finally:
        receiver.stop()
    kinds = [b["event"] for b in receiver.bodies if b["event"].startswith("push_")]
    assert sorted(kinds) == ["push_down", "push_rejected"]
    refused = next(b for b in receiver.bodies if b["event"] == "push_rejected")
    assert "事项编码不存在" in refused["text"] and refused["push"]["project_no"] == "P-R"
    assert refused["url"].endswith("/province")
    down = next(b for b in receiver.bodies if b["event"] == "push_down")
    assert "省级好差评平台连接中断" == down["title"]
    assert PHONE not in json.dumps(receiver.bodies, ensure_ascii=False)
