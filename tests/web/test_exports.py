"""Exports: ratings and statistics as CSV and XLSX, and the national-interface JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl

from central.web.exports import RATING_HEADER_ZH, TOTAL_ZH
from kiosk.levels import Level
from testkit.privacy import phone_numbers

from .conftest import AREA, PHONE, as_user

TZ = ZoneInfo("Asia/Shanghai")


def _range() -> dict[str, str]:
    today = datetime.now(UTC).astimezone(TZ).date()
    return {"from": (today - timedelta(days=4)).isoformat(), "to": today.isoformat()}


def test_ratings_xlsx_and_csv_match_the_api(site):
    s = site.session("sup")
    rng = _range()
    api = site.api("/api/v1/ratings", "sup", page_size=1000, **rng)
    r = s.get(site.url + "/export/ratings.xlsx", params=rng)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    rows = list(wb["ratings"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == api["total"] == len(site.data.ratings)
    col = {name: header.index(zh) for name, zh in RATING_HEADER_ZH.items()}
    by_id = {row[col["id"]]: row for row in body}
    for rating in api["ratings"]:
        row = by_id[rating["id"]]
        assert row[col["satisfaction"]] == rating["satisfaction"]
        assert row[col["section"]] == rating["section"]
        assert (row[col["reasons"]] or "") == " ".join(rating["reasons"])
        assert (row[col["phone"]] or "") == (rating["phone"] or "")
        assert row[col["source"]] == rating["source"] and row[col["source_label"]] == "评价器·触摸屏"
        local = datetime.fromisoformat(rating["rated_at"].replace("Z", "+00:00")).astimezone(TZ)
        assert row[col["rated_at"]] == local.strftime("%Y-%m-%d %H:%M:%S")  # the server's timezone
    assert PHONE not in r.content.decode("latin-1")  # masked for a supervisor
    c = s.get(site.url + "/export/ratings.csv", params=rng)
    assert c.status_code == 200 and c.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert tuple(lines[0]) == header and len(lines) - 1 == len(body)
    assert {ln[0] for ln in lines[1:]} == set(by_id)


def test_stats_exports_match_the_api(site):
    s = site.session("viewer")
    rng = _range()
    for group_by in ("section", "staff", "day"):
        api = site.api("/api/v1/stats", "viewer", group_by=group_by, **rng)
        r = s.get(site.url + "/export/stats.xlsx", params={**rng, "group_by": group_by})
        assert r.status_code == 200
        rows = list(openpyxl.load_workbook(io.BytesIO(r.content))["stats"].iter_rows(values_only=True))
        assert rows[0][:3] == ("分组", "评价数", "非常满意")
        want = [[g["key"], g["count"], *(g["levels"][k] for k in "54321"), g["bad"], g["bad_unrectified"],
                 g["good_rate"], g["unrated"], g["rectified"], g["rectify_rate"], g["overdue"], g["followup_rate"]]
                for g in api["groups"] + [{"key": TOTAL_ZH, **api["total"]}]]
        assert [list(row) for row in rows[1:]] == want
        c = s.get(site.url + "/export/stats.csv", params={**rng, "group_by": group_by})
        lines = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
        assert lines[0][:3] == ["分组", "评价数", "非常满意"] and [ln[0] for ln in lines[1:]] == [w[0] for w in want]
        assert [int(ln[1]) for ln in lines[1:]] == [w[1] for w in want]


def test_national_interface_json(site):
    s = site.session("admin")
    rng = _range()
    assert site.session("sup").get(site.url + "/export/national.json", params=rng).status_code == 403
    r = s.get(site.url + "/export/national.json", params=rng)
    assert r.status_code == 200
    doc = json.loads(r.content)
    assert doc["areaCode"] == AREA and doc["profile"] == "shandong"
    sent = {e["id"]: e for e in site.data.ratings if not e["misuse"]}
    cases = {c["rating_id"]: c for c in site.api("/api/v1/cases", page_size=1000)["cases"]}
    expected = {i for i in sent if cases.get(i, {}).get("state") != "invalid"}
    assert {d["evaluateId"] for d in doc["data"]} == expected and doc["count"] == len(expected)
    details = {e["rating_id"]: e for e in site.data.events if e["type"] == "rating_detail"}
    for d in doc["data"]:
        ev = sent[d["evaluateId"]]
        assert d["satisfaction"] == str(Level.from_wire(ev["satisfaction"]).wire)  # interface order: 5 = 非常满意
        assert d["pf"] == "4" and d["areaCode"] == AREA
        assert d["evalDetail"] == ",".join(details[ev["id"]]["reasons"]) if ev["id"] in details else d["evalDetail"] == ""
        local = datetime.fromisoformat(ev["created_at"].replace("Z", "+00:00")).astimezone(TZ)
        assert d["assessTime"] == local.strftime("%Y-%m-%d %H:%M:%S")
        assert d.get("projectNo") == ev["project_no"]
    xss = next(d for d in doc["data"] if d["evaluateId"] == site.data.xss_rating_id)
    assert xss["satisfaction"] == "1" and xss["evalDetail"] == "113,115"
    assert PHONE not in r.text and not phone_numbers(r.text) and "mobile" not in r.text  # never a phone number


def test_national_json_per_profile(site):
    s = site.session("admin")
    rng = _range()
    gbt = s.get(site.url + "/export/national.json", params={**rng, "profile": "gbt39046"}).json()
    xss = next(d for d in gbt["data"] if d["evaluateId"] == site.data.xss_rating_id)
    assert xss["满意度代码"] == "5" and xss["评价指标"] == "113,115"  # GB/T 39046: 5 = 非常不满意
    assert re.fullmatch(r"\d{8}T\d{6}", xss["评价时间"]) and xss["行政区划代码"] == AREA
    zj = s.get(site.url + "/export/national.json", params={**rng, "profile": "zhejiang"}).json()
    assert {d["evaluateId"] for d in zj["data"]} == {d["evaluateId"] for d in gbt["data"]}
    bad = s.get(site.url + "/export/national.json", params={**rng, "profile": "hunan"})
    assert bad.status_code == 400 and "profile: 'hunan' is not a province profile" in bad.json()["error"]


def test_export_link_downloads_in_the_browser(page, site):
    as_user(page, site, "viewer")
    page.goto(site.url + "/overview")
    with page.expect_download() as info:
        page.click("a[href^='/export/ratings.xlsx']")
    assert info.value.suggested_filename.endswith(".xlsx")
    with open(info.value.path(), "rb") as f:
        wb = openpyxl.load_workbook(f)
    assert wb["ratings"].max_row >= 2
