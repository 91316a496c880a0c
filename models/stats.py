"""Handling rates, as an official notice prints them. Free of Telegram; one aggregate query per
period, grouped by unit, so it stays quick at a million letters.

办结率 = letters done ÷ valid letters assigned, for letters received in the period; 按期办结率 = letters
done by their (extended) deadline ÷ the same. A letter counts once it is assigned (交办): letters
still waiting for assignment, returned ones awaiting reassignment, and invalid ones are in no rate.
Percentages are Decimals with one place, rounded half up as official notices do (1/16 → 6.3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Letter, LetterStatus, LetterTally, Unit, UnitKind
from models.tallies import ZONE_INFO_KEY

COUNTED = (LetterStatus.ASSIGNED, LetterStatus.ACCEPTED, LetterStatus.DONE)
OPEN = (LetterStatus.ASSIGNED, LetterStatus.ACCEPTED)
ONE_PLACE = Decimal("0.1")


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal, rounded half up; None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    def bounds(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) as aware datetimes: local midnights of the first day and the day after."""
        begin = dt.datetime.combine(self.start, dt.time(), tzinfo=tz)
        finish = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        return begin, finish


def quarter_of(day: dt.date) -> Period:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = dt.date(day.year, first_month, 1)
    next_start = dt.date(day.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1)
    return Period(start, next_start - dt.timedelta(days=1))


@dataclass(frozen=True)
class Figures:
    assigned: int = 0
    done: int = 0
    on_time: int = 0
    open: int = 0
    overdue: int = 0
    workdays_sum: int = 0  # of closed letters with a known handling time
    workdays_count: int = 0

    @property
    def rate(self) -> Decimal | None:
        return percent(self.done, self.assigned)

    @property
    def on_time_rate(self) -> Decimal | None:
        return percent(self.on_time, self.assigned)

    @property
    def average_workdays(self) -> Decimal | None:
        if not self.workdays_count:
            return None
        return (Decimal(self.workdays_sum) / Decimal(self.workdays_count)).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(a + b for a, b in zip(self._values(), other._values(), strict=True)))

    def _values(self) -> tuple[int, ...]:
        return (self.assigned, self.done, self.on_time, self.open, self.overdue, self.workdays_sum, self.workdays_count)


@dataclass(frozen=True)
class UnitFigures:
    unit_id: int
    name: str
    kind: str
    position: int
    figures: Figures


@dataclass(frozen=True)
class Report:
    period: Period
    units: list[UnitFigures]
    total: Figures = field(default_factory=Figures)
    towns: Figures = field(default_factory=Figures)
    departments: Figures = field(default_factory=Figures)

    def ranked(self) -> list[UnitFigures]:
        """Units with letters, the lowest rate first; then more overdue, then file order."""
        with_letters = [u for u in self.units if u.figures.assigned]
        return sorted(with_letters, key=lambda u: (u.figures.rate, -u.figures.overdue, u.position))

    def without_letters(self) -> list[UnitFigures]:
        """Units that took letters in the period but were assigned none, in file order: no rate to
        rank them by, yet every unit is in the answer (`/rate` lists them after the ranked ones)."""
        return [u for u in self.units if not u.figures.assigned]


def _total(condition) -> object:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)


def _summed(column) -> object:
    return func.coalesce(func.sum(column), 0).cast(Integer)


# Built once: this is the query behind every /rate, and building it costs more than running it.
TALLIED = (
    select(
        LetterTally.unit_id, _summed(LetterTally.assigned), _summed(LetterTally.done), _summed(LetterTally.on_time),
        _summed(LetterTally.open), _summed(case((LetterTally.due_date < bindparam("today"), LetterTally.open), else_=0)),
        _summed(LetterTally.workdays_sum), _summed(LetterTally.workdays_count),
    )
    .where(LetterTally.day >= bindparam("first_day"), LetterTally.day <= bindparam("last_day"))
    .group_by(LetterTally.unit_id)
    .having(func.sum(LetterTally.assigned) > 0)
)


async def _from_tallies(session: AsyncSession, period: Period, today: dt.date) -> dict[int, tuple[int, ...]]:
    """Per unit figures from the running tallies (models.tallies): a sum over units × days."""
    rows = await session.execute(TALLIED, {"today": today, "first_day": period.start, "last_day": period.end})
    return {row[0]: row[1:] for row in rows.all()}


async def _from_letters(session: AsyncSession, period: Period, tz: ZoneInfo, today: dt.date) -> dict[int, tuple[int, ...]]:
    """The same figures straight from the letters: the definition the tallies must match."""
    begin, finish = period.bounds(tz)
    counted = Letter.status.in_(COUNTED)
    is_done = Letter.status == LetterStatus.DONE
    is_open = Letter.status.in_(OPEN)

    # One table, grouped by unit id: joining units here lets SQLite's planner walk the letters unit
    # by unit through another index instead of reading one quarter's range.
    query = (
        select(
            Letter.unit_id,
            _total(counted), _total(is_done), _total(is_done & Letter.closed_on_time.is_(True)),
            _total(is_open), _total(is_open & (Letter.due_date < today)),
            func.coalesce(func.sum(case((is_done, Letter.handling_workdays), else_=None)), 0).cast(Integer),
            _total(is_done & Letter.handling_workdays.is_not(None)),
        )
        # Only the time range in WHERE: the CASEs above pick the statuses. A status condition here
        # tempts SQLite's planner onto the status index, which reads every letter of all time.
        .where(Letter.received_at >= begin, Letter.received_at < finish, Letter.unit_id.is_not(None))
        .group_by(Letter.unit_id)
        .having(_total(counted) > 0)
    )
    return {row[0]: row[1:] for row in (await session.execute(query)).all()}


def _in_period(valid_from: dt.date | None, valid_to: dt.date | None, period: Period) -> bool:
    return (valid_from is None or valid_from <= period.end) and (valid_to is None or period.start <= valid_to)


async def report(
    session: AsyncSession, period: Period, tz: ZoneInfo, today: dt.date,
    units: list[tuple] | None = None,
) -> Report:
    """Per unit figures for letters received in the period. `units` (id, name, kind, position,
    valid_from, valid_to), when the caller holds them already, saves a query. A unit is listed when
    it had letters in the period or took letters on any day of it (a body renamed in 2021 is
    not listed, empty, for 2026; its successor not for 2019)."""
    tally_zone = session.info.get(ZONE_INFO_KEY)
    if tally_zone is not None and tally_zone.key == tz.key:
        found = await _from_tallies(session, period, today)
    else:  # a zone the tallies are not kept in
        found = await _from_letters(session, period, tz, today)
    columns = (Unit.id, Unit.name, Unit.kind, Unit.position, Unit.valid_from, Unit.valid_to)
    if units is None:
        units = [tuple(u) for u in (await session.execute(select(*columns).where(Unit.active).order_by(Unit.position))).all()]
    listed = [u for u in units if u[0] in found or _in_period(u[4], u[5], period)]
    retired = set(found) - {u[0] for u in units}
    if retired:  # units gone from the file that still have letters in the period
        listed += [tuple(u) for u in (await session.execute(select(*columns).where(Unit.id.in_(retired)).order_by(Unit.position))).all()]
    figures = [
        UnitFigures(unit_id, name, kind, position, Figures(*found[unit_id]) if unit_id in found else Figures())
        for unit_id, name, kind, position, *_ in listed
    ]
    towns = sum((u.figures for u in figures if u.kind == UnitKind.TOWN), Figures())
    departments = sum((u.figures for u in figures if u.kind == UnitKind.DEPARTMENT), Figures())
    return Report(period, figures, towns + departments, towns, departments)
