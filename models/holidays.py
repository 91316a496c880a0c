"""The admins' calendar overrides, kept in the database, and what a change of the calendar does to
open letters: their deadlines are counted again.

A deadline counted on days the calendar only estimated (a year the official data did not know) is
marked 估算. When the calendar learns those days — the admins load the year's notice
(`save_overrides`), or a chinesecalendar upgrade covers the year (`follow_official_calendar`, at
start) — the deadlines of open letters that were estimated are counted again from their assignment
and their approved extensions, as assigning and approving count them, and lose the mark if the
calendar now knows every day they rest on. Loaded days that move days of a year the official data
covers (a notice moving days of the December before) recount the open letters whose span they fall
in, estimated or not. Closed letters keep their figures (their deadline, whether on time).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import N_
from models.deadlines import DeadlinePolicy, Deadlines
from models.letters import OPEN_STATUSES, Origin, Rules, record_event
from models.outbox import Kind, enqueue, enqueue_refresh, to_json, unit_chat_ids
from models.tables import Bookkeeping, CalendarOverride, ExtensionRequest, ExtensionState, Letter
from scheduler.workdays import WorkdayCalendar, official_answer, official_span, overruling

OFFICIAL_SPAN_KEY = "calendar_official_span"  # bookkeeping: the official years the deadlines were last counted on
RECOUNTED = "deadline_recounted"  # the event
MOVED_NOTICE = N_("📅 The deadline of letter #{id} is now {date} (it was {old}): its working days were counted again on the holiday calendar now loaded.")


@dataclass(frozen=True)
class Recounted:
    """An open letter whose deadlines the new calendar changed."""

    letter_id: int
    old: Deadlines
    new: Deadlines


@dataclass(frozen=True)
class Loaded:
    """What loading a holidays file did."""

    days: int  # stored (new or replaced)
    overruled: list[dt.date]  # days of years the official data covers, where they overrule it
    agreeing: list[dt.date]  # days of such years that say what the official data says: no change
    recounted: list[Recounted]


async def load_overrides(session: AsyncSession) -> dict[dt.date, bool]:
    return dict((await session.execute(select(CalendarOverride.day, CalendarOverride.working))).all())


async def store_overrides(session: AsyncSession, days: dict[dt.date, tuple[bool, str]], now: dt.datetime) -> int:
    """The days, stored (a day loaded again takes the new answer). Only `save_overrides` and tests
    that set up a database call this: it leaves open letters' deadlines as they were."""
    existing = {o.day: o for o in (await session.scalars(select(CalendarOverride).where(CalendarOverride.day.in_(list(days))))).all()}
    for day, (working, note) in days.items():
        override = existing.get(day)
        if override is None:
            session.add(CalendarOverride(day=day, working=working, note=note, loaded_at=now))
        else:
            override.working, override.note, override.loaded_at = working, note, now
    await session.flush()
    return len(days)


async def save_overrides(
    session: AsyncSession, rules: Rules, days: dict[dt.date, tuple[bool, str]], now: dt.datetime, origin: Origin,
) -> Loaded:
    """Loads days from a notice and, in the same transaction, counts again the deadlines they may
    change. The calendar in `rules` is left as it was (the caller's transaction may yet fail): it
    takes the days at the next sweep, or by `set_overrides` after the commit."""
    before = WorkdayCalendar(await load_overrides(session))
    stored = await store_overrides(session, days, now)
    overruled, agreeing = overruling(days)
    after = WorkdayCalendar(await load_overrides(session))
    # Days whose answer changed (an agreeing day too, when it replaces an earlier load that overruled).
    moved = [day for day in days if before.is_workday(day)[0] != after.is_workday(day)[0]]
    policy = replace(rules.deadlines, calendar=after)
    recounted = await recount_deadlines(session, policy, origin, now, moved_days=moved)
    return Loaded(stored, overruled, agreeing, recounted)


async def follow_overrides(session: AsyncSession, rules: Rules, now: dt.datetime) -> list[Recounted]:
    """The stored overrides into `rules`' calendar (another process, `python -m bot holidays`, may
    have loaded days since); when a day's answer changed, the open letters whose deadlines this
    process counted on the old days are counted again (the loading process counted those it knew)."""
    calendar = rules.deadlines.calendar
    before = WorkdayCalendar(calendar.overrides)
    calendar.set_overrides(await load_overrides(session))
    moved = [day for day in set(before.overrides) | set(calendar.overrides) if before.is_workday(day)[0] != calendar.is_workday(day)[0]]
    if not moved:
        return []
    return await recount_deadlines(session, rules.deadlines, Origin("system"), now, moved_days=moved)


