"""The admins' calendar overrides, kept in the database, and what a change of the calendar does to
open letters: their deadlines are counted again.

A deadline counted on days the calendar only estimated (a year the official data did not know) is
marked 估算. When the calendar changes — the admins load a notice (`save_overrides`; a running bot
takes the days at its next sweep, `follow_overrides`), or a chinesecalendar upgrade covers a year
(`follow_official_calendar`, at start) — the open letters whose span, from the day of assignment
to the deadline, holds a day the change affects are counted again (`recount_deadlines`), and lose
the mark if the calendar now knows every day they rest on. Closed letters keep their figures
(their deadline, whether on time).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy import event, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import N_
from models.deadlines import DeadlinePolicy, Deadlines
from models.letters import OPEN_STATUSES, Origin, Rules, record_event
from models.outbox import UNIT, Kind, enqueue, enqueue_refresh, to_json, unit_chat_ids
from models.tables import Bookkeeping, CalendarOverride, ExtensionRequest, ExtensionState, Letter
from scheduler.workdays import WorkdayCalendar, official_span, overruling

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
    """Loads days from a notice and, in the same transaction, counts again the deadlines they
    change. The calendar in `rules` is left as it was (the caller's transaction may yet fail): it
    takes the days at the next sweep (`follow_overrides`)."""
    before = WorkdayCalendar(await load_overrides(session))
    stored = await store_overrides(session, days, now)
    overruled, agreeing = overruling(days)
    after = WorkdayCalendar(await load_overrides(session))
    recounted = await recount_deadlines(session, before, replace(rules.deadlines, calendar=after), origin, now, days)
    return Loaded(stored, overruled, agreeing, recounted)


async def follow_overrides(session: AsyncSession, rules: Rules, now: dt.datetime) -> DeadlinePolicy:
    """The stored days into the process's calendar (another process, `python -m bot holidays`, may
    have loaded some since), and the open letters this process counted on its old days counted
    again in the caller's transaction. Returns the deadlines to count with."""
    calendar = rules.deadlines.calendar
    stored = await load_overrides(session)
    if stored == calendar.overrides:
        return rules.deadlines
    before = WorkdayCalendar(calendar.overrides)
    # At once, so what this process assigns meanwhile is counted on the new days too; put back if
    # the transaction fails, so the next try finds the change again (and passes over what was
    # counted on the new days meanwhile: a count gives the same every time).
    calendar.set_overrides(stored)
    _unless_committed(session, lambda: calendar.set_overrides(before.overrides))
    await recount_deadlines(session, before, rules.deadlines, Origin("system"), now, set(stored) | set(before.overrides))
    return rules.deadlines


def _unless_committed(session: AsyncSession, undo) -> None:
    """`undo()` if the session's transaction rolls back, not after it has committed."""
    committed = False

    def on_commit(_session) -> None:
        nonlocal committed
        committed = True

    def on_rollback(_session) -> None:
        if not committed:
            undo()

    event.listen(session.sync_session, "after_commit", on_commit, once=True)
    event.listen(session.sync_session, "after_rollback", on_rollback, once=True)


async def follow_official_calendar(session: AsyncSession, rules: Rules, now: dt.datetime) -> list[Recounted]:
    """At start, under the migration lock, with the stored overrides in `rules`' calendar: when the
    official data covers other years than when deadlines were last counted (a chinesecalendar
    upgrade), the open letters resting on days of those years are counted again; at the first
    start of a version that keeps the record, the estimated ones."""
    first, last = official_span()
    span = f"{first}-{last}"
    recorded = await session.get(Bookkeeping, OFFICIAL_SPAN_KEY)
    if recorded is None:  # counted by a version that kept no record: the estimated ones, again
        session.add(Bookkeeping(key=OFFICIAL_SPAN_KEY, value=span))
        calendar = rules.deadlines.calendar
        return await recount_deadlines(session, calendar, rules.deadlines, Origin("system"), now, (), estimated=True)
    if recorded.value == span:
        return []
    old_first, old_last = (int(year) for year in recorded.value.split("-"))
    before = WorkdayCalendar(rules.deadlines.calendar.overrides, official_years=(old_first, old_last))
    years = set(range(first, last + 1)) ^ set(range(old_first, old_last + 1))
    days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for year in years for n in range((dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days)]
    recorded.value = span
    return await recount_deadlines(session, before, rules.deadlines, Origin("system"), now, days)


