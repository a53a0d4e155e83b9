"""The rollups: whole months read from the monthly table give the same numbers
as the daily table, for any range; the 0002 migration fills the monthly table."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from central import db
from central.rollups import rollup_add
from central.stats import query, split_range

START = date(2026, 1, 1)


def _cells(draw_days: list[tuple[int, int, int, bool, int]]) -> dict:
    deltas: dict[tuple, list[int]] = {}
    for offset, window, level, misuse, n in draw_days:
        key = (START + timedelta(days=offset), f"S{window % 2}", str(window), f"A{window}", level, misuse)
        d = deltas.setdefault(key, [0, 0])
        d[0] += n
        d[1] += n if (level in (1, 2) and not misuse) else 0
    return deltas


@given(st.dates(date(2026, 1, 1), date(2027, 12, 31)), st.integers(0, 500))
def test_split_range_covers_every_day_once(a, span):
    b = a + timedelta(days=span)
    days, months = split_range(a, b)
    covered = []
    for lo, hi in days:
        covered += [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
    if months:
        m = months[0]
        while m <= months[1]:
            nxt = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
            covered += [m + timedelta(days=i) for i in range((nxt - m).days)]
            m = nxt
    assert sorted(covered) == [a + timedelta(days=i) for i in range(span + 1)]


CELLS = st.lists(st.tuples(st.integers(0, 420), st.integers(1, 4), st.integers(0, 5), st.booleans(),
                           st.integers(1, 5)), min_size=1, max_size=60)


@settings(max_examples=25, deadline=None)
@given(cells=CELLS, a=st.integers(0, 420), span=st.integers(0, 420),
       group_by=st.sampled_from([None, "section", "window", "staff", "day"]), misuse=st.booleans())
def test_monthly_rollup_matches_daily(tmp_path_factory, cells, a, span, group_by, misuse):
    url = str(tmp_path_factory.mktemp("roll") / "r.db")
    db.upgrade(url)
    engine = db.engine_for(url)
    deltas = _cells(cells)
    with db.write_tx(engine) as conn:
        rollup_add(conn, deltas)
    lo, hi = START + timedelta(days=a), START + timedelta(days=a + span)
    with engine.connect() as conn:
        got = query(conn, lo, hi, group_by=group_by, include_misuse=misuse)
    want_total = {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}
    unrated = 0
    for (day, *_rest, level, m), (n, _u) in deltas.items():
        if lo <= day <= hi and (misuse or not m):
            if level == 0:
                unrated += n
            else:
                want_total[str(level)] += n
    assert got["total"]["levels"] == want_total
    assert got["total"]["unrated"] == unrated
    assert sum(g["count"] for g in got["groups"]) == (sum(want_total.values()) if group_by else 0)
    engine.dispose()


def test_migration_fills_the_monthly_rollup(tmp_path):
    url = str(tmp_path / "old.db")
    db.upgrade(url, "w001")
    engine = db.engine_for(url)
    with db.write_tx(engine) as conn:
        conn.execute(db.rollup_daily.insert(), [
            {"day": date(2026, 3, d), "section": "S", "window_no": "1", "staff_no": "A", "level": 5,
             "misuse": False, "count": 2, "unrectified": 0} for d in (1, 15, 31)] + [
            {"day": date(2026, 4, 1), "section": "S", "window_no": "1", "staff_no": "A", "level": 1,
             "misuse": False, "count": 1, "unrectified": 1}])
    db.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.rollup_monthly.c.month, db.rollup_monthly.c.level,
                                      db.rollup_monthly.c.count, db.rollup_monthly.c.unrectified)
                            .order_by(db.rollup_monthly.c.month)).all()
    assert [tuple(r) for r in rows] == [(date(2026, 3, 1), 5, 6, 0), (date(2026, 4, 1), 1, 1, 1)]
