"""What a unit does with a letter (签收, 办结, 退回, 延期) and what admins decide about it (延期 approval,
重办). Each transition checks the state and the person's right on the locked letter, inside the
caller's one transaction, so two people acting at once change it once and the second is told why.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import N_
from models.faults import crash_point
from models.letters import (
    OPEN_STATUSES,
    LetterError,
    Origin,
    Rules,
    lapse_requests,
    letter_for_update,
    record_event,
    unit_name,
)
from models.outbox import ADMINS, UNIT, Kind, admin_chat_ids, enqueue, enqueue_notice, enqueue_refresh, unit_chat_ids
from models.permissions import Action, Actor, can
from models.tables import ExtensionRequest, ExtensionState, Letter, LetterStatus, Member, Role, Unit

MAX_EXTENSIONS = 2
MAX_EXTENSION_DAYS = 30


async def person_name(session: AsyncSession, telegram_id: int | None) -> str:
    if telegram_id is None:
        return ""
    member = await session.scalar(select(Member).where(Member.telegram_id == telegram_id))
    return (member.full_name or member.username or str(telegram_id)) if member else str(telegram_id)


async def _unit_letter(session: AsyncSession, letter_id: int, origin: Origin) -> Letter:
    """The locked letter, if the person may act for its unit."""
    letter = await letter_for_update(session, letter_id)
    _check_unit(letter, origin.actor)
    return letter


def _check_unit(letter: Letter, actor: Actor | None) -> None:
    if actor is not None and not can(actor, Action.HANDLE_UNIT_LETTERS, letter.unit_id or -1):
        if actor.role is Role.LIAISON:
            raise LetterError(N_("Letter #{id} belongs to another unit; you may not act on it."), id=letter.id)
        raise LetterError(N_("Only the unit's liaisons and administrators may do this."))


_NOT_NOW = {
    "done": N_("Letter #{id} cannot be closed: it is {status}."),
    "return": N_("Letter #{id} cannot be returned: it is {status}."),
    "extend": N_("Letter #{id} cannot be extended: it is {status}."),
}


async def check_worded_action(session: AsyncSession, rules: Rules, letter_id: int, action: str, actor: Actor | None, now: dt.datetime) -> None:
    """Before asking for the words of 办结, 退回, 延期 or 重办 (a button's prompt): the checks the action
    makes that need no words, so a stale or forged button is refused at once, not after the person
    typed a reply. Raises LetterError."""
    letter = await session.get(Letter, letter_id)
    if letter is None:
        raise LetterError(N_("There is no letter #{id}."), id=letter_id)
    if action == "reopen":
        if actor is not None and not can(actor, Action.MANAGE_LETTERS):
            raise LetterError(N_("Only administrators may do this."))
        if letter.status != LetterStatus.DONE:
            raise LetterError(N_("Letter #{id} cannot be reopened: it is {status}."), id=letter.id, status=letter.status)
        return
    _check_unit(letter, actor)
    if letter.status not in OPEN_STATUSES:
        await _refuse_state(session, letter, _NOT_NOW[action])
    if action == "extend":
        await _check_extendable(session, rules, letter, now)


async def _refuse_state(session: AsyncSession, letter: Letter, message: str) -> None:
    """Tell the person where the letter stands: for a closed one, who closed it and when."""
    if letter.status == LetterStatus.DONE:
        raise LetterError(
            N_("Letter #{id} was already closed by {name} at {time}."),
            id=letter.id, name=await person_name(session, letter.closed_by), time=letter.done_at,
        )
    raise LetterError(message, id=letter.id, status=letter.status)


async def accept(session: AsyncSession, rules: Rules, letter_id: int, origin: Origin, now: dt.datetime) -> Letter:
    """签收."""
    letter = await _unit_letter(session, letter_id, origin)
    if letter.status != LetterStatus.ASSIGNED:
        await _refuse_state(session, letter, N_("Letter #{id} cannot be signed for: it is {status}."))
    letter.status = LetterStatus.ACCEPTED
    letter.accepted_at, letter.accepted_by, letter.updated_at = now, origin.actor_id, now
    record_event(session, letter, origin, "accepted", now, LetterStatus.ASSIGNED)
    enqueue_refresh(session, letter.id)
    return letter


async def close(session: AsyncSession, rules: Rules, letter_id: int, reply: str, origin: Origin, now: dt.datetime) -> Letter:
    """办结, with the unit's reply to the citizen."""
    reply = reply.strip()
    if not reply:
        raise LetterError(N_("The reply text is missing."))
    letter = await _unit_letter(session, letter_id, origin)
    if letter.status not in OPEN_STATUSES:
        await _refuse_state(session, letter, N_("Letter #{id} cannot be closed: it is {status}."))
    previous = letter.status
    letter.status = LetterStatus.DONE
    letter.reply, letter.done_at, letter.closed_by, letter.updated_at = reply[:50_000], now, origin.actor_id, now
    # A reopened letter (重办) carries its earlier rounds' figures: its working days add up, and it
    # was closed on time only if every round was.
    workdays = rules.deadlines.workdays_to_close(letter.assigned_at, now)
    on_time = rules.deadlines.on_time(now, letter.due_date)
    if letter.handling_workdays is not None and workdays is not None:
        workdays += letter.handling_workdays
    if letter.closed_on_time is False:
        on_time = False
    letter.handling_workdays, letter.closed_on_time = workdays, on_time
    record_event(session, letter, origin, "done", now, previous, reply=letter.reply)
    await lapse_requests(session, letter.id, now)
    enqueue_refresh(session, letter.id)
    closer = await person_name(session, origin.actor_id) or origin.kind
    unit = await unit_name(session, letter.unit_id)
    enqueue_notice(
        session, [a for a in await admin_chat_ids(session, rules.admin_ids) if a != origin.actor_id], ADMINS,
        N_("✅ Letter #{id} “{title}” was closed by {name} ({unit})."), letter.id,
        id=letter.id, title=rules.privacy.text(letter.title, names=(letter.sender_name,))[:60], name=closer, unit=unit,
    )
    crash_point("close:decided")  # changed and queued, not yet committed
    return letter


async def return_letter(session: AsyncSession, rules: Rules, letter_id: int, reason: str, origin: Origin, now: dt.datetime) -> Letter:
    """退回: back to the admins, who get the card with reassign buttons."""
    reason = reason.strip()
    if not reason:
        raise LetterError(N_("Give a reason."))
    letter = await _unit_letter(session, letter_id, origin)
    if letter.status not in OPEN_STATUSES:
        await _refuse_state(session, letter, N_("Letter #{id} cannot be returned: it is {status}."))
    previous = letter.status
    letter.status = LetterStatus.RETURNED
    letter.return_reason, letter.updated_at = reason[:2000], now
    record_event(session, letter, origin, "returned", now, previous, reason=letter.return_reason)
    await lapse_requests(session, letter.id, now)
    enqueue_refresh(session, letter.id)
    enqueue(session, await admin_chat_ids(session, rules.admin_ids), Kind.ADMIN_CARD, letter_id=letter.id)
    return letter


async def request_extension(
    session: AsyncSession, rules: Rules, letter_id: int, days: int, reason: str, origin: Origin, now: dt.datetime
) -> ExtensionRequest:
    """延期 asked by the unit: before the deadline, at most twice, one request at a time."""
    reason = reason.strip()
    if not reason:
        raise LetterError(N_("Give a reason."))
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise LetterError(N_("An extension is 1 to {max} working days."), max=MAX_EXTENSION_DAYS)
    letter = await _unit_letter(session, letter_id, origin)
    if letter.status not in OPEN_STATUSES:
        await _refuse_state(session, letter, N_("Letter #{id} cannot be extended: it is {status}."))
    await _check_extendable(session, rules, letter, now)
    request = ExtensionRequest(letter_id=letter.id, days=days, reason=reason[:2000], requested_by=origin.actor_id or 0, requested_at=now)
    session.add(request)
    await session.flush()
    record_event(session, letter, origin, "extension_asked", now, letter.status, days=days, reason=request.reason)
    enqueue(session, await admin_chat_ids(session, rules.admin_ids), Kind.EXTENSION_REQUEST, letter_id=letter.id, payload={"request": request.id})
    return request


async def _check_extendable(session: AsyncSession, rules: Rules, letter: Letter, now: dt.datetime) -> None:
    """At most twice, before the deadline, one request at a time. Raises LetterError."""
    if letter.extensions >= MAX_EXTENSIONS:
        raise LetterError(N_("Letter #{id} has already been extended {max} times, the most allowed."), id=letter.id, max=MAX_EXTENSIONS)
    if letter.due_date is not None and rules.deadlines.local_date(now) > letter.due_date:
        raise LetterError(N_("The deadline of letter #{id} has passed ({date}); it can no longer be extended."), id=letter.id, date=letter.due_date)
    pending = await session.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.letter_id == letter.id, ExtensionRequest.state == ExtensionState.PENDING,
        )
    )
    if pending is not None:
        raise LetterError(N_("An extension of letter #{id} is already waiting for a decision."), id=letter.id)


