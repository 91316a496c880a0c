"""A letter's life: intake, assignment, invalidation. Plain async functions on a session; the chat,
the HTTP API, the CLI and the scheduler all call these and nothing else changes a letter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from locales import N_
from models.deadlines import DeadlinePolicy
from models.letter_input import LetterRecord
from models.outbox import Kind, admin_chat_ids, enqueue, enqueue_refresh, unit_chat_ids
from models.permissions import Action, Actor, can
from models.privacy import Privacy
from models.tables import Bookkeeping, ExtensionRequest, ExtensionState, Letter, LetterEvent, LetterStatus, Unit
from models.unit_resolver import takes_letters
from models.units import topics_of

OPEN_STATUSES = (LetterStatus.ASSIGNED, LetterStatus.ACCEPTED)
WAITING_STATUSES = (LetterStatus.NEW, LetterStatus.RETURNED)  # for the admins to assign


@dataclass(frozen=True)
class Rules:
    """The rules in force: deadlines, who the bootstrap admins are, what chat may show."""

    deadlines: DeadlinePolicy
    admin_ids: frozenset[int] = frozenset()
    privacy: Privacy = Privacy()
    topics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # topic → keywords


@dataclass(frozen=True)
class Origin:
    """Where a change comes from. `actor` is the person for chat changes; the API, the CLI and
    the scheduler act with the information centre's authority."""

    kind: str  # person | api | cli | import | system
    actor: Actor | None = None
    chat_id: int | None = None

    @property
    def actor_id(self) -> int | None:
        return self.actor.telegram_id if self.actor else None


class LetterError(Exception):
    """A refusal a person should read: a msgid and its values."""

    def __init__(self, message: str, **values: Any):
        super().__init__(message)
        self.message = message
        self.values = values


def record_event(
    session: AsyncSession, letter: Letter, origin: Origin, action: str, at: dt.datetime,
    from_status: str | None, to_status: str | None = None, **detail: Any,
) -> None:
    session.add(LetterEvent(**event_values(letter.id, origin, action, at, from_status, to_status or letter.status, detail)))


def event_values(letter_id: int, origin: Origin, action: str, at: dt.datetime, from_status, to_status, detail: dict) -> dict[str, Any]:
    """An event's columns (plain values, so bulk imports need no ORM objects)."""
    return {
        "letter_id": letter_id, "at": at, "actor_id": origin.actor_id, "actor_kind": origin.kind,
        "chat_id": origin.chat_id, "action": action, "from_status": from_status, "to_status": to_status, "detail": detail,
    }


def _require(origin: Origin, action: Action, unit_id: int | None = None) -> None:
    if origin.actor is not None and not can(origin.actor, action, unit_id):
        raise LetterError(N_("You may not do this."))


async def letter_for_update(session: AsyncSession, letter_id: int) -> Letter:
    """The letter, locked for this transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    serializes writers), so two people acting at once cannot both change it."""
    letter = await session.scalar(select(Letter).where(Letter.id == letter_id).with_for_update())
    if letter is None:
        raise LetterError(N_("There is no letter #{id}."), id=letter_id)
    return letter


async def get_letter(session: AsyncSession, letter_id: int) -> Letter | None:
    return await session.get(Letter, letter_id)


async def find_by_external_id(session: AsyncSession, external_id: str) -> Letter | None:
    return await session.scalar(select(Letter).where(Letter.external_id == external_id))


async def ingest(
    session: AsyncSession, rules: Rules, record: LetterRecord, origin: Origin, now: dt.datetime, *, announce: bool = True
) -> tuple[Letter, bool]:
    """Store a new letter, or return the one with the same external id (and False). Safe when two
    callers race with the same external id: the loser gets the winner's letter. With `announce`,
    the admins get its card (bulk imports send one summary instead)."""
    _require(origin, Action.MANAGE_LETTERS)
    if record.external_id:
        existing = await find_by_external_id(session, record.external_id)
        if existing is not None:
            return existing, False
    letter = Letter(**letter_values(rules, record, now))
    try:
        async with session.begin_nested():
            session.add(letter)
            await session.flush()
    except IntegrityError:
        existing = await find_by_external_id(session, record.external_id) if record.external_id else None
        if existing is None:
            raise
        return existing, False
    for action, at, from_status, to_status, detail in history_events(record, now, await unit_name(session, record.unit_id)):
        record_event(session, letter, origin, action, at, from_status, to_status, **detail)
    if announce:
        # Letters from the website arrive at any hour: their cards wait for working hours.
        automatic = origin.kind != "person"
        enqueue(session, await admin_chat_ids(session, rules.admin_ids), Kind.ADMIN_CARD, letter_id=letter.id, automatic=automatic)
        if letter.status in OPEN_STATUSES and letter.unit_id is not None:
            enqueue(session, await unit_chat_ids(session, letter.unit_id), Kind.LETTER_CARD, letter_id=letter.id, automatic=automatic)
    return letter, True


