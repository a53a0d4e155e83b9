"""The heat map's half-hour rollups (``rollup_slots``, ``rollup_slots_hall``): every path that stores or
removes a rating keeps it equal to a count of the ratings themselves (a device
batch, a staff entry, a correction, a withdrawal)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from central import db, stats
from testkit.server import rating_event

from .test_entries import Hall

SHANGHAI, KOLKATA = ZoneInfo("Asia/Shanghai"), ZoneInfo("Asia/Kolkata")


def both(url: str, tz: ZoneInfo, **f) -> tuple[list[list[int]], list[list[int]]]:
    """The heat map from the rollup and the same counted from the ratings (a source
    filter of every source takes the ratings path)."""
    lo, hi = date(2000, 1, 1), date(2100, 1, 1)
    with db.engine_for(url).connect() as conn:
        return (stats.heatmap(conn, lo, hi, tz, **f),
                stats.heatmap(conn, lo, hi, tz, source=stats.ALL_SOURCES, **f))


def test_every_path_keeps_the_slots_equal_to_the_ratings(api):
    hall = Hall(api)
    base = datetime.now().replace(microsecond=0) - timedelta(hours=3)
    events = [rating_event(5 - i % 5, created_at=(base + timedelta(minutes=17 * i)).isoformat() + ".000Z",
                           window_no=hall.window, section=hall.section, staff_no=hall.staff, misuse=i == 3)
              for i in range(10)]
    assert {r["status"] for r in api.results(hall.device, events)} == {"accepted"}
    api.results(hall.device, events[:4])  # repeats count once
    ids = []
    for i in range(3):
        r = hall.entry(form_no=f"HS-{i}", satisfaction=4, rated_at=(base - timedelta(days=1, minutes=31 * i))
                       .isoformat() + "Z")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = api.post(f"/api/v1/entries/{ids[0]}/correction", role="clerk",
                 json={"reason": "时间录错了", "rated_at": (base - timedelta(days=2)).isoformat() + "Z"})
    assert r.status_code == 201, r.text
    r = api.post(f"/api/v1/entries/{ids[1]}/correction", role="clerk", json={"reason": "录了两次", "withdraw": True})
    assert r.status_code == 200, r.text

    for tz in (SHANGHAI, KOLKATA):
        for f in ({}, {"include_misuse": True},  # the whole hall: rollup_slots_hall
                  {"section": hall.section}, {"section": hall.section, "include_misuse": True},
                  {"window": hall.window, "staff_no": hall.staff}):
            rolled, counted = both(api.db_url, tz, **f)
            assert rolled == counted, (tz, f)
    rolled, _ = both(api.db_url, SHANGHAI, section=hall.section, include_misuse=True)
    assert sum(map(sum, rolled)) == 10 + 2  # ten device ratings, two entries left of three


def test_bad_by_window_and_staff_equals_the_stats_documents(api):
    hall = Hall(api)
    now = datetime.now().replace(microsecond=0)
    events = [rating_event(1 + i % 5, created_at=(now - timedelta(days=i % 9, minutes=i)).isoformat() + ".000Z",
                           window_no=hall.window if i % 3 else hall.window + "b", section=hall.section,
                           staff_no=hall.staff if i % 2 else hall.other, misuse=i % 7 == 0)
              for i in range(40)]
    assert {r["status"] for r in api.results(hall.device, events)} == {"accepted"}
    today = now.date()
    periods = {"cur": (today - timedelta(days=3), today), "prev": (today - timedelta(days=7), today - timedelta(days=4))}
    with db.engine_for(api.db_url).connect() as conn:
        for f in ({}, {"section": hall.section}, {"staff_no": hall.staff}):
            for include_misuse in (False, True):
                got = stats.bad_by_window_and_staff(conn, periods, include_misuse=include_misuse, **f)
                for name, (lo, hi) in periods.items():
                    for g in ("window", "staff"):
                        doc = stats.query(conn, lo, hi, group_by=g, include_misuse=include_misuse, **f)
                        want = {x["key"]: x["bad"] for x in doc["groups"] if x["bad"]}
                        assert got[name][g] == want, (f, include_misuse, name, g)
        assert got["cur"]["window"] and got["prev"]["staff"]  # the data has 差评 in both periods