async def decide_extension(
    session: AsyncSession, rules: Rules, request_id: int, approve: bool, origin: Origin, now: dt.datetime
) -> tuple[ExtensionRequest, Letter]:
    """An admin approves (the deadline moves by the working days asked) or refuses."""
    if origin.actor is not None and not can(origin.actor, Action.MANAGE_LETTERS):
        raise LetterError(N_("Only administrators may do this."))
    # The letter first, then the request, the order closing, returning and reassigning take them
    # in (they lapse the letter's requests): the other order deadlocks with them on PostgreSQL.
    letter_id = await session.scalar(select(ExtensionRequest.letter_id).where(ExtensionRequest.id == request_id))
    if letter_id is None:
        raise LetterError(N_("This button is no longer valid."))
    letter = await letter_for_update(session, letter_id)
    request = await session.scalar(select(ExtensionRequest).where(ExtensionRequest.id == request_id).with_for_update())
    if request.state != ExtensionState.PENDING:
        if request.decided_by is None:  # lapsed when the letter moved on
            raise LetterError(N_("This request is out of date: letter #{id} has been reassigned since."), id=letter.id)
        raise LetterError(N_("This request was already decided by {name}."), name=await person_name(session, request.decided_by))
    if approve and letter.status not in OPEN_STATUSES:
        await _refuse_state(session, letter, N_("Letter #{id} cannot be extended: it is {status}."))
    if approve and letter.extensions >= MAX_EXTENSIONS:
        raise LetterError(N_("Letter #{id} has already been extended {max} times, the most allowed."), id=letter.id, max=MAX_EXTENSIONS)
    request.state = ExtensionState.APPROVED if approve else ExtensionState.REFUSED
    request.decided_by, request.decided_at = origin.actor_id, now
    if approve:
        old_due = letter.due_date
        letter.due_date, guessed = rules.deadlines.extended(letter.due_date, request.days)
        letter.due_estimated = letter.due_estimated or guessed
        letter.extensions += 1
        letter.updated_at = now
        record_event(session, letter, origin, "extended", now, letter.status, days=request.days, old_due=str(old_due), due=str(letter.due_date))
        message = N_("⏳ The extension of letter #{id} was approved: the new deadline is {date}.")
    else:
        record_event(session, letter, origin, "extension_refused", now, letter.status, days=request.days)
        message = N_("The extension of letter #{id} was refused; the deadline stays {date}.")
    enqueue_notice(session, await unit_chat_ids(session, letter.unit_id), UNIT, message, letter.id, id=letter.id, date=letter.due_date)
    enqueue_refresh(session, letter.id)
    return request, letter