def letter_values(rules: Rules, record: LetterRecord, now: dt.datetime) -> dict[str, Any]:
    """A new letter's columns from a validated record, with its deadlines if it was assigned."""
    values: dict[str, Any] = {
        "external_id": record.external_id, "title": record.title, "content": record.content,
        "sender_name": record.sender_name, "sender_phone": record.sender_phone, "received_at": record.received_at,
        "type": record.type, "tags": topics_of(f"{record.title}\n{record.content}", rules.topics), "status": record.status.value, "unit_id": record.unit_id,
        "assigned_at": record.assigned_at, "accepted_at": record.accepted_at, "done_at": record.done_at,
        "reply": record.reply, "invalid_reason": record.invalid_reason, "created_at": now, "updated_at": now,
        "accept_due": None, "due_date": None, "due_estimated": False, "extensions": 0,
        "accepted_by": None, "closed_by": None, "return_reason": None, "handling_workdays": None, "closed_on_time": None,
    }
    if record.assigned_at is not None:
        deadlines = rules.deadlines.for_assignment(record.assigned_at, record.type)
        values.update(accept_due=deadlines.accept_due, due_date=deadlines.due_date, due_estimated=deadlines.estimated)
        values["handling_workdays"] = rules.deadlines.workdays_to_close(record.assigned_at, record.done_at)
        values["closed_on_time"] = rules.deadlines.on_time(record.done_at, deadlines.due_date)
    return values


def history_events(
    record: LetterRecord, now: dt.datetime, unit_name: str | None = None,
) -> list[tuple[str, dt.datetime, str | None, str, dict[str, Any]]]:
    """The events a letter brings with it, dated as its source dates them: (action, at, from, to,
    detail). The details are those the same steps taken in chat record, as far as the letter
    knows them: the unit it was assigned to (`unit_name`), why it is invalid. (A file has no
    column for why a letter was returned.)"""
    new, assigned, accepted = LetterStatus.NEW, LetterStatus.ASSIGNED, LetterStatus.ACCEPTED
    events: list[tuple[str, dt.datetime, str | None, str, dict[str, Any]]] = [("received", now, None, new, {})]
    if record.assigned_at:
        events.append(("assigned", record.assigned_at, new, assigned, {"unit": unit_name} if unit_name else {}))
    if record.accepted_at:
        events.append(("accepted", record.accepted_at, assigned, accepted, {}))
    if record.done_at:
        events.append(("done", record.done_at, accepted if record.accepted_at else assigned, LetterStatus.DONE, {}))
    if record.status is LetterStatus.RETURNED:
        events.append(("returned", now, accepted if record.accepted_at else assigned, LetterStatus.RETURNED, {}))
    if record.status is LetterStatus.INVALID:
        events.append(("invalidated", now, assigned if record.assigned_at else new, LetterStatus.INVALID, {"reason": record.invalid_reason}))
    return events


CLOSING_FIGURES_KEY = "closing_figures"  # bookkeeping: letters closed before revision 0004 were given theirs


async def fill_closing_figures(session: AsyncSession, rules: Rules) -> int:
    """Once per database: letters closed before the bot kept, for each, the working days it took
    and whether it was on time (revision 0004 added the columns, empty) get them now, as closing
    them would have given them. Returns how many; the caller rebuilds the tallies then."""
    if await session.get(Bookkeeping, CLOSING_FIGURES_KEY) is not None:
        return 0
    filled = 0
    closed = select(Letter).where(
        Letter.status == LetterStatus.DONE, Letter.assigned_at.is_not(None), Letter.done_at.is_not(None),
        or_(Letter.handling_workdays.is_(None), Letter.closed_on_time.is_(None)),
    )
    for letter in (await session.scalars(closed)).all():
        letter.handling_workdays = rules.deadlines.workdays_to_close(letter.assigned_at, letter.done_at)
        letter.closed_on_time = rules.deadlines.on_time(letter.done_at, letter.due_date)
        filled += 1
    session.add(Bookkeeping(key=CLOSING_FIGURES_KEY, value="filled"))
    return filled