async def recount_deadlines(
    session: AsyncSession, before: WorkdayCalendar, policy: DeadlinePolicy, origin: Origin, now: dt.datetime, days: Collection[dt.date],
    *, estimated: bool = False,
) -> list[Recounted]:
    """The open letters (assigned or signed for: the states whose deadline runs) whose span, from
    the day of assignment to the deadline, holds one of `days` on which `before` and `policy`'s
    calendar disagree (working or not, estimated or not), counted again on `policy`'s calendar.

    A letter is counted as assigning and approving count it: from its assignment (by its type, with
    the handling days in force), then the extensions approved since, in order. That gives the same
    on every count, so a letter the loading process or another instance has counted on the new days
    already stays as it is. With `estimated`, every open letter marked 估算 is counted too.

    A letter whose deadlines or mark change gets an event, its cards refreshed and, if its deadline
    moved, a notice to its unit. The letters are locked first (FOR NO KEY UPDATE: nudges and events
    may still refer to them), so one closed meanwhile is not touched; the tallies follow by the
    flush listener. Closed letters keep their figures."""
    after = policy.calendar
    changed = sorted(day for day in days if before.is_workday(day) != after.is_workday(day))
    if not changed and not estimated:
        return []
    touched = [Letter.due_date >= changed[0]] if changed else []
    if estimated:
        touched.append(Letter.due_estimated.is_(True))
    where = (Letter.status.in_(OPEN_STATUSES), Letter.assigned_at.is_not(None), or_(*touched))
    letters = (await session.scalars(
        select(Letter).where(*where).order_by(Letter.id).with_for_update(key_share=True).execution_options(populate_existing=True)
    )).all()
    letters = [
        letter for letter in letters
        if (estimated and letter.due_estimated) or _spans(policy.local_date(letter.assigned_at), letter.due_date, changed)
    ]
    if not letters:
        return []
    approved: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    rows = await session.execute(
        select(ExtensionRequest.letter_id, ExtensionRequest.decided_at, ExtensionRequest.days)
        .where(ExtensionRequest.letter_id.in_([letter.id for letter in letters]), ExtensionRequest.state == ExtensionState.APPROVED)
        .order_by(ExtensionRequest.decided_at, ExtensionRequest.id)
    )
    for letter_id, decided_at, extension_days in rows.all():
        approved[letter_id].append((decided_at, extension_days))
    recounted, chats = [], {}
    for letter in letters:
        old = Deadlines(letter.accept_due, letter.due_date, letter.due_estimated)
        # Extensions approved before the letter's latest assignment (a reassignment, a 重办) moved a
        # deadline it no longer has.
        since = [days for decided_at, days in approved[letter.id] if decided_at is not None and decided_at >= letter.assigned_at]
        new = policy.replayed(letter.assigned_at, letter.type, since)
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
            payload = {"message": MOVED_NOTICE, "values": {"id": letter.id, "date": to_json(new.due_date), "old": to_json(old.due_date)}, "for": UNIT}
            if letter.unit_id not in chats:
                chats[letter.unit_id] = await unit_chat_ids(session, letter.unit_id)
            enqueue(session, chats[letter.unit_id], Kind.NOTICE, letter_id=letter.id, payload=payload, automatic=True)
        recounted.append(Recounted(letter.id, old, new))
    await session.flush()
    return recounted


def _spans(assigned: dt.date, due: dt.date | None, changed: list[dt.date]) -> bool:
    """Does a day of `changed` (sorted) fall after the day of assignment, up to the deadline?"""
    position = bisect_right(changed, assigned)
    return due is not None and position < len(changed) and changed[position] <= due


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
    overruled, _ = overruling({day: (working, "") for day, working in stored.items()})
    return [(day, stored[day]) for day in overruled]
