"""The reminder sweep: on working days at REMINDER_TIME, one digest per unit with something to say
(not yet signed for, from the day of the 签收 limit on; 黄牌: due today or the next working day;
红牌: overdue, with working days overdue), one 督办 digest to leaders and admins for letters overdue
by ESCALATE_AFTER working days or more, the quarter's ranking for leaders on the first working day
of the week, and in December a reminder to the admins to load next year's holiday notice.

Deciding is one transaction: the ledger rows (`nudges`) and the queued digests commit together, so
a second run on the same day finds every letter already nudged and sends nothing new, and a crash
before the commit leaves nothing behind to double. Delivery is the outbox's.

Sweeps take turns: two at once (an admin's /remind at nine, `python -m bot remind`, a second
instance) would each read an empty ledger and write the same rows. On SQLite the transaction's
BEGIN IMMEDIATE already makes the second wait for the first to commit; on PostgreSQL (READ
COMMITTED) a transaction-level advisory lock does, and the second then reads what the first wrote.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Integer, String, bindparam, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.faults import crash_point
from models.holidays import follow_overrides, override_years
from models.letters import OPEN_STATUSES, Rules
from models.outbox import Kind, admin_chat_ids, chats_by_unit, enqueue, leader_chat_ids
from models.tables import Letter, LetterStatus, Nudge, Outbox, SweepRun
from scheduler.workdays import official_year

UNSIGNED, YELLOW, RED, ESCALATED = "unsigned", "yellow", "red", "escalated"
SWEEP_LOCK_KEY = 0x6E756467  # "nudg": the advisory lock sweeps take turns under on PostgreSQL


@dataclass
class SweepResult:
    day: dt.date
    digests: int = 0
    letters: int = 0
    escalated: int = 0
    ranking: bool = False
    calendar_reminder: bool = False
    by_unit: dict[int, list[tuple[int, str, int]]] = field(default_factory=dict)


def classify(
    status: str, accept_due: dt.date | None, due_date: dt.date | None, today: dt.date, next_workday: dt.date, calendar
) -> tuple[str, int] | None:
    """Why a letter is brought up today, and how many working days overdue (0 if not). It takes the
    letter's columns rather than its row: attribute access on 100,000 rows was most of the loop.
    A letter not yet signed for is brought up on the day it must be signed for, not only once that
    day has passed: the reminder comes while there is still time to keep the limit."""
    if due_date is not None and due_date < today:
        return RED, calendar.workdays_between(due_date, today)
    if due_date is not None and due_date <= next_workday:
        return YELLOW, 0
    if status == LetterStatus.ASSIGNED and accept_due is not None and accept_due <= today:
        return UNSIGNED, 0
    return None


async def sweep(
    session: AsyncSession, rules: Rules, now: dt.datetime, *, escalate_after: int, automatic: bool = True
) -> SweepResult:
    await _take_turns(session)
    deadlines = await follow_overrides(session, rules, now)  # the CLI may have loaded days since
    calendar = deadlines.calendar
    today = deadlines.local_date(now)
    next_workday = calendar.next_workday(today)
    result = SweepResult(today)

    letters = (
        await session.execute(
            select(Letter.id, Letter.unit_id, Letter.status, Letter.accept_due, Letter.due_date)
            .where(Letter.status.in_(OPEN_STATUSES), Letter.unit_id.is_not(None))
            .order_by(Letter.due_date, Letter.id)
        )
    ).all()
    already = set((await session.execute(select(Nudge.letter_id, Nudge.reason).where(Nudge.day == today))).all())
    escalations: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    ledger: list[tuple[int, str]] = []  # (letter, reason), written in one statement by _record
    for letter_id, unit_id, status, accept_due, due_date in letters:
        verdict = classify(status, accept_due, due_date, today, next_workday, calendar)
        if verdict is None:
            continue
        reason, overdue = verdict
        if (letter_id, reason) not in already:
            result.by_unit.setdefault(unit_id, []).append((letter_id, reason, overdue))
            ledger.append((letter_id, reason))
        if reason == RED and overdue >= escalate_after and (letter_id, ESCALATED) not in already:
            escalations[unit_id].append((letter_id, RED, overdue))
            ledger.append((letter_id, ESCALATED))
    await _record(session, ledger, today, now)

    unit_chats = await chats_by_unit(session)
    for unit_id, items in result.by_unit.items():
        chats = unit_chats.get(unit_id, [])
        payload = {"day": today.isoformat(), "unit": unit_id, "items": items}
        enqueue(session, chats, Kind.DIGEST, payload=payload, automatic=automatic)
        result.digests += 1
        result.letters += len(items)
    if escalations:
        bosses = sorted(set(await leader_chat_ids(session)) | set(await admin_chat_ids(session, rules.admin_ids)))
        payload = {"day": today.isoformat(), "units": {str(u): items for u, items in escalations.items()}}
        enqueue(session, bosses, Kind.ESCALATION, payload=payload, automatic=automatic)
        result.escalated = sum(len(items) for items in escalations.values())

    week = today.isocalendar()
    # From the week's first working day on, once: a Monday the bot was down is made up on its return.
    first = _first_workday_of_week(today, calendar)
    if first is not None and today >= first and not await _queued(session, f"ranking:{week.year}-W{week.week:02d}"):
        enqueue(session, await leader_chat_ids(session), Kind.RANKING, payload={"day": today.isoformat()},
                dedupe_key=f"ranking:{week.year}-W{week.week:02d}", automatic=automatic)
        result.ranking = True
    if today.month == 12 and not official_year(today.year + 1) and today.year + 1 not in await override_years(session):
        key = f"calendar:{today.year + 1}:W{week.week:02d}"
        if not await _queued(session, key):
            enqueue(session, await admin_chat_ids(session, rules.admin_ids), Kind.CALENDAR_REMINDER,
                    payload={"year": today.year + 1}, dedupe_key=key, automatic=automatic)
            result.calendar_reminder = True
    await session.flush()
    crash_point("sweep:decided")  # ledger and digests written, not yet committed
    return result


async def _take_turns(session: AsyncSession) -> None:
    """Waits for any other sweep's transaction to end; held until this one ends. Every statement
    after it reads what the other committed (READ COMMITTED takes a snapshot per statement)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY})


