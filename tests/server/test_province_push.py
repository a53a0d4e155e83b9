"""The push to the provincial platform against a fake platform on 127.0.0.1:
every rating exactly once with the right fields, through an outage and a
server restart; 差评 waiting for their reasons; refusals, "already exists" and
re-push; the SM2 signature; the 办件 on the wire."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from central.province import signer
from testkit.privacy import phone_numbers
from testkit.province_platform import FakePlatform
from testkit.server import detail_event, rating_event, running_server, unrated_event

from .conftest import Api

TZ = ZoneInfo("Asia/Shanghai")
PHONE = "13812345678"


def wait_for(what, fn, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def province(fp: FakePlatform, **kw) -> dict:
    return {"enabled": True, "profile": fp.profile.name, "url": fp.url, "area_code": "370102",
            "data_source": "hall-1", "poll_seconds": 0.1, "retry_seconds": 0.2, "retry_max_seconds": 1.0,
            "timeout_seconds": 2.0, **kw}


def project(no: str, **kw) -> dict:
    return {"project_no": no, "task_code": "11370100MB2851234X", "task_name": "食品经营许可",
            "dept_code": "11370100004188012Y", "dept_name": "市场监督管理局", "user_name": "李四",
            "user_prop": 1, "accept_date": "2026-12-01", "promise_date": "2026-12-08", **kw}


def counts(api: Api) -> dict:
    r = api.get("/api/v1/province", "admin")
    assert r.status_code == 200, r.text
    return r.json()["counts"]


@pytest.fixture
def platform():
    with FakePlatform("shandong") as fp:
        yield fp


def test_project_is_checked_on_the_wire(tmp_path, platform):
    db = str(tmp_path / "c.db")
    with running_server(db, timezone="Asia/Shanghai") as srv:
        api = Api(srv, db)
        dev = api.device()
        bad = [rating_event(project={"project_no": "P1", "user_prop": 3}),
               rating_event(project_no="P1", project={"project_no": "P2"}),
               rating_event(project={"task_name": 5}),
               rating_event(project={"project_no": "P1", "phone": "1"}),
               rating_event(project=["P1"])]
        res = api.results(dev, bad)
        assert [r["status"] for r in res] == ["rejected"] * 5
        assert "project.user_prop: expected 1 (个人) or 2 (法人)" in res[0]["error"]
        assert "project.project_no" in res[1]["error"] and "differs" in res[1]["error"]
        assert res[2]["error"].startswith("project.task_name: expected a string")
        assert res[3]["error"].startswith("project.phone: not a 办件 field")
        assert res[4]["error"].startswith("project: expected an object")
        ok = api.results(dev, [rating_event(project=project("P9")), unrated_event(project=project("P9"))])
        assert [r["status"] for r in ok] == ["accepted", "accepted"]
        rows = api.get("/api/v1/ratings", "viewer").json()
        row = next(x for x in rows["ratings"] if x["project_no"] == "P9")
        assert row["assess_number"] == 1 and row["task_name"] == "食品经营许可" and row["user_prop"] == 1
        assert row["user_name"] == "李*"  # masked for a role without see_phone
        admin = api.get("/api/v1/ratings", "admin").json()
        assert next(x for x in admin["ratings"] if x["project_no"] == "P9")["user_name"] == "李四"


def test_every_rating_once_through_an_outage_and_a_restart(tmp_path, platform):
    db = str(tmp_path / "c.db")
    platform.mode = "down"
    with running_server(db, timezone="Asia/Shanghai", province=province(platform)) as srv:
        api = Api(srv, db)
        d1, d2 = api.device(), api.device()
        p1 = [rating_event(5, project=project("P-1")), rating_event(4, project_no="P-1")]
        bad = rating_event(2, project_no="P-2", channel=7)
        first = p1 + [bad, detail_event(bad["id"], ["207"], comment="材料样本缺失", phone=PHONE),
                      rating_event(5), unrated_event(project=project("P-1"))]
        assert {r["status"] for r in api.results(d1, first)} == {"accepted"}
        wait_for("a failed attempt", lambda: platform.mode == "down" and any(
            r["attempts"] for r in api.get("/api/v1/province", "admin").json()["records"]))
        platform.close()  # connections refused from now on
        srv.restart()
        late_bad = rating_event(1, project_no="P-2")
        second = [rating_event(3, project_no="P-1"), late_bad]
        assert {r["status"] for r in api.results(d2, second)} == {"accepted"}
        assert counts(api)["waiting_detail"] == 1
        assert {r["status"] for r in api.results(d2, [detail_event(late_bad["id"], ["115"])])} == {"accepted"}
        wait_for("an attempt on a closed port", lambda: any(
            r["last_error"] and "Error" in r["last_error"]
            for r in api.get("/api/v1/province", "admin").json()["records"]))
        platform.mode = "up"
        platform.start()
        wait_for("every record sent", lambda: counts(api)["sent"] == 5)
        assert counts(api) == {"pending": 0, "sent": 5, "rejected": 0, "waiting_detail": 0, "skipped": 1}
    assert dict(platform.receipts) == {("P-1", 1): 1, ("P-1", 2): 1, ("P-1", 3): 1, ("P-2", 1): 1, ("P-2", 2): 1}
    assert not platform.already
    recs = platform.records
    assert [recs[("P-1", n)]["satisfaction"] for n in (1, 2, 3)] == ["5", "4", "3"]
    one = recs[("P-1", 1)]
    assert one["taskCode"] == "11370100MB2851234X" and one["userName"] == "李四" and one["userProp"] == "1"
    assert one["areaCode"] == "370102" and one["dataSource"] == "hall-1" and one["pf"] == "4"
    local = datetime.fromisoformat(p1[0]["created_at"].replace("Z", "+00:00")).astimezone(TZ)
    assert one["assessTime"] == local.strftime("%Y-%m-%d %H:%M:%S")
    assert recs[("P-2", 1)]["evalDetail"] == "207" and recs[("P-2", 1)]["writingEvaluation"] == "材料样本缺失"
    assert recs[("P-2", 1)]["pf"] == "7" and recs[("P-2", 2)]["evalDetail"] == "115"
    assert not any(PHONE.encode() in b or phone_numbers(b) for b in platform.bodies)


def test_a_bad_rating_waits_for_verification_then_goes(tmp_path, platform):
    db = str(tmp_path / "c.db")
    with running_server(db, timezone="Asia/Shanghai", province=province(platform)) as srv:
        api = Api(srv, db)
        ev = rating_event(1, project_no="P-7")
        api.results(api.device(), [ev])
        wait_for("the record", lambda: counts(api)["waiting_detail"] == 1)
        time.sleep(0.5)  # several worker rounds: it must still wait
        assert counts(api)["waiting_detail"] == 1 and not platform.receipts
        rec = api.get("/api/v1/province", "admin", params={"status": "waiting_detail"}).json()["records"][0]
        assert rec["case_id"] and rec["rating_id"] == ev["id"]
        r = api.post(f"/api/v1/cases/{rec['case_id']}/transition", "supervisor",
                     json={"to": "verified", "note": "电话核实", "reasons": ["113", "115"]})
        assert r.status_code == 200, r.text
        wait_for("sent", lambda: counts(api)["sent"] == 1)
    assert platform.records[("P-7", 1)]["evalDetail"] == "113,115"
    assert platform.receipts[("P-7", 1)] == 1


def test_refusal_already_exists_and_repush(tmp_path, platform):
    db = str(tmp_path / "c.db")
    platform.records[("P-8", 1)] = {"seeded": True}
    platform.refuse[("P-8", 2)] = "事项编码不存在"
    with running_server(db, timezone="Asia/Shanghai", province=province(platform)) as srv:
        api = Api(srv, db)
        api.results(api.device(), [rating_event(5, project_no="P-8"), rating_event(4, project_no="P-8")])
        wait_for("both answered", lambda: counts(api)["sent"] == 1 and counts(api)["rejected"] == 1)
        got = {r["assess_number"]: r for r in api.get("/api/v1/province", "admin").json()["records"]}
        assert got[1]["status"] == "sent" and got[1]["reason"] == "本次服务已存在评价"
        assert got[2]["status"] == "rejected" and got[2]["reason"] == "事项编码不存在"
        assert api.post(f"/api/v1/province/{got[1]['id']}/repush", "viewer").status_code == 403
        assert api.post("/api/v1/province/999999/repush", "admin").status_code == 404
        del platform.refuse[("P-8", 2)]
        r = api.post("/api/v1/province/repush-rejected", "admin")
        assert r.status_code == 200 and r.json() == {"repushed": 1}
        wait_for("sent after re-push", lambda: counts(api)["sent"] == 2)
        assert api.post(f"/api/v1/province/{got[2]['id']}/repush", "admin").json() == {"repushed": 1}
        wait_for("sent again", lambda: counts(api)["sent"] == 2 and counts(api)["pending"] == 0)
    assert platform.receipts[("P-8", 2)] == 1 and platform.already[("P-8", 1)] == 1
    assert platform.already[("P-8", 2)] == 1  # the re-push of a sent record: the platform has it


def test_sm2_signed_push_with_configured_headers(tmp_path):
    key = secrets.token_hex(32)
    pub = signer.public_from_private(key)
    (tmp_path / "sm2.key").write_text(key + "\n")
    cfg_extra = {"sign": "sm2", "private_key_file": str(tmp_path / "sm2.key"), "app_id": "hall-app-7",
                 "header_app_id": "appId", "header_timestamp": "timestamp", "header_nonce": "nonce",
                 "header_signature": "sign"}

    class Names:
        app_id = "hall-app-7"
        header_app_id, header_timestamp, header_nonce, header_signature = "appId", "timestamp", "nonce", "sign"

    with FakePlatform("gbt39046", public_key=pub, headers=Names) as fp:
        db = str(tmp_path / "c.db")
        with running_server(db, timezone="Asia/Shanghai", province=province(fp, **cfg_extra)) as srv:
            api = Api(srv, db)
            api.results(api.device(), [rating_event(5, project_no="P-S"), rating_event(3, project_no="P-S")])
            wait_for("signed records accepted", lambda: counts(api)["sent"] == 2)
        h = fp.request_headers[0]
        assert h["appid"] == "hall-app-7" and len(h["sign"]) == 128 and len(h["nonce"]) == 32
        assert "x-signature" not in h and h["timestamp"].isdigit()
        assert fp.records[("P-S", 1)]["满意度代码"] == "1" and fp.records[("P-S", 2)]["满意度代码"] == "3"
        assert fp.records[("P-S", 1)]["评价时间"][8] == "T"


def test_sm2_round_trip_with_gmssl_verify(tmp_path):
    from gmssl import sm2

    key = secrets.token_hex(32)
    pub = signer.public_from_private(key)
    (tmp_path / "k").write_text(key)

    class Cfg:
        sign, private_key_file, app_id, app_key = "sm2", str(tmp_path / "k"), "A1", ""
        header_app_id, header_app_key, header_timestamp = "X-App-Id", "X-App-Key", "X-Timestamp"
        header_nonce, header_signature = "X-Nonce", "X-Signature"

    body = json.dumps({"projectNo": "P"}).encode()
    h = signer.Signer(Cfg).headers(body, now_ms=1764633600000, nonce="ab" * 16)
    assert h["X-Timestamp"] == "1764633600000" and h["X-App-Id"] == "A1"
    text = ("A1" + "1764633600000" + "ab" * 16 + signer.sm3_hex(body)).encode()
    assert sm2.CryptSM2(private_key="", public_key=pub).verify_with_sm3(h["X-Signature"], text)
    assert not sm2.CryptSM2(private_key="", public_key=pub).verify_with_sm3(h["X-Signature"], text + b"x")
    (tmp_path / "bad").write_text("not a key")
    Cfg.private_key_file = str(tmp_path / "bad")
    with pytest.raises(signer.SignerError, match="expected 64 hex digits or a PEM key"):
        signer.Signer(Cfg)


def test_platform_requests_are_plain_http(platform):
    r = requests.post(platform.url, json={"projectNo": "X"}, timeout=5)
    assert r.json()["code"] == "400"  # the fake platform enforces its rules
