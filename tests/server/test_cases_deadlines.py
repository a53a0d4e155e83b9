"""Case deadlines in working days by the State Council calendar (docs/api.md
"Deadlines"): across the 2026 National Day holiday, over a 调休 Saturday, with
config overrides, for a year the calendar does not cover, and through a real
server with ``rectify_day_kind = "working"``."""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from central.workdays import CalendarError, Deadlines, WorkCalendar
from testkit.server import rating_event, running_server

from .conftest import Api

SH = ZoneInfo("Asia/Shanghai")


def utc(local: str) -> datetime:
    """A Shanghai local time as naive UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=SH).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def test_the_2026_calendar_knows_national_day_and_its_workdays():
    cal = WorkCalendar()
    assert not cal.is_workday(date(2026, 10, 1)) and not cal.is_workday(date(2026, 10, 7))
    assert not cal.is_workday(date(2026, 9, 25))  # 中秋节 (a Friday)
    assert cal.is_workday(date(2026, 9, 20))  # 调休: a Sunday worked
    assert cal.is_workday(date(2026, 10, 10))  # 调休: a Saturday worked
    assert not cal.is_workday(date(2026, 10, 11))  # the Sunday after it is a day off


def test_five_working_days_across_national_day():
    d = Deadlines(5, "working", SH)
    # Rated Wednesday 2026-09-30 15:00: Oct 1-7 are holidays, then Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13.
    assert d.for_rating(utc("2026-09-30T15:00:00")) == utc("2026-10-13T23:59:59")
    # natural days for the same rating: 5 × 24 h
    assert Deadlines(5, "natural", SH).for_rating(utc("2026-09-30T15:00:00")) == utc("2026-10-05T15:00:00")


def test_the_tiaoxiu_saturday_counts_and_the_rating_day_does_not():
    d = Deadlines(1, "working", SH)
    assert d.for_rating(utc("2026-10-09T10:00:00")) == utc("2026-10-10T23:59:59")  # Fri → the 调休 Saturday
    assert d.for_rating(utc("2026-10-10T10:00:00")) == utc("2026-10-12T23:59:59")  # rated on it → Monday
    # the local day decides: 2026-10-09 23:30 in Shanghai is still Friday although UTC says 15:30
    assert d.for_rating(utc("2026-10-09T23:30:00")) == utc("2026-10-10T23:59:59")


def test_reminder_one_working_day_before():
    d = Deadlines(5, "working", SH)
    assert d.due_soon_at(utc("2026-10-13T23:59:59")) == utc("2026-10-12T23:59:59")
    assert d.due_soon_at(utc("2026-10-12T23:59:59")) == utc("2026-10-10T23:59:59")  # Saturday 10th is worked
    assert d.due_soon_at(utc("2026-10-08T23:59:59")) == utc("2026-09-30T23:59:59")  # over the holiday


def test_overrides_win_over_the_calendar():
    cal = WorkCalendar(extra_holidays=["2026-10-12"], extra_workdays=["2026-10-11"])
    d = Deadlines(2, "working", SH, cal)
    # Fri 9 → Sat 10 (调休), Sun 11 (extra working day); Mon 12 is now a day off
    assert d.for_rating(utc("2026-10-09T10:00:00")) == utc("2026-10-11T23:59:59")
    assert not cal.is_workday(date(2026, 10, 12))
    with pytest.raises(CalendarError, match="both list 2026-10-12"):
        WorkCalendar(extra_holidays=["2026-10-12"], extra_workdays=["2026-10-12"])
    with pytest.raises(CalendarError, match="extra_holidays: 'soon' is not a date"):
        WorkCalendar(extra_holidays=["soon"])
    with pytest.raises(CalendarError, match="rectify_day_kind"):
        Deadlines(5, "lunar", SH)


def test_a_year_without_calendar_data_falls_back_to_weekdays_and_warns_once(caplog):
    cal = WorkCalendar(extra_holidays=["2099-01-01"])
    with caplog.at_level(logging.WARNING, logger="central.workdays"):
        assert cal.is_workday(date(2099, 1, 2))  # a Friday
        assert not cal.is_workday(date(2099, 1, 3))  # Saturday
        assert not cal.is_workday(date(2099, 1, 1))  # the override still applies
        assert Deadlines(1, "working", SH, cal).for_rating(utc("2099-01-02T10:00:00")) == utc("2099-01-05T23:59:59")
    warnings = [r.getMessage() for r in caplog.records if "2099" in r.getMessage()]
    assert len(warnings) == 1 and "extra_holidays" in warnings[0]


def test_a_working_day_server_sets_deadlines_and_days_left(tmp_path):
    db = str(tmp_path / "w.db")
    with running_server(db, timezone="Asia/Shanghai", rectify_days=5, rectify_day_kind="working",
                        extra_holidays=["2026-10-13"]) as url:
        api = Api(url, db)
        dev = api.device()
        ev = rating_event(2, created_at="2026-09-30T07:00:00.000Z")  # 15:00 in Shanghai
        api.results(dev, [ev])
        case = api.get("/api/v1/cases", role="viewer").json()["cases"][0]
        # Oct 8, 9, 10 (调休), 12, then 13 is an extra holiday → 14th
        assert case["deadline"] == "2026-10-14T15:59:59.000Z"
        assert case["overdue"] is True and case["days_left"] < 0


def test_a_bad_override_in_the_config_is_refused(tmp_path):
    from central.config import load_settings
    from kiosk.exceptions import ConfigError

    cfg = tmp_path / "server.toml"
    cfg.write_text('[server]\nextra_workdays = ["2026-13-01"]\n', "utf-8")
    with pytest.raises(ConfigError, match="extra_workdays"):
        load_settings(str(cfg))


def test_the_reminder_goes_out_one_working_day_before(tmp_path):
    """A working-day case due Tuesday 2026-10-13 (after National Day and the 调休 Saturday) is
    reminded from Monday 23:59:59, not before; a natural 24 h window alone would miss the rule."""
    import uuid

    import sqlalchemy as sa

    from central import db
    from central.web import alerts
    from central.web.tables import alert_outbox

    url = str(tmp_path / "a.db")
    db.upgrade(url)
    engine = db.engine_for(url)
    d = Deadlines(5, "working", SH)
    rated = utc("2026-09-30T15:00:00")
    deadline = d.for_rating(rated)
    cfg = alerts.AlertSettings(due_soon_hours=1)
    alerts.scan(engine, cfg, rated)  # switch alerts on before the case exists
    with db.write_tx(engine) as conn:
        conn.execute(db.cases.insert().values(
            rating_id=str(uuid.uuid4()), device_id="d", state="verified", satisfaction=2, section="s",
            window_no="1", staff_no="A", day=date(2026, 9, 30), rated_at=rated, opened_at=rated,
            deadline=deadline, due_soon_at=d.due_soon_at(deadline), updated_at=rated))

    def reminders(at: str) -> int:
        alerts.scan(engine, cfg, utc(at))
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(alert_outbox)
                                .where(alert_outbox.c.kind == alerts.DUE_SOON)).scalar_one()

    assert reminders("2026-10-12T12:00:00") == 0  # Monday noon: more than one working day left
    assert reminders("2026-10-13T00:00:00") == 1  # Tuesday: the last working day
    assert reminders("2026-10-13T12:00:00") == 1  # once
