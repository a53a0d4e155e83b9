"""Spreadsheet formula injection: text from devices (staff names, sections, staff
numbers, comments, 办件编号) never reaches a spreadsheet as something it would run.

A real ``kiosk server`` ingests hostile text through ``POST /api/v1/batches``; every
CSV and XLSX it writes is read back (``csv`` and openpyxl) and checked cell by cell.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests

from central.web.exports import RATING_HEADER_ZH, TOTAL_ZH
from testkit.server import add_device, add_user, make_batch, rating_event, running_server

PASSWORD = "formula-tests-pw1"
SECTION = "=HYPERLINK(\"http://127.0.0.1/x\",\"点我\")"
STAFF_NO = "-2+3"
STAFF_NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
COMMENT = "\t=1+1"
COMMENT_CR = "\r=cmd|' /C notepad'!A0"
PROJECT = "+1+1"
#: What a spreadsheet program runs as a formula (OWASP): the test's own copy of the rule.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = {SECTION, STAFF_NO, STAFF_NAME, COMMENT, COMMENT_CR, PROJECT}


def test_the_rule():
    from central.web.exports import spreadsheet_cell

    for text in HOSTILE | {"=", "+", "-", "@", "\t", "\r"}:
        assert spreadsheet_cell(text) == "'" + text
    for safe in ("张三", "A001", "综合服务区", "1 = 1", "", "'=already quoted"):
        assert spreadsheet_cell(safe) == safe
    assert spreadsheet_cell(-3) == -3 and spreadsheet_cell(-0.5) == -0.5 and spreadsheet_cell(7) == 7
    assert spreadsheet_cell(None) == "" and spreadsheet_cell(True) is True
    assert spreadsheet_cell(["-1", "510"]) == "'-1 510"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server holding one good and two bad ratings made of hostile text; yields the
    base URL and an admin's headers."""
    db = str(tmp_path_factory.mktemp("formula") / "central.db")
    token = add_device(db, "dev-f", window="1", section=SECTION, staff_no=STAFF_NO)
    add_user(db, "admin-f", PASSWORD, "admin")
    now = datetime.now(UTC) - timedelta(minutes=2)
    common = {"section": SECTION, "staff_no": STAFF_NO, "staff_name": STAFF_NAME, "window_no": "1",
              "boot_id": "boot-1", "project_no": PROJECT}
    good = rating_event(5, created_at=_t(now), **common)
    bad = rating_event(1, created_at=_t(now + timedelta(seconds=30)), **common)
    bad2 = rating_event(2, created_at=_t(now + timedelta(seconds=60)), **{**common, "project_no": None})
    events = [good, bad, bad2]
    for rating, comment, reason in ((bad, COMMENT, "115"), (bad2, COMMENT_CR, "214")):
        events.append({"id": str(uuid.uuid4()), "type": "rating_detail", "created_at": rating["created_at"],
                       "clock_synced": True, "boot_id": "boot-1", "mono_ms": 1001, "rating_id": rating["id"],
                       "reasons": [reason], "comment": comment, "phone": None})
    with running_server(db, timezone="Asia/Shanghai") as url:
        r = requests.post(url + "/api/v1/batches", json=make_batch("dev-f", events),
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["accepted"] * len(events), r.text
        login = requests.post(url + "/api/v1/login", json={"username": "admin-f", "password": PASSWORD}, timeout=10)
        assert login.status_code == 200, login.text
        yield url, {"Authorization": f"Bearer {login.json()['token']}"}


def _t(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _range() -> dict[str, str]:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _assert_csv_safe(rows: list[list[str]]) -> set[str]:
    """No cell starts a formula; returns every cell's text."""
    cells = {c for row in rows for c in row}
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    return cells


def _xlsx_cells(body: bytes) -> list:
    wb = openpyxl.load_workbook(io.BytesIO(body))
    return [cell for ws in wb.worksheets for row in ws.iter_rows() for cell in row]


def _assert_xlsx_safe(cells: list) -> None:
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    for c in cells:
        if isinstance(c.value, str):
            assert c.data_type == "s" and not c.value.startswith(FORMULA_START), (c.coordinate, c.value)


def test_ratings_csv_export_and_api_csv(server):
    url, auth = server
    for path, params in (("/export/ratings.csv", _range()), ("/api/v1/ratings", {"format": "csv"})):
        r = requests.get(url + path, params=params, headers=auth, timeout=10)
        assert r.status_code == 200, (path, r.text)
        rows = _csv(r.content)
        header, body = rows[0], rows[1:]
        assert len(body) == 3
        cells = _assert_csv_safe(rows)
        assert {"'" + h for h in HOSTILE} <= cells, path
        sat, name = (("satisfaction", "staff_name") if "satisfaction" in header
                     else (RATING_HEADER_ZH["satisfaction"], RATING_HEADER_ZH["staff_name"]))
        assert sorted(int(row[header.index(sat)]) for row in body) == [1, 2, 5]
        assert {row[header.index(name)] for row in body} == {"'" + STAFF_NAME}


def test_ratings_xlsx_stores_text_as_text(server):
    url, auth = server
    r = requests.get(url + "/export/ratings.xlsx", params=_range(), headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    cells = _xlsx_cells(r.content)
    _assert_xlsx_safe(cells)
    # XML turns a bare CR into LF on the way back; the quote in front is what counts
    assert {"'" + h.replace("\r", "\n") for h in HOSTILE} <= {c.value for c in cells}
    sheet = openpyxl.load_workbook(io.BytesIO(r.content))["ratings"]
    header = [c.value for c in sheet[1]]
    sat = [row[header.index(RATING_HEADER_ZH["satisfaction"])] for row in sheet.iter_rows(min_row=2)]
    assert sorted(c.value for c in sat) == [1, 2, 5] and {c.data_type for c in sat} == {"n"}


@pytest.mark.parametrize("group_by", ["section", "staff"])
def test_public_stats_exports(server, group_by):
    url, _auth = server
    params = {**_range(), "group_by": group_by}
    key = SECTION if group_by == "section" else STAFF_NO
    c = requests.get(url + "/export/stats.csv", params=params, timeout=10)  # public: no login
    assert c.status_code == 200, c.text
    rows = _csv(c.content)
    _assert_csv_safe(rows)
    assert [row[0] for row in rows[1:]] == ["'" + key, TOTAL_ZH]
    assert rows[1][1] == "3"
    x = requests.get(url + "/export/stats.xlsx", params=params, timeout=10)
    assert x.status_code == 200, x.text
    cells = _xlsx_cells(x.content)
    _assert_xlsx_safe(cells)
    stats = openpyxl.load_workbook(io.BytesIO(x.content))["stats"]
    first = list(stats.iter_rows(min_row=2, max_row=2))[0]
    assert first[0].value == "'" + key and first[0].data_type == "s"
    assert first[1].value == 3 and first[1].data_type == "n"
