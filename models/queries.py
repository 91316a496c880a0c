"""Reading letters: one letter's story, a unit's open letters, what is overdue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.letters import OPEN_STATUSES, WAITING_STATUSES
from models.tables import Letter, LetterEvent, LetterMessage, Member, Unit, UnitChat


async def history(session: AsyncSession, letter_id: int) -> list[tuple[LetterEvent, str, str]]:
    """Every event of a letter, oldest first, with the actor's name and the chat's title."""
    events = (await session.scalars(select(LetterEvent).where(LetterEvent.letter_id == letter_id).order_by(LetterEvent.at, LetterEvent.id))).all()
    actor_ids = {e.actor_id for e in events if e.actor_id}
    names = dict((await session.execute(select(Member.telegram_id, Member.full_name).where(Member.telegram_id.in_(actor_ids)))).all()) if actor_ids else {}
    chat_ids = {e.chat_id for e in events if e.chat_id and e.chat_id < 0}
    titles = dict((await session.execute(select(UnitChat.chat_id, UnitChat.title).where(UnitChat.chat_id.in_(chat_ids)))).all()) if chat_ids else {}
    return [(e, names.get(e.actor_id, ""), titles.get(e.chat_id, "")) for e in events]


async def _first_and_count(session: AsyncSession, query: Select, limit: int) -> tuple[list, int]:
    """The first `limit` rows of `query` and how many it has, counted by the database (a province's
    unit may have thousands) only when there are more than that."""
    rows = (await session.execute(query.limit(limit))).all()
    if len(rows) < limit:
        return rows, len(rows)
    return rows, await session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None))


async def open_letters(session: AsyncSession, unit_id: int, limit: int) -> tuple[list[Letter], int]:
    """A unit's open (assigned or signed-for) letters, the earliest deadline first: the first
    `limit`, and how many there are."""
    rows, total = await _first_and_count(session, (
        select(Letter).where(Letter.status.in_(OPEN_STATUSES), Letter.unit_id == unit_id).order_by(Letter.due_date, Letter.id)
    ), limit)
    return [letter for (letter,) in rows], total


async def waiting_letters(session: AsyncSession, limit: int) -> tuple[list[Letter], int]:
    """Letters waiting for the admins to assign them (new, or returned by their unit), the longest
    waiting first: the first `limit`, and how many there are."""
    rows, total = await _first_and_count(session, (
        select(Letter).where(Letter.status.in_(WAITING_STATUSES)).order_by(Letter.received_at, Letter.id)
    ), limit)
    return [letter for (letter,) in rows], total


async def overdue_letters(
    session: AsyncSession, today: dt.date, limit: int, unit_id: int | None = None,
) -> tuple[list[tuple[Letter, str]], int]:
    """Open letters past their deadline, with their unit's name, by unit (file order), oldest first:
    the first `limit`, and how many there are."""
    query = select(Letter, Unit.name).join(Unit, Unit.id == Letter.unit_id).where(Letter.status.in_(OPEN_STATUSES), Letter.due_date < today)
    if unit_id is not None:
        query = query.where(Letter.unit_id == unit_id)
    rows, total = await _first_and_count(session, query.order_by(Unit.position, Letter.due_date, Letter.id), limit)
    return [(letter, name) for letter, name in rows], total


async def letters_of_message(session: AsyncSession, chat_id: int, message_id: int) -> list[tuple[int, str]]:
    """The letters a message of ours is about, and why we sent it: (letter id, purpose)."""
    rows = await session.execute(
        select(LetterMessage.letter_id, LetterMessage.purpose)
        .where(LetterMessage.chat_id == chat_id, LetterMessage.message_id == message_id)
        .order_by(LetterMessage.letter_id)
    )
    return [(letter_id, purpose) for letter_id, purpose in rows.all()]


async def group_title(session: AsyncSession, chat_id: int) -> str:
    return await session.scalar(select(UnitChat.title).where(UnitChat.chat_id == chat_id)) or str(chat_id)


def remember(session: AsyncSession, letter_ids: Iterable[int], chat_id: int, message_id: int, purpose: str, now: dt.datetime) -> None:
    """Record a message we sent about letters, so a reply to it finds them."""
    for letter_id in dict.fromkeys(letter_ids):
        session.add(LetterMessage(letter_id=letter_id, chat_id=chat_id, message_id=message_id, purpose=purpose, sent_at=now))