async def follow_official_calendar(session: AsyncSession, rules: Rules, now: dt.datetime) -> list[Recounted]:
    """At start, under the migration lock, with the stored overrides in `rules`' calendar: when the
    official data covers other years than when deadlines were last counted (a chinesecalendar
    upgrade; or the first start of a version that counts them again), the estimated deadlines of
    open letters are counted again."""
    first, last = official_span()
    span = f"{first}-{last}"
    recorded = await session.get(Bookkeeping, OFFICIAL_SPAN_KEY)
    if recorded is not None and recorded.value == span:
        return []
    recounted = await recount_deadlines(session, rules.deadlines, Origin("system"), now)
    if recorded is None:
        session.add(Bookkeeping(key=OFFICIAL_SPAN_KEY, value=span))
    else:
        recorded.value = span
    return recounted


async def recount_deadlines(
    session: AsyncSession, policy: DeadlinePolicy, origin: Origin, now: dt.datetime, *, moved_days: Collection[dt.date] = (),
) -> list[Recounted]:
    """Counts again, on `policy`'s calendar, the deadlines of the open letters (assigned or signed
    for: the states whose deadline runs) that are estimated, and of those whose span from the day
    of assignment to the deadline holds one of `moved_days`. Each is counted from its assignment
    (by its type) plus the extensions approved since, in order; a letter whose deadlines or mark
    change gets an event, its cards refreshed and, if its deadline moved, a notice to its unit.
    The letters are locked first (FOR NO KEY UPDATE: nudges and events may still refer to them),
    so a letter closed meanwhile is not touched; the tallies follow by the flush listener."""
    condition = Letter.due_estimated.is_(True)
    if moved_days:
        condition = or_(condition, Letter.due_date >= min(moved_days))
    where = (Letter.status.in_(OPEN_STATUSES), Letter.assigned_at.is_not(None), condition)
    letters = (await session.scalars(
        select(Letter).where(*where).order_by(Letter.id).with_for_update(key_share=True).execution_options(populate_existing=True)
    )).all()
    letters = [letter for letter in letters if letter.due_estimated or _spans(policy, letter, moved_days)]
    if not letters:
        return []
    approved: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    rows = await session.execute(
        select(ExtensionRequest.letter_id, ExtensionRequest.decided_at, ExtensionRequest.days)
        .where(ExtensionRequest.letter_id.in_(select(Letter.id).where(*where)), ExtensionRequest.state == ExtensionState.APPROVED)
        .order_by(ExtensionRequest.decided_at, ExtensionRequest.id)
    )
    for letter_id, decided_at, days in rows.all():
        approved[letter_id].append((decided_at, days))
    recounted, chats = [], {}
    for letter in letters:
        # Extensions approved before the letter's latest assignment (a reassignment, a 重办) moved a
        # deadline it no longer has.
        since = [days for decided_at, days in approved[letter.id] if decided_at is not None and decided_at >= letter.assigned_at]
        new = policy.replayed(letter.assigned_at, letter.type, since)
        old = Deadlines(letter.accept_due, letter.due_date, letter.due_estimated)
        if new == old:
            continue
        letter.accept_due, letter.due_date, letter.due_estimated = new.accept_due, new.due_date, new.estimated
        letter.updated_at = now
        record_event(
            session, letter, origin, RECOUNTED, now, letter.status,
            old_due=_iso(old.due_date), due=_iso(new.due_date), old_accept_due=_iso(old.accept_due), accept_due=_iso(new.accept_due),
            old_estimated=old.estimated, estimated=new.estimated,
        )
        enqueue_refresh(session, letter.id)
        if new.due_date != old.due_date and letter.unit_id is not None:
            payload = {"message": MOVED_NOTICE, "values": {"id": letter.id, "date": to_json(new.due_date), "old": to_json(old.due_date)}}
            if letter.unit_id not in chats:
                chats[letter.unit_id] = await unit_chat_ids(session, letter.unit_id)
            enqueue(session, chats[letter.unit_id], Kind.NOTICE, letter_id=letter.id, payload=payload, automatic=True)
        recounted.append(Recounted(letter.id, old, new))
    await session.flush()
    return recounted


def _spans(policy: DeadlinePolicy, letter: Letter, days: Collection[dt.date]) -> bool:
    """Does a day of `days` fall after the letter's day of assignment, up to its deadline?"""
    if not days or letter.due_date is None:
        return False
    assigned = policy.local_date(letter.assigned_at)
    return any(assigned < day <= letter.due_date for day in days)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


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
