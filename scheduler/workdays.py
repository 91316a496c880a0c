"""Chinese working days: the State Council's holiday notices with their make-up working weekends
(调休), as the chinesecalendar package records them. For a year it does not know, overrides that
admins maintain come first, then Monday to Friday; such answers are flagged as estimates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

import chinese_calendar


@lru_cache(maxsize=4096)
def _official(day: dt.date) -> bool | None:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


class WorkdayCalendar:
    def __init__(self, overrides: Mapping[dt.date, bool] | None = None):
        self.overrides = dict(overrides or {})
        self._sums: dict[tuple[dt.date, int], tuple[dt.date, bool]] = {}

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """(is it a working day, is that an estimate)."""
        official = _official(day)
        if official is not None:
            return official, False
        if day in self.overrides:
            return self.overrides[day], True
        return day.weekday() < 5, True

    def add_workdays(self, start: dt.date, count: int) -> tuple[dt.date, bool]:
        """The `count`-th working day after `start`, `start` itself not counted, and whether any
        day on the way was estimated."""
        key = (start, count)
        if key not in self._sums:
            self._sums[key] = self._add(start, count)
        return self._sums[key]

    def _add(self, start: dt.date, count: int) -> tuple[dt.date, bool]:
        day, left, estimated = start, count, False
        while left > 0:
            day += dt.timedelta(days=1)
            working, guessed = self.is_workday(day)
            estimated |= guessed
            left -= working
        return day, estimated

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_workday(day)[0]
        return count