async def _record(session: AsyncSession, ledger: list[tuple[int, str]], day: dt.date, now: dt.datetime) -> None:
    """Writes the ledger rows (letter, reason) for `day` in one INSERT … SELECT whose rows come in a
    single parameter (an array pair on PostgreSQL, a JSON array on SQLite), in the order given. An
    executemany of 200,000 rows spends seconds in SQLAlchemy's per-row parameter processing; here
    the day and the time are bound once, through the columns' own types, so they are stored
    exactly as a row-by-row insert would store them."""
    if not ledger:
        return
    table = Nudge.__table__
    if session.get_bind().dialect.name == "postgresql":
        rows = func.unnest(
            bindparam("ledger_ids", [letter for letter, _ in ledger], type_=ARRAY(Integer)),
            bindparam("ledger_reasons", [reason for _, reason in ledger], type_=ARRAY(String)),
        ).table_valued("letter_id", "reason").render_derived()
        letter_id, reason = rows.c.letter_id, rows.c.reason
    else:
        rows = func.json_each(bindparam("ledger", json.dumps(ledger, separators=(",", ":")), type_=String)).table_valued("value")
        letter_id, reason = func.json_extract(rows.c.value, "$[0]"), func.json_extract(rows.c.value, "$[1]")
    source = select(letter_id, reason, literal(day, table.c.day.type), literal(now, table.c.created_at.type)).select_from(rows)
    await session.execute(insert(table).from_select(["letter_id", "reason", "day", "created_at"], source))


def _first_workday_of_week(day: dt.date, calendar) -> dt.date | None:
    monday = day - dt.timedelta(days=day.weekday())
    for offset in range(7):
        candidate = monday + dt.timedelta(days=offset)
        if calendar.is_workday(candidate)[0]:
            return candidate
    return None


async def _queued(session: AsyncSession, key_prefix: str) -> bool:
    return await session.scalar(select(Outbox.id).where(Outbox.dedupe_key.like(f"{key_prefix}:%")).limit(1)) is not None


async def claim_scheduled_run(session: AsyncSession, day: dt.date, now: dt.datetime, trigger: str) -> bool:
    """Marks the day's scheduled run as taken; False if it already ran (here or elsewhere)."""
    if await session.get(SweepRun, day) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(SweepRun(day=day, started_at=now, trigger=trigger))
    except IntegrityError:
        return False
    return True
