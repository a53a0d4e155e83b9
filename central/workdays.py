"""Case deadlines in natural or working days (docs/api.md "Deadlines").

Working days follow the State Council holiday calendar with its 调休 working
days, from the ``chinese-calendar`` package (data for the years up to its
release), plus the ``[server] extra_holidays`` / ``extra_workdays`` lists,
which always win. For a year the package does not cover, the calendar falls
back to "Monday to Friday are working days" and logs one warning per year
naming the year and the fix (upgrade ``chinese-calendar`` or list that
year's holidays and 调休 days in the config): a rating must never be refused
because a calendar is out of date, and the overrides repair the deadlines of
new cases at once.

All times given to and returned by :class:`Deadlines` are naive UTC (the form
every time column holds); local dates are in the server's timezone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from . import CentralError

log = logging.getLogger("central.workdays")

DAY_KINDS = ("natural", "working")
END_OF_DAY = time(23, 59, 59)


class CalendarError(CentralError, ValueError):
    """A bad ``rectify_day_kind`` or override date."""


def parse_dates(values: Iterable[str | date], key: str) -> frozenset[date]:
    """``["2027-01-01", …]`` → dates; a bad entry names the key and the value."""
    out = set()
    for v in values or ():
        if isinstance(v, date):
            out.add(v)
            continue
        try:
            out.add(date.fromisoformat(str(v).strip()))
        except ValueError:
            raise CalendarError(f"[server] {key}: {v!r} is not a date: expected YYYY-MM-DD") from None
    return frozenset(out)


class WorkCalendar:
    """Which local dates are working days."""

    def __init__(self, extra_holidays: Iterable[str | date] = (), extra_workdays: Iterable[str | date] = ()):
        self.extra_holidays = parse_dates(extra_holidays, "extra_holidays")
        self.extra_workdays = parse_dates(extra_workdays, "extra_workdays")
        both = self.extra_holidays & self.extra_workdays
        if both:
            raise CalendarError("[server] extra_holidays and extra_workdays both list "
                                + ", ".join(sorted(d.isoformat() for d in both)) + ": keep each date in one")
        self._warned: set[int] = set()

    def is_workday(self, d: date) -> bool:
        if d in self.extra_holidays:
            return False
        if d in self.extra_workdays:
            return True
        import chinese_calendar

        try:
            return chinese_calendar.is_workday(d)
        except NotImplementedError:
            if d.year not in self._warned:
                self._warned.add(d.year)
                log.warning("the holiday calendar has no data for %d: counting Monday to Friday as working "
                            "days; upgrade chinese-calendar or list that year's holidays and 调休 days in "
                            "[server] extra_holidays / extra_workdays", d.year)
            return d.weekday() < 5

    def add_workdays(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself not counted)."""
        d, left = start, n
        while left > 0:
            d += timedelta(days=1)
            if self.is_workday(d):
                left -= 1
        return d

    def previous_workday(self, d: date) -> date:
        """The last working day before ``d``."""
        d -= timedelta(days=1)
        while not self.is_workday(d):
            d -= timedelta(days=1)
        return d


class Deadlines:
    """The deadline rule of one server: ``rectify_days`` natural or working days."""

    def __init__(self, days: int = 5, kind: str = "natural", tz: ZoneInfo | str = "Asia/Shanghai",
                 calendar: WorkCalendar | None = None):
        if kind not in DAY_KINDS:
            raise CalendarError(f"[server] rectify_day_kind: {kind!r}: expected \"natural\" or \"working\"")
        self.days, self.kind = days, kind
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.calendar = calendar or WorkCalendar()

    def _local(self, t: datetime) -> datetime:
        return t.replace(tzinfo=UTC).astimezone(self.tz)

    def _utc(self, local: datetime) -> datetime:
        return local.astimezone(UTC).replace(tzinfo=None)

    def end_of(self, d: date) -> datetime:
        """23:59:59 local of ``d``, as naive UTC (the deadline of a planned case's ``due_date``)."""
        return self._utc(datetime.combine(d, END_OF_DAY, tzinfo=self.tz))

    def for_rating(self, rated_at: datetime) -> datetime:
        """A new case's deadline: rating time + N days, or the end of the N-th working
        day after the rating's local day."""
        if self.kind == "natural":
            return rated_at + timedelta(days=self.days)
        return self.end_of(self.calendar.add_workdays(self._local(rated_at).date(), self.days))

    def due_soon_at(self, deadline: datetime) -> datetime:
        """One working day before ``deadline``: the same local time on the last
        working day before the deadline's local date (when the reminder goes out)."""
        local = self._local(deadline)
        before = self.calendar.previous_workday(local.date())
        return self._utc(datetime.combine(before, local.timetz()))

    def local_today(self, now: datetime) -> date:
        return self._local(now).date()

    def days_left(self, deadline: datetime, now: datetime) -> int:
        """Calendar days from today to the deadline's local date (negative when overdue,
        counted from the deadline's day; 0 = due today)."""
        return (self._local(deadline).date() - self._local(now).date()).days
