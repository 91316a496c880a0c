"""The admins' calendar overrides, kept in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import CalendarOverride
from scheduler.workdays import official_answer


async def load_overrides(session: AsyncSession) -> dict[dt.date, bool]:
    return dict((await session.execute(select(CalendarOverride.day, CalendarOverride.working))).all())


async def save_overrides(session: AsyncSession, days: dict[dt.date, tuple[bool, str]], now: dt.datetime) -> int:
    existing = {o.day: o for o in (await session.scalars(select(CalendarOverride).where(CalendarOverride.day.in_(list(days))))).all()}
    for day, (working, note) in days.items():
        override = existing.get(day)
        if override is None:
            session.add(CalendarOverride(day=day, working=working, note=note, loaded_at=now))
        else:
            override.working, override.note, override.loaded_at = working, note, now
    return len(days)


async def override_years(session: AsyncSession) -> dict[int, int]:
    """How many days each year's overrides hold."""
    counts: dict[int, int] = {}
    for day in (await session.scalars(select(CalendarOverride.day))).all():
        counts[day.year] = counts.get(day.year, 0) + 1
    return counts


async def overruled_overrides(session: AsyncSession) -> list[tuple[dt.date, bool]]:
    """The stored days that overrule the official data (day, working), in order."""
    stored = await load_overrides(session)
    return [(day, working) for day, working in sorted(stored.items()) if official_answer(day) not in (None, working)]
