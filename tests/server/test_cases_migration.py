"""Migration c001 (closed loop v2) from a database with v1 cases: every case and
its history stays, the old states keep their names, and the new rollup counts
are filled from the cases so the stats are exact right after the upgrade."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from alembic import command

from central import db, stats

DAY = date(2026, 11, 10)
AT = datetime(2026, 11, 10, 2, 0)
OLD_STATES = ("open", "verified", "rectified", "fed_back", "invalid")


def _old_database(url: str) -> None:
    """A v1 database (revision r001) with one case per old state, each with its history."""
    db.upgrade(url, "r001")
    md = sa.MetaData()
    with db.engine_for(url).connect() as conn:
        md.reflect(conn, only=["ratings", "rating_details", "cases", "case_transitions", "rollup_daily",
                               "rollup_monthly"])
    t = md.tables
    rollup = {}
    with db.write_tx(db.engine_for(url)) as conn:
        for i, state in enumerate(OLD_STATES):
            rid = f"r{i}"
            conn.execute(t["ratings"].insert().values(
                event_id=rid, device_id="d", satisfaction=2, misuse=False, source="touch", channel=4,
                window_no="1", section="S", staff_no="A", staff_name="张三", rated_at=AT, day=DAY))
            if i % 2 == 0:
                conn.execute(t["rating_details"].insert().values(event_id=f"d{i}", rating_id=rid, reasons="[]",
                                                                 phone="13812345678", created_at=AT))
            cid = conn.execute(t["cases"].insert().values(
                rating_id=rid, device_id="d", state=state, satisfaction=2, section="S", window_no="1", staff_no="A",
                day=DAY, rated_at=AT, opened_at=AT, deadline=datetime(2026, 11, 15, 2), updated_at=AT)
                .returning(t["cases"].c.id)).scalar_one()
            path = {"open": [], "verified": ["verified"], "rectified": ["verified", "rectified"],
                    "fed_back": ["verified", "rectified", "fed_back"], "invalid": ["invalid"]}[state]
            prev = None
            for to in ["open"] + path:
                conn.execute(t["case_transitions"].insert().values(case_id=cid, from_state=prev, to_state=to,
                                                                   actor="system" if prev is None else "sup",
                                                                   at=AT, note=f"→ {to}"))
                prev = to
            cell = rollup.setdefault(state != "invalid", [0, 0])
            cell[0] += state != "invalid"
            cell[1] += state in ("open", "verified")
        for table, first in (("rollup_daily", DAY), ("rollup_monthly", DAY.replace(day=1))):
            conn.execute(t[table].insert().values(
                **{"day" if table == "rollup_daily" else "month": first}, section="S", window_no="1",
                staff_no="A", level=2, misuse=False, count=rollup[True][0], unrectified=rollup[True][1]))


def test_upgrade_keeps_every_case_and_fills_the_counts(db_url):
    _old_database(db_url)
    engine = db.engine_for(db_url)
    with engine.connect() as conn:
        before = conn.execute(sa.select(db.cases.c.id, db.cases.c.rating_id, db.cases.c.state, db.cases.c.deadline)
                              .order_by(db.cases.c.id)).all()
        steps_before = conn.execute(sa.text(
            "SELECT case_id, from_state, to_state, actor, note FROM case_transitions ORDER BY id")).all()
    db.upgrade(db_url)
    assert db.current_revision(db_url) == db.head_revision()
    with engine.connect() as conn:
        after = conn.execute(sa.select(db.cases.c.id, db.cases.c.rating_id, db.cases.c.state, db.cases.c.deadline)
                             .order_by(db.cases.c.id)).all()
        steps_after = conn.execute(sa.select(db.case_transitions.c.case_id, db.case_transitions.c.from_state,
                                             db.case_transitions.c.to_state, db.case_transitions.c.actor,
                                             db.case_transitions.c.note).order_by(db.case_transitions.c.id)).all()
        phones = dict(conn.execute(sa.select(db.cases.c.state, db.cases.c.has_phone)).all())
        day = stats.query(conn, DAY, DAY, now=datetime(2026, 12, 1))["total"]
        month = stats.query(conn, date(2026, 11, 1), date(2026, 11, 30), now=datetime(2026, 12, 1))["total"]
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    assert [r.state for r in after] == list(OLD_STATES)
    assert [tuple(r) for r in steps_after] == [tuple(r) for r in steps_before]
    assert phones == {"open": True, "verified": False, "rectified": True, "fed_back": False, "invalid": True}
    # valid: open, verified, rectified, fed_back; rectified + fed_back are rectified; phones on open + rectified
    for total in (day, month):
        assert (total["bad"], total["bad_unrectified"], total["rectified"], total["rectify_rate"],
                total["overdue"], total["followup_rate"]) == (4, 2, 2, 0.5, 2, 0.0)

    # and down again: v2-only states fall back to their nearest v1 state
    with db.write_tx(engine) as conn:
        conn.execute(db.cases.update().where(db.cases.c.state == "verified").values(state="planned"))
        conn.execute(db.cases.update().where(db.cases.c.state == "fed_back").values(state="closed"))
    cfg = db.alembic_config(db_url)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "r001")
        conn.commit()
    with engine.connect() as conn:
        states = sorted(r[0] for r in conn.execute(sa.text("SELECT state FROM cases")))
    assert states == sorted(OLD_STATES)
    db.upgrade(db_url)
