"""A known mixed-channel data set, each rating through its real path on a real server:
device batches (touch, gpio), staff entries (paper, phone, counter: ``POST
/api/v1/entries``), a citizen's phone (qr: the ``/r/{code}`` page) and other systems
(sms, app: ``POST /api/v1/channel-ratings`` with an integration key). Repeats that
must not count ride along: a form number entered twice, an external id posted
twice, a second QR rating from the same browser inside the cooldown (misuse).

The figures per source and in total are the same in ``GET /api/v1/stats``, the
overview, the statistics XLSX, the public board's JSON and the case list, and they
equal the counts of the data set itself (docs/channels.md "A mixed day")."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests

from central import channels, db, qr, remote
from central.web.exports import TOTAL_ZH
from kiosk.levels import BAD_WIRE
from testkit.server import add_device, add_user, free_port, running_server

from .conftest import PASSWORD, ev_detail, ev_rating, upload

TZ = ZoneInfo("Asia/Shanghai")
W1 = ("综合服务区", "1", "A001", "张三")
W2 = ("税务服务区", "2", "B001", "李四")
#: (source, window, satisfaction in wire order: 5 = 非常满意) of every counted rating
MIX = [
    ("touch", W1, 5), ("touch", W1, 5), ("touch", W1, 4), ("touch", W1, 1), ("touch", W2, 3),
    ("gpio", W2, 5), ("gpio", W2, 2),
    ("paper", W1, 5), ("paper", W1, 4), ("paper", W2, 1),
    ("phone", W2, 2), ("phone", W2, 5),
    ("counter", W1, 1),
    ("qr", W2, 5), ("qr", W2, 4), ("qr", W1, 3),
    ("sms", W1, 5), ("sms", W1, 1),
    ("app", W2, 4),
]
REASON = {1: ["115"], 2: ["207"]}


def expected(sources: set[str] | None = None) -> dict[str, object]:
    rows = [m for m in MIX if sources is None or m[0] in sources]
    levels = {str(k): sum(1 for m in rows if m[2] == k) for k in range(1, 6)}
    bad = sum(1 for m in rows if m[2] in BAD_WIRE)
    # 好评 = every level but the two 差评 ones (基本满意 counts as good)
    return {"count": len(rows), "bad": bad, "levels": levels,
            "good_rate": round((len(rows) - bad) / len(rows), 6) if rows else None}


def _qr_rate(url: str, sat: int, session: requests.Session | None = None) -> None:
    s = session or requests.Session()
    page = s.get(url, timeout=10)
    assert page.status_code == 200, page.text
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text).group(1)
    data = {"satisfaction": str(sat), "form_token": token}
    if sat in REASON:
        data["reasons"] = REASON[sat][0]
    r = s.post(url, data=data, timeout=10)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Iterator[dict]:
    path = str(tmp_path_factory.mktemp("mix") / "central.db")
    for user, role in (("admin", "admin"), ("sup", "supervisor"), ("clerk", "clerk")):
        add_user(path, user, PASSWORD, role)
    tokens = {w: add_device(path, f"mix-dev-{w[1]}", window=w[1], section=w[0], staff_no=w[2]) for w in (W1, W2)}
    engine = db.engine_for(path)
    for w in (W1, W2):
        remote.put_staff(engine, w[2], w[3])
    keys = {s: channels.add_integration(engine, f"{s}-gateway", s) for s in ("sms", "app")}
    engine.dispose()
    port = free_port()
    with running_server(path, port=port, public_url=f"http://127.0.0.1:{port}") as url:
        clerk = requests.Session()
        login = clerk.post(url + "/api/v1/login", json={"username": "clerk", "password": PASSWORD}, timeout=10)
        clerk_auth = {"Authorization": "Bearer " + login.json()["token"]}
        admin = requests.Session()
        admin.post(url + "/api/v1/login", json={"username": "admin", "password": PASSWORD},
                   timeout=10).raise_for_status()
        engine = db.engine_for(path)
        qr_url = {w[1]: qr.url_for(str(url), qr.code_for(engine, w[1])) for w in (W1, W2)}
        engine.dispose()
        now = datetime.now(UTC) - timedelta(minutes=5)
        events: dict[str, list[dict]] = {W1[1]: [], W2[1]: []}
        browser = requests.Session()  # rates window 1 by QR, then again inside the cooldown
        for i, (source, w, sat) in enumerate(MIX):
            if source in ("touch", "gpio"):
                ev = ev_rating(sat, t=now - timedelta(minutes=i), section=w[0], window=w[1], staff=w[2], name=w[3])
                ev["source"] = source
                events[w[1]].append(ev)
                if sat in REASON:
                    events[w[1]].append(ev_detail(ev, REASON[sat]))
            elif source in channels.ENTRY_SOURCES:
                body = {"source": source, "window_no": w[1], "satisfaction": sat,
                        "rated_at": now.astimezone(TZ).date().isoformat(), "form_no": f"{source}-{i}",
                        "reasons": REASON.get(sat, [])}
                r = requests.post(url + "/api/v1/entries", json=body, headers=clerk_auth, timeout=10)
                assert r.status_code == 201, r.text
                again = requests.post(url + "/api/v1/entries", json=body, headers=clerk_auth, timeout=10)
                assert again.status_code == 200 and again.json()["status"] == "duplicate"
            elif source == "qr":
                _qr_rate(qr_url[w[1]], sat, browser if w == W1 else None)
            else:
                body = {"external_id": f"{source}-{uuid.uuid4().hex}", "window_no": w[1], "satisfaction": sat,
                        "reasons": REASON.get(sat, []), "rated_at": now.isoformat().replace("+00:00", "Z")}
                auth = {"Authorization": "Bearer " + keys[source]}
                for status in (201, 200):  # the gateway retries: the same external id is a duplicate
                    r = requests.post(url + "/api/v1/channel-ratings", json=body, headers=auth, timeout=10)
                    assert r.status_code == status, r.text
        for w in (W1, W2):
            upload(str(url), f"mix-dev-{w[1]}", tokens[w], events[w[1]])
        # the second QR rating from one browser inside the cooldown: stored, flagged misuse, not counted
        _qr_rate(qr_url[W1[1]], 1, browser)
        yield {"url": str(url), "admin": admin}


def _range() -> dict[str, str]:
    today = datetime.now(UTC).astimezone(TZ).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


def _figures(doc: dict) -> dict[str, object]:
    return {"count": doc["count"], "bad": doc["bad"], "levels": doc["levels"], "good_rate": doc["good_rate"]}


def _xlsx_total(admin: requests.Session, url: str, **params) -> dict[str, object]:
    r = admin.get(url + "/export/stats.xlsx", params={**_range(), **params}, timeout=30)
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content))["stats"].iter_rows(values_only=True))
    header, total = rows[0], next(row for row in rows if row[0] == TOTAL_ZH)
    cell = dict(zip(header, total, strict=True))
    return {"count": cell["评价数"], "bad": cell["差评数"],
            "levels": {"5": cell["非常满意"], "4": cell["满意"], "3": cell["基本满意"], "2": cell["不满意"],
                       "1": cell["非常不满意"]}}


def _overview_total(admin: requests.Session, url: str, **params) -> dict[str, object]:
    html = admin.get(url + "/overview", params={**_range(), **params}, timeout=30).text

    def value(element_id: str) -> str:
        m = re.search(rf'id="{element_id}" data-value="([^"]*)"', html)
        assert m, element_id
        return m.group(1)

    return {"count": int(value("total-count")), "bad": int(value("total-bad")),
            "good_rate": float(value("total-good-rate"))}


def test_every_source_counts_once_and_alike_in_api_overview_xlsx_and_board(mixed):
    url, admin = mixed["url"], mixed["admin"]
    whole = admin.get(url + "/api/v1/stats", params=_range(), timeout=30).json()
    assert _figures(whole["total"]) == expected()
    by_source = admin.get(url + "/api/v1/stats", params={**_range(), "group_by": "source"}, timeout=30).json()
    assert {g["key"]: _figures(g) for g in by_source["groups"]} == {
        s: expected({s}) for s in {m[0] for m in MIX}}
    sections = admin.get(url + "/api/v1/stats", params={**_range(), "group_by": "section"}, timeout=30).json()
    assert {g["key"]: g["count"] for g in sections["groups"]} == {
        w[0]: sum(1 for m in MIX if m[1] == w) for w in (W1, W2)}
    for source in sorted({m[0] for m in MIX}) + [None]:
        params = {"source": source} if source else {}
        want = expected({source} if source else None)
        xlsx = _xlsx_total(admin, url, **params)
        assert xlsx == {k: want[k] for k in ("count", "bad", "levels")}, source
        overview = _overview_total(admin, url, **params)
        assert overview == {k: want[k] for k in ("count", "bad", "good_rate")}, source
    board = requests.get(url + "/board.json", params={"period": "today"}, timeout=10).json()
    total = board["pages"][0]["rows"][0]
    assert (total["count"], total["bad"], total["levels"]) == (
        expected()["count"], expected()["bad"], expected()["levels"])


def test_every_bad_rating_of_every_source_opens_one_case(mixed):
    url, admin = mixed["url"], mixed["admin"]
    ratings = admin.get(url + "/api/v1/ratings", params={**_range(), "page_size": 1000}, timeout=30).json()
    source_of = {r["id"]: r["source"] for r in ratings["ratings"]}
    misuse = [r for r in ratings["ratings"] if r["misuse"]]
    assert [(r["source"], r["satisfaction"]) for r in misuse] == [("qr", 1)]
    cases = admin.get(url + "/api/v1/cases", params={"page_size": 1000}, timeout=30).json()["cases"]
    per_source: dict[str, int] = {}
    for c in cases:
        per_source[source_of[c["rating_id"]]] = per_source.get(source_of[c["rating_id"]], 0) + 1
    assert len({c["rating_id"] for c in cases}) == len(cases)
    assert per_source == {s: n for s in {m[0] for m in MIX} if (n := expected({s})["bad"])}


#: single sources (with and without 差评) and comma lists the filtered figures are checked for
FILTERS = ["touch", "paper", "qr", "sms", "paper,qr", "touch,gpio,counter"]
BOARD_FIELDS = ("count", "levels", "bad", "bad_unrectified", "good_rate", "rectify_rate")


def _today() -> dict[str, str]:
    today = datetime.now(UTC).astimezone(TZ).date().isoformat()
    return {"from": today, "to": today}


def _board(url: str, **params) -> dict:
    r = requests.get(url + "/board.json", params={"period": "today", **params}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _board_rows(doc: dict, kind: str) -> dict[str, dict]:
    return {row["key"]: row for p in doc["pages"] if p["kind"] == kind for row in p["rows"]}


@pytest.mark.parametrize("source", FILTERS)
def test_board_and_case_list_filtered_by_source_equal_the_stats_api(mixed, source):
    url, admin = mixed["url"], mixed["admin"]
    wanted = set(source.split(","))
    api = admin.get(url + "/api/v1/stats", params={**_today(), "source": source}, timeout=30).json()
    board = _board(url, source=source)
    assert board["source"] == source.split(",")
    total = board["pages"][0]["rows"][0]
    assert {k: total[k] for k in BOARD_FIELDS} == {k: api["total"][k] for k in BOARD_FIELDS}
    assert _figures(total) == expected(wanted)
    by_section = admin.get(url + "/api/v1/stats", params={**_today(), "source": source, "group_by": "section"},
                           timeout=30).json()
    assert {k: {f: r[f] for f in BOARD_FIELDS} for k, r in _board_rows(board, "section").items()} == \
        {g["key"]: {f: g[f] for f in BOARD_FIELDS} for g in by_section["groups"] if g["count"]}
    cases = admin.get(url + "/api/v1/cases", params={"source": source, "page_size": 1000}, timeout=30).json()
    assert cases["total"] == len(cases["cases"]) == api["total"]["bad"] == expected(wanted)["bad"]
    assert {c["source"] for c in cases["cases"]} <= wanted


def test_the_single_sources_of_the_board_add_up_to_the_unfiltered_board(mixed):
    url = mixed["url"]
    whole = _board(url)
    assert whole["source"] is None
    parts = [_board(url, source=s)["pages"][0]["rows"][0] for s in sorted({m[0] for m in MIX})]
    total = whole["pages"][0]["rows"][0]
    for field in ("count", "bad", "bad_unrectified"):
        assert sum(p[field] for p in parts) == total[field], field
    for k in "54321":
        assert sum(p["levels"][k] for p in parts) == total["levels"][k]
    every = _board(url, source=",".join(sorted({m[0] for m in MIX})))
    assert every["pages"] == whole["pages"]
    cases = mixed["admin"].get(url + "/api/v1/cases", params={"page_size": 1000}, timeout=30).json()
    assert sum(mixed["admin"].get(url + "/api/v1/cases", params={"source": s}, timeout=30).json()["total"]
               for s in {m[0] for m in MIX}) == cases["total"] == expected()["bad"]
    assert all(c["source"] in {m[0] for m in MIX} for c in cases["cases"])


def test_an_unknown_source_is_a_400_naming_the_field_on_the_board_and_the_cases(mixed):
    url, admin = mixed["url"], mixed["admin"]
    for path in ("/board.json", "/api/v1/cases"):
        r = admin.get(url + path, params={"source": "qr,fax"}, timeout=10)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"].startswith("source:") and "fax" in r.json()["error"], (path, r.text)
    html = requests.get(url + "/board", params={"source": "fax"}, timeout=10).text
    assert 'id="source-error"' in html and "fax" in html and 'id="board-source"' not in html
    assert "source" not in re.search(r'"query": "([^"]*)"', html).group(1)  # its refreshes show every source
    page = admin.get(url + "/cases", params={"source": "fax"}, timeout=10).text
    assert 'id="source-error"' in page and "fax" in page


def _cookie(url: str, page, username: str) -> None:
    login = requests.post(url + "/api/v1/login", json={"username": username, "password": PASSWORD}, timeout=10)
    page.context.add_cookies([{"name": "kiosk_session", "value": login.json()["token"], "url": url}])


def test_board_says_which_sources_it_counts_and_refreshes_with_them(mixed, page):
    url = mixed["url"]
    page.clock.install()
    page.goto(url + "/board?period=today&source=qr,paper")
    assert page.locator("#board-source").inner_text() == "来源：扫码 · 纸质评价表"
    want = expected({"qr", "paper"})
    assert page.locator("#board-total .tile.count .v").inner_text() == str(want["count"])
    with page.expect_response(lambda r: "/board.json" in r.url) as answer:
        page.clock.run_for(31_000)  # past board_refresh_seconds: board.js fetches /board.json
    assert answer.value.status == 200 and "source=qr%2Cpaper" in answer.value.url
    assert answer.value.json()["pages"][0]["rows"][0]["count"] == want["count"]
    html = page.content()
    for name in (W1[3], W2[3], W1[2], W2[2]):  # still no personal data: no names, no 工号
        assert name not in html
    page.goto(url + "/board?period=today&source=qr,paper&lang=en")
    assert page.locator("#board-source").inner_text() == "Source: QR code · Paper form"
    assert not page.errors, page.errors


def test_cases_page_filters_and_shows_the_source(mixed, page):
    url = mixed["url"]
    _cookie(url, page, "sup")
    page.goto(url + "/cases?view=all")
    labels = page.locator("#cases td.source").all_inner_texts()
    assert sorted(labels) == sorted({"touch": "评价器·触摸屏", "gpio": "评价器·按键", "paper": "纸质评价表",
                                     "phone": "电话", "counter": "办不成事窗口", "sms": "短信"}[s]
                                    for s, _w, sat in MIX if sat in BAD_WIRE)
    page.select_option("#source-filter", "paper")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**source=paper**")
    assert page.locator("#cases td.source").all_inner_texts() == ["纸质评价表"] * expected({"paper"})["bad"]
    assert {e.get_attribute("data-source") for e in page.locator("#cases td.source").all()} == {"paper"}
    page.goto(url + "/cases?view=all&source=qr")
    assert page.locator("#cases tbody tr[data-id]").count() == 0  # no 差评 came by QR that day
    assert not page.errors, page.errors
