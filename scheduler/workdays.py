"""Chinese working days: the State Council's holiday notices with their make-up working weekends
(调休), as the chinesecalendar package records them, and the days admins load from a notice
(`python -m bot holidays FILE`), which come first: a notice may move days of a year the package
already covers (the 2019 one made 2018-12-29 a working day and 2018-12-31 a day off). For a year
the package does not know, in order: the loaded days, then the statutory holidays as the `holidays`
package computes them, then Monday to Friday. Any answer for a year the package does not know is
flagged as an estimate, and deadlines built on it are shown as 估算."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import holidays as statutory

from locales import N_, Refusal


@lru_cache(maxsize=8192)
def _official(day: dt.date) -> bool | None:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


@lru_cache(maxsize=64)
def _statutory_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(statutory.China(years=[year]).keys())


def official_year(year: int) -> bool:
    """Does the official calendar data cover this year?"""
    return _official(dt.date(year, 6, 1)) is not None


@lru_cache(maxsize=1)
def official_span() -> tuple[int, int]:
    """The first and the last year the official calendar data covers (a chinesecalendar upgrade
    moves the last)."""
    years = [year for year in range(1990, 2200) if official_year(year)]
    return years[0], years[-1]


class WorkdayCalendar:
    def __init__(self, overrides: Mapping[dt.date, bool] | None = None, official_years: tuple[int, int] | None = None):
        """`official_years`: the years the official data is taken for (default: every year it
        covers); the calendar as it stood before a chinesecalendar upgrade."""
        self.official_years = official_years
        self._sums: dict[tuple[dt.date, int], tuple[dt.date, bool]] = {}
        self._spans: dict[tuple[dt.date, dt.date], int] = {}
        self.overrides: dict[dt.date, bool] = {}
        self.set_overrides(overrides or {})

    def set_overrides(self, overrides: Mapping[dt.date, bool]) -> None:
        self.overrides = dict(overrides)
        self._sums.clear()
        self._spans.clear()

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """(is it a working day, is that an estimate). A loaded day wins over the official data:
        it comes from a later notice."""
        known = self.official_years is None or self.official_years[0] <= day.year <= self.official_years[1]
        official = _official(day) if known else None
        if day in self.overrides:
            return self.overrides[day], official is None
        if official is not None:
            return official, False
        if day in _statutory_holidays(day.year):
            return False, True
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

    def next_workday(self, day: dt.date) -> dt.date:
        return self.add_workdays(day, 1)[0]

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        key = (start, end)
        if key not in self._spans:
            self._spans[key] = self._count(start, end)
        return self._spans[key]

    def _count(self, start: dt.date, end: dt.date) -> int:
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_workday(day)[0]
        return count


class OverrideFileError(Refusal):
    """Why a holidays file was not loaded."""


WORKING_WORDS = {"working", "work", "上班", "工作日", "班", "1", "true", "yes"}
OFF_WORDS = {"off", "holiday", "休", "休息", "放假", "假", "0", "false", "no"}


def read_override_file(path: Path) -> dict[dt.date, tuple[bool, str]]:
    """Lines `date,working|off[,note]` (CSV, UTF-8 or GB18030; `#` starts a comment):
    2027-01-01,off,元旦 / 2027-02-20,working,春节调休上班. Days of a year the official data
    covers are taken too: a notice may move days of the year before (see `overruling`)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    days: dict[dt.date, tuple[bool, str]] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip() or row[0].strip().startswith("#"):
            continue
        if row[0].strip().lower() in ("date", "日期"):
            continue
        try:
            day = dt.date.fromisoformat(row[0].strip().replace("/", "-"))
        except ValueError:
            raise OverrideFileError(N_("line {line}: {value} is not a date like 2027-01-01"), line=number, value=row[0].strip()) from None
        word = (row[1].strip().lower() if len(row) > 1 else "")
        if word in WORKING_WORDS:
            working = True
        elif word in OFF_WORDS:
            working = False
        else:
            raise OverrideFileError(N_("line {line}: say working or off, not {value}"), line=number, value=word or "—")
        days[day] = (working, (row[2].strip() if len(row) > 2 else "")[:100])
    if not days:
        raise OverrideFileError(N_("the file lists no days"))
    return days


def overruling(days: Mapping[dt.date, tuple[bool, str]]) -> tuple[list[dt.date], list[dt.date]]:
    """Of loaded days, those of years the official data covers: (the days where they overrule it,
    the days where they agree with it and change nothing)."""
    overruled, agreeing = [], []
    for day in sorted(days):
        official = _official(day)
        if official is not None:
            (agreeing if official == days[day][0] else overruled).append(day)
    return overruled, agreeing