async def assign(
    session: AsyncSession, rules: Rules, letter_id: int, unit_id: int, origin: Origin, now: dt.datetime
) -> Letter:
    """交办: to one unit, with its deadlines; the unit's liaisons and groups get the card."""
    _require(origin, Action.MANAGE_LETTERS)
    letter = await letter_for_update(session, letter_id)
    if letter.status not in (LetterStatus.NEW, LetterStatus.RETURNED):
        raise LetterError(N_("Letter #{id} cannot be assigned now: it is {status}."), id=letter.id, status=letter.status)
    unit = await session.get(Unit, unit_id)
    if unit is None or not unit.active:
        raise LetterError(N_("That unit no longer exists."))
    day = rules.deadlines.local_date(now)
    if not takes_letters(unit, day):
        if unit.successor and unit.valid_to and day > unit.valid_to:
            raise LetterError(N_("{unit} takes no letters after {date}: assign the letter to {successor}."),
                              unit=unit.name, date=unit.valid_to.isoformat(), successor=unit.successor)
        raise LetterError(N_("{unit} takes no letters on {date}."), unit=unit.name, date=day.isoformat())
    previous = letter.status
    deadlines = rules.deadlines.for_assignment(now, letter.type)
    if unit.id != letter.unit_id:
        # Another unit starts afresh: its two extensions, and none of an earlier round's figures (a
        # 重办 carries them for the unit that handled it). Back to the same unit, they still count.
        letter.extensions = 0
        letter.handling_workdays = letter.closed_on_time = None
    letter.status = LetterStatus.ASSIGNED
    letter.unit_id = unit.id
    letter.assigned_at = now
    letter.accepted_at = None
    letter.accept_due, letter.due_date, letter.due_estimated = deadlines.accept_due, deadlines.due_date, deadlines.estimated
    letter.return_reason = None
    letter.updated_at = now
    record_event(session, letter, origin, "assigned", now, previous, unit=unit.name, due=letter.due_date.isoformat())
    await lapse_requests(session, letter.id, now)
    enqueue(session, await unit_chat_ids(session, unit.id), Kind.LETTER_CARD, letter_id=letter.id)
    enqueue_refresh(session, letter.id)
    return letter


async def invalidate(
    session: AsyncSession, rules: Rules, letter_id: int, reason: str, origin: Origin, now: dt.datetime
) -> Letter:
    """无效: out of every rate from now on, with the reason."""
    _require(origin, Action.MANAGE_LETTERS)
    reason = reason.strip()
    if not reason:
        raise LetterError(N_("Give a reason."))
    letter = await letter_for_update(session, letter_id)
    if letter.status in (LetterStatus.DONE, LetterStatus.INVALID):
        raise LetterError(N_("Letter #{id} cannot be marked invalid: it is {status}."), id=letter.id, status=letter.status)
    previous = letter.status
    letter.status = LetterStatus.INVALID
    letter.invalid_reason = reason[:2000]
    letter.updated_at = now
    record_event(session, letter, origin, "invalidated", now, previous, reason=letter.invalid_reason)
    await lapse_requests(session, letter.id, now)
    enqueue_refresh(session, letter.id)
    return letter


async def lapse_requests(session: AsyncSession, letter_id: int, now: dt.datetime) -> None:
    """A letter that leaves its unit's hands (closed, returned, reassigned…) takes its pending
    extension request with it: approving it later would extend someone else's deadline."""
    await session.execute(
        update(ExtensionRequest)
        .where(ExtensionRequest.letter_id == letter_id, ExtensionRequest.state == ExtensionState.PENDING)
        .values(state=ExtensionState.REFUSED, decided_at=now)
    )


async def unit_name(session: AsyncSession, unit_id: int | None) -> str | None:
    if unit_id is None:
        return None
    return await session.scalar(select(Unit.name).where(Unit.id == unit_id))


def letter_json(letter: Letter, unit: str | None, tz: dt.tzinfo) -> dict[str, Any]:
    """The letter as the HTTP API shows it (PRODUCT.md, Intake); times in the county's zone, with
    their offset, whatever zone they came in."""

    def iso(value: dt.datetime | dt.date | None) -> str | None:
        if isinstance(value, dt.datetime):
            value = value.astimezone(tz)
        return value.isoformat() if value is not None else None

    return {
        "id": letter.id, "external_id": letter.external_id, "status": letter.status, "unit": unit,
        "received_at": iso(letter.received_at), "assigned_at": iso(letter.assigned_at),
        "accepted_at": iso(letter.accepted_at), "due_date": iso(letter.due_date),
        "due_estimated": letter.due_estimated, "done_at": iso(letter.done_at), "reply": letter.reply,
        "extensions": letter.extensions,
    }