async def reopen(session: AsyncSession, rules: Rules, letter_id: int, reason: str, origin: Origin, now: dt.datetime) -> Letter:
    """重办: an admin sends a closed letter back to its unit, with a new deadline from today. What the
    rates know of the first round stays: its working days and whether it was on time are kept for
    the next closing to add to (a late letter redone quickly is not on time), and its extensions
    count against the two a letter may have."""
    if origin.actor is not None and not can(origin.actor, Action.MANAGE_LETTERS):
        raise LetterError(N_("Only administrators may do this."))
    reason = reason.strip()
    if not reason:
        raise LetterError(N_("Give a reason."))
    letter = await letter_for_update(session, letter_id)
    if letter.status != LetterStatus.DONE:
        raise LetterError(N_("Letter #{id} cannot be reopened: it is {status}."), id=letter.id, status=letter.status)
    unit = await session.get(Unit, letter.unit_id)
    if unit is None or not unit.active:  # its liaisons lost their rights with it: nobody could act
        raise LetterError(N_("Letter #{id} cannot be reopened: its unit {unit} no longer exists."), id=letter.id, unit=unit.name if unit else "")
    deadlines = rules.deadlines.for_assignment(now, letter.type)
    record_event(session, letter, origin, "reopened", now, LetterStatus.DONE, LetterStatus.ASSIGNED, reason=reason[:2000], previous_reply=letter.reply)
    letter.status = LetterStatus.ASSIGNED
    letter.assigned_at, letter.accepted_at, letter.accepted_by = now, None, None
    letter.done_at, letter.closed_by, letter.reply = None, None, None
    letter.accept_due, letter.due_date, letter.due_estimated = deadlines.accept_due, deadlines.due_date, deadlines.estimated
    letter.updated_at = now
    enqueue_refresh(session, letter.id)
    units = await unit_chat_ids(session, letter.unit_id)
    enqueue_notice(session, units, UNIT, N_("🔁 Letter #{id} was sent back for handling again: {reason}"), letter.id, id=letter.id,
                   reason=rules.privacy.text(reason, names=(letter.sender_name,))[:500])
    enqueue(session, units, Kind.LETTER_CARD, letter_id=letter.id)
    return letter
