"""Migration hs01 fills the heat map's half-hour rollup (``rollup_slots``) from the
ratings a database already holds: each rating in the half hour of its UTC time, on
its local day, so the heat map reads the same as a count of the ratings."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from central import db

from .test_rollup_slots import SHANGHAI, both


def test_migration_fills_the_slots_from_the_ratings(db_url):
    db.upgrade(db_url, "ec01")
    times = [datetime(2026, 11, 9, 15, 59, 59), datetime(2026, 11, 9, 16, 0), datetime(2026, 11, 9, 16, 29, 59),
             datetime(2026, 11, 9, 16, 30), datetime(2026, 11, 10, 1, 45, 12, 345000)]
    with db.write_tx(db.engine_for(db_url)) as conn:
        for i, t in enumerate(times):
            conn.execute(db.ratings.insert().values(
                event_id=f"m{i}", device_id="d", satisfaction=5, misuse=i == 4, source="touch", channel=4,
                window_no="1", section="S", staff_no="A", staff_name="", rated_at=t,
                day=t.replace(tzinfo=ZoneInfo("UTC")).astimezone(SHANGHAI).date()))
    db.upgrade(db_url)
    with db.engine_for(db_url).connect() as conn:
        cells = {(r.day, r.slot, r.misuse): r.count for r in conn.execute(sa.select(db.rollup_slots))}
    assert cells == {(date(2026, 11, 9), datetime(2026, 11, 9, 15, 30), False): 1,
                     (date(2026, 11, 10), datetime(2026, 11, 9, 16, 0), False): 2,
                     (date(2026, 11, 10), datetime(2026, 11, 9, 16, 30), False): 1,
                     (date(2026, 11, 10), datetime(2026, 11, 10, 1, 30), True): 1}
    rolled, counted = both(db_url, SHANGHAI, include_misuse=True)
    assert rolled == counted and rolled[0][23] == 1 and rolled[1][0] == 3 and rolled[1][9] == 1
