"""The per-section daily rollup (``rollup_sections``) is the daily rollup summed
over windows and staff, whatever is added or taken out; migration rs01 fills it
from the daily rollup; the names of staff come from the roster, else from their
latest named rating; the rising-差评 read takes the partial index of the 差评 cells."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from central import db
from central.remote import staff
from central.rollups import ROLLUP_COUNTS, rollup_add
from central.stats import bad_by_window_and_staff, staff_names

START = date(2026, 3, 1)
DELTAS = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6), st.integers(0, 5), st.booleans(),
                            st.lists(st.integers(-3, 5), min_size=1, max_size=5)), min_size=1, max_size=40)


def _summed(conn, table, key):
    cols = [table.c[k] for k in key]
    stmt = sa.select(*cols, *(sa.func.sum(table.c[n]).label(n) for n in ROLLUP_COUNTS)).group_by(*cols)
    return {tuple(r[:len(key)]): tuple(int(x) for x in r[len(key):]) for r in conn.execute(stmt)
            if any(r[len(key):])}


@settings(max_examples=20, deadline=None)
@given(batches=st.lists(DELTAS, min_size=1, max_size=3))
def test_section_cells_are_the_daily_cells_summed(tmp_path_factory, batches):
    url = str(tmp_path_factory.mktemp("sec") / "r.db")
    db.upgrade(url)
    engine = db.engine_for(url)
    want: dict[tuple, list[int]] = {}
    for cells in batches:  # several transactions, with counts going down as well as up
        deltas: dict[tuple, list[int]] = {}
        for offset, window, level, misuse, counts in cells:
            key = (START + timedelta(days=offset), f"S{window % 3}", str(window), f"A{window}", level, misuse)
            d = deltas.setdefault(key, [0] * len(counts))
            for i, n in enumerate(counts[:len(d)]):
                d[i] += n
        with db.write_tx(engine) as conn:
            rollup_add(conn, deltas)
        for (day, section, _w, _s, level, misuse), counts in deltas.items():
            w = want.setdefault((day, section, level, misuse), [0] * len(ROLLUP_COUNTS))
            for i, n in enumerate(counts):
                w[i] += n
    key = ("day", "section", "level", "misuse")
    with engine.connect() as conn:
        assert _summed(conn, db.rollup_sections, key) == {k: tuple(v) for k, v in want.items() if any(v)}
        assert _summed(conn, db.rollup_daily, key) == _summed(conn, db.rollup_sections, key)
    engine.dispose()


def test_migration_fills_the_section_cells(db_url):
    db.upgrade(db_url, "hs01")
    row = {"misuse": False, "count": 0, "unrectified": 0, "rectified": 0, "phoned": 0, "reached": 0}
    with db.write_tx(db.engine_for(db_url)) as conn:
        conn.execute(db.rollup_daily.insert(), [
            {**row, "day": date(2026, 3, 1), "section": "S", "window_no": "1", "staff_no": "A", "level": 1,
             "count": 2, "unrectified": 1, "rectified": 1, "phoned": 2, "reached": 1},
            {**row, "day": date(2026, 3, 1), "section": "S", "window_no": "2", "staff_no": "B", "level": 1,
             "count": 3, "unrectified": 3, "phoned": 1},
            {**row, "day": date(2026, 3, 1), "section": "T", "window_no": "3", "staff_no": "C", "level": 5,
             "count": 4},
            {**row, "day": date(2026, 3, 2), "section": "S", "window_no": "1", "staff_no": "A", "level": 5,
             "misuse": True, "count": 1}])
    db.upgrade(db_url)
    with db.engine_for(db_url).connect() as conn:
        got = {(r.day, r.section, r.level, r.misuse): (r.count, r.unrectified, r.rectified, r.phoned, r.reached)
               for r in conn.execute(sa.select(db.rollup_sections))}
    assert got == {(date(2026, 3, 1), "S", 1, False): (5, 4, 1, 3, 1),
                   (date(2026, 3, 1), "T", 5, False): (4, 0, 0, 0, 0),
                   (date(2026, 3, 2), "S", 5, True): (1, 0, 0, 0, 0)}


def _rating(i: int, staff_no: str, name: str, day: date) -> dict:
    return {"event_id": f"n{i}", "device_id": "d", "satisfaction": 5, "misuse": False, "source": "touch",
            "channel": 4, "window_no": "1", "section": "S", "staff_no": staff_no, "staff_name": name,
            "rated_at": datetime(day.year, day.month, day.day, 3), "day": day}


def test_staff_names_roster_first_then_the_latest_named_rating(db_url):
    db.upgrade(db_url)
    d = date(2026, 5, 10)
    with db.write_tx(db.engine_for(db_url)) as conn:
        conn.execute(db.ratings.insert(), [
            _rating(1, "A1", "旧名", d), _rating(2, "A1", "新名", d + timedelta(days=2)),
            _rating(3, "A1", "", d + timedelta(days=3)),  # unnamed: not a name
            _rating(4, "A2", "甲", d), _rating(5, "A3", "乙", d - timedelta(days=30)),  # before the range
            _rating(6, "A4", "评价名", d)])
        conn.execute(staff.insert(), [{"staff_no": "A4", "name": "花名册", "updated_at": datetime(2026, 5, 1)},
                                      {"staff_no": "A2", "name": "", "updated_at": datetime(2026, 5, 1)}])
    with db.engine_for(db_url).connect() as conn:
        got = staff_names(conn, ["A1", "A2", "A3", "A4", "A5", "A1", ""], d - timedelta(days=5), d + timedelta(days=5))
        assert got == {"A1": "新名", "A2": "甲", "A4": "花名册"}
        assert staff_names(conn, [], d, d) == {}


def test_rising_bad_read_uses_the_partial_index(db_url):
    db.upgrade(db_url)
    engine = db.engine_for(db_url)
    seen: list[tuple] = []
    with engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", lambda _c, _cur, sql, params, *_: seen.append((sql, params)))
        bad_by_window_and_staff(conn, {"cur": (date(2026, 3, 1), date(2026, 3, 30)),
                                       "prev": (date(2026, 1, 30), date(2026, 2, 28))})
        sql, params = seen[-1]
        if not db.is_sqlite(conn):
            conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table: only the indexes are compared
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            ("EXPLAIN QUERY PLAN " if db.is_sqlite(conn) else "EXPLAIN ") + sql, params).all())
    assert "ix_rollup_daily_bad" in plan, plan
    engine.dispose()
