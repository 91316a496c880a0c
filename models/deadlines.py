"""Deadlines: counted in Chinese working days from the day of assignment, that day not counted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from scheduler.workdays import WorkdayCalendar


@dataclass(frozen=True)
class Deadlines:
    accept_due: dt.date
    due_date: dt.date
    estimated: bool


@dataclass(frozen=True)
class DeadlinePolicy:
    tz: ZoneInfo
    handling_days: int = 5
    accept_days: int = 1
    calendar: WorkdayCalendar = field(default_factory=WorkdayCalendar)
    handling_by_type: Mapping[str, int] = field(default_factory=dict)
    accept_by_type: Mapping[str, int] = field(default_factory=dict)

    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def for_assignment(self, assigned_at: dt.datetime, letter_type: str | None = None) -> Deadlines:
        day = self.local_date(assigned_at)
        handling = self.handling_by_type.get(letter_type or "", self.handling_days)
        accept = self.accept_by_type.get(letter_type or "", self.accept_days)
        due, due_guessed = self.calendar.add_workdays(day, handling)
        accept_due, accept_guessed = self.calendar.add_workdays(day, accept)
        return Deadlines(accept_due, due, due_guessed or accept_guessed)

    def extended(self, due_date: dt.date, days: int) -> tuple[dt.date, bool]:
        return self.calendar.add_workdays(due_date, days)

    def replayed(self, assigned_at: dt.datetime, letter_type: str | None, extensions: Iterable[int]) -> Deadlines:
        """The deadlines an assignment at `assigned_at` and then the approved extensions (working
        days, in the order they were approved) give on this calendar: `for_assignment`, then
        `extended` for each, as assigning and approving do."""
        first = self.for_assignment(assigned_at, letter_type)
        due, estimated = first.due_date, first.estimated
        for days in extensions:
            due, guessed = self.extended(due, days)
            estimated = estimated or guessed
        return Deadlines(first.accept_due, due, estimated)

    def on_time(self, done_at: dt.datetime | None, due_date: dt.date | None) -> bool | None:
        if done_at is None or due_date is None:
            return None
        return self.local_date(done_at) <= due_date

    def workdays_to_close(self, assigned_at: dt.datetime | None, done_at: dt.datetime | None) -> int | None:
        """Working days from the day of assignment to the day of closing (same day: 0)."""
        if assigned_at is None or done_at is None:
            return None
        return self.calendar.workdays_between(self.local_date(assigned_at), self.local_date(done_at))
