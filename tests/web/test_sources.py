"""The rating ``source``: filtered and grouped alike in ``GET /api/v1/stats``,
``GET /api/v1/ratings``, the overview, the ratings page and the CSV / XLSX exports.

Device sources (touch, gpio, keyboard, api) arrive through ``POST /api/v1/batches``;
the staff and citizen channels (paper, qr) are written straight into the ratings
table and the rollups with SQLAlchemy in the fixture, as the channel entry does."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests
import sqlalchemy as sa

from central.db import ratings
from central.rollups import local_day, rollup_add, slots_add
from central.web.exports import RATING_HEADER_ZH, TOTAL_ZH
from testkit.server import add_device, add_user

from .conftest import PASSWORD, Site, as_user, ev_detail, ev_rating, upload, web_server

TZ = ZoneInfo("Asia/Shanghai")
#: (source, satisfaction) of the uploaded ratings, one minute apart
DEVICE_MIX = [("touch", 5), ("touch", 1), ("touch", 4), ("gpio", 2), ("gpio", 5), ("gpio", 5),
              ("keyboard", 3), ("api", 5), ("api", 1)]
#: (source, satisfaction) written straight into the tables
CHANNEL_MIX = [("paper", 5), ("paper", 4), ("paper", 3), ("qr", 5), ("qr", 5), ("qr", 4), ("qr", 3)]


def _insert_channel_ratings(db: str, now: datetime) -> None:
    engine = sa.create_engine(f"sqlite:///{db}")
    deltas: dict[tuple, list[int]] = {}
    rows = []
    with engine.begin() as conn:
        for i, (source, sat) in enumerate(CHANNEL_MIX):
            t = (now - timedelta(minutes=30 + i)).replace(tzinfo=None)
            day = local_day(t, TZ)
            rows.append(dict(
                event_id=str(uuid.uuid4()), device_id="", satisfaction=sat, misuse=False, source=source,
                channel=5 if source == "paper" else 3, window_no="1", section="综合服务区", staff_no="A001",
                staff_name="张三", rated_at=t, day=day))
            conn.execute(ratings.insert().values(**rows[-1]))
            deltas.setdefault((day, "综合服务区", "1", "A001", sat, False), [0, 0])[0] += 1
        rollup_add(conn, deltas)
        slots_add(conn, rows)
    engine.dispose()


@pytest.fixture(scope="module")
def src_site(tmp_path_factory) -> Iterator[Site]:
    db = str(tmp_path_factory.mktemp("sources") / "central.db")
    for user, role in (("admin", "admin"), ("sup", "supervisor")):
        add_user(db, user, PASSWORD, role)
    token = add_device(db, "src-dev-1", window="1", section="综合服务区", staff_no="A001")
    now = datetime.now(UTC) - timedelta(minutes=2)
    events = []
    for i, (source, sat) in enumerate(DEVICE_MIX):
        r = ev_rating(sat, t=now - timedelta(minutes=i), section="综合服务区", window="1", staff="A001",
                      name="张三")
        r["source"] = source
        events.append(r)
        if sat <= 2:
            events.append(ev_detail(r, ["115"] if sat == 1 else ["207"]))
    _insert_channel_ratings(db, now)
    with web_server(db) as url:
        upload(str(url), "src-dev-1", token, events)
        yield Site(str(url), db, type("D", (), {"events": events})(), token)


def _range() -> dict[str, str]:
    today = datetime.now(UTC).astimezone(TZ).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


def _want(sources: set[str]) -> tuple[int, int]:
    mix = [m for m in DEVICE_MIX + CHANNEL_MIX if m[0] in sources]
    return len(mix), sum(1 for _s, sat in mix if sat <= 2)


def _dom_value(html: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}" data-value="([^"]*)"', html)
    assert m, element_id
    return m.group(1)


@pytest.mark.parametrize("source", ["touch", "gpio,keyboard", "paper", "qr", "paper,qr,api"])
def test_source_filter_is_identical_across_api_pages_and_exports(src_site, source):
    wanted = set(source.split(","))
    count, bad = _want(wanted)
    rng = {**_range(), "source": source}
    api = src_site.api("/api/v1/stats", "sup", **rng)
    assert (api["total"]["count"], api["total"]["bad"]) == (count, bad)
    listed = src_site.api("/api/v1/ratings", "sup", page_size=1000, **rng)
    assert listed["total"] == count and {r["source"] for r in listed["ratings"]} == wanted
    s = src_site.session("sup")
    html = s.get(src_site.url + "/overview", params=rng).text
    assert int(_dom_value(html, "total-count")) == count and int(_dom_value(html, "total-bad")) == bad
    assert _dom_value(html, "total-good-rate") == str(api["total"]["good_rate"])
    page = s.get(src_site.url + "/ratings", params=rng).text
    assert re.search(rf'id="ratings-total">{count} ', page)
    assert set(re.findall(r'class="source" data-source="(\w+)"', page)) == wanted
    stats_csv = list(csv.reader(io.StringIO(s.get(src_site.url + "/export/stats.csv", params=rng)
                                            .content.decode("utf-8-sig"))))
    total_row = next(r for r in stats_csv if r[0] == TOTAL_ZH)
    assert (int(total_row[1]), int(total_row[7])) == (count, bad)
    xlsx = s.get(src_site.url + "/export/stats.xlsx", params=rng)
    sheet = list(openpyxl.load_workbook(io.BytesIO(xlsx.content))["stats"].iter_rows(values_only=True))
    assert sheet[-1][:2] == (TOTAL_ZH, count) and sheet[-1][7] == bad
    ratings_csv = list(csv.reader(io.StringIO(s.get(src_site.url + "/export/ratings.csv", params=rng)
                                              .content.decode("utf-8-sig"))))
    header = ratings_csv[0]
    assert len(ratings_csv) - 1 == count
    assert {r[header.index(RATING_HEADER_ZH["source"])] for r in ratings_csv[1:]} == wanted
    rx = s.get(src_site.url + "/export/ratings.xlsx", params=rng)
    rows = list(openpyxl.load_workbook(io.BytesIO(rx.content))["ratings"].iter_rows(values_only=True))
    assert len(rows) - 1 == count
    labels = {r[rows[0].index(RATING_HEADER_ZH["source_label"])] for r in rows[1:]}
    assert labels == {{"touch": "评价器·触摸屏", "gpio": "评价器·按键", "keyboard": "评价器·键盘",
                       "api": "评价器·本地接口", "paper": "纸质评价表", "qr": "扫码"}[w] for w in wanted}


def test_group_by_source_adds_up_to_the_rollup_totals(src_site):
    rng = _range()
    whole = src_site.api("/api/v1/stats", "sup", **rng)["total"]
    by_source = src_site.api("/api/v1/stats", "sup", group_by="source", **rng)
    assert [g["key"] for g in by_source["groups"]] == sorted({s for s, _ in DEVICE_MIX + CHANNEL_MIX})
    for field in ("count", "bad", "bad_unrectified", "rectified"):
        assert sum(g[field] for g in by_source["groups"]) == whole[field] == by_source["total"][field], field
    for k in "54321":
        assert sum(g["levels"][k] for g in by_source["groups"]) == whole["levels"][k]
    assert by_source["total"]["good_rate"] == whole["good_rate"]
    for g in by_source["groups"]:
        one = src_site.api("/api/v1/stats", "sup", source=g["key"], **rng)["total"]
        assert {k: one[k] for k in ("count", "bad", "levels", "good_rate")} == \
            {k: g[k] for k in ("count", "bad", "levels", "good_rate")}
    # every source named = the unfiltered figures (apart from unrated prompts, which carry no source)
    every = src_site.api("/api/v1/stats", "sup", source=",".join(g["key"] for g in by_source["groups"]),
                         **rng)["total"]
    assert {k: v for k, v in every.items() if k != "unrated"} == {k: v for k, v in whole.items() if k != "unrated"}


def test_unknown_source_is_a_400_naming_the_field(src_site):
    token = src_site.api_token("sup")
    for path in ("/api/v1/stats", "/api/v1/ratings", "/export/stats.csv", "/export/ratings.xlsx"):
        r = requests.get(src_site.url + path, params={"source": "touch,fax"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 400, path
        assert "source" in r.text and "fax" in r.text, (path, r.text)
    html = src_site.session("sup").get(src_site.url + "/overview", params={"source": "fax"}).text
    assert 'id="source-error"' in html and "fax" in html


def test_ratings_page_shows_and_filters_the_source(src_site, page):
    as_user(page, src_site, "sup")
    page.goto(src_site.url + "/ratings")
    page.select_option("#source-filter", "paper")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**source=paper**")
    cells = page.locator("#ratings td.source").all_inner_texts()
    assert cells == ["纸质评价表"] * _want({"paper"})[0]
    page.goto(src_site.url + "/ratings")
    assert set(page.locator("#ratings td.source").all_inner_texts()) >= {"评价器·触摸屏", "扫码", "纸质评价表"}
    page.screenshot(path="docs/screenshots/web_ratings_source.png", full_page=True)
    assert not page.errors
