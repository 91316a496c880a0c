"""Queueing messages in the same transaction as the change they report (see `Outbox`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Member, Outbox, Role, UnitChat


class Kind:
    """What a queued message is; the delivery loop renders each kind."""

    ADMIN_CARD = "admin_card"  # the admins' card for a new or returned letter, with assign buttons
    LETTER_CARD = "letter_card"  # the unit's card for an assigned letter
    REFRESH_CARDS = "refresh_cards"  # edit every card of a letter to show where it stands
    IMPORT_SUMMARY = "import_summary"  # one message per bulk import
    NOTICE = "notice"  # a short message: payload {"message": msgid, "values": {...}}
    EXTENSION_REQUEST = "extension_request"  # to admins, with approve / refuse buttons
    DIGEST = "digest"  # a unit's morning digest: payload {"day", "unit", "items": [[letter, reason, overdue]]}
    ESCALATION = "escalation"  # 督办 to leaders and admins: payload {"day", "units": {unit: items}}
    RANKING = "ranking"  # the quarter's ranking, Mondays, to leaders
    CALENDAR_REMINDER = "calendar_reminder"  # December: load next year's holiday notice
    UNREACHABLE = "unreachable"  # to admins: a chat refused us


def enqueue(
    session: AsyncSession,
    chat_ids: Iterable[int],
    kind: str,
    *,
    letter_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    automatic: bool = False,
) -> None:
    """`automatic`: the bot speaks on its own (not in answer to someone acting now), so the message
    waits for working hours."""
    for chat_id in dict.fromkeys(chat_ids):
        key = f"{dedupe_key}:{chat_id}" if dedupe_key else None
        session.add(Outbox(
            chat_id=chat_id, kind=kind, letter_id=letter_id, payload=payload or {}, dedupe_key=key, automatic=automatic,
        ))


def enqueue_notice(
    session: AsyncSession, chat_ids: Iterable[int], readers: str, message: str, letter_id: int | None = None, **values: Any,
) -> None:
    """A short message rendered in each reader's language: `message` is a msgid. `readers`: UNIT
    (the letter's unit, as it is when the notice goes out), ADMINS, or MEMBERS (anyone in a role)."""
    payload = {"message": message, "values": {k: to_json(v) for k, v in values.items()}, "for": readers}
    enqueue(session, chat_ids, Kind.NOTICE, letter_id=letter_id, payload=payload)


def to_json(value: Any) -> Any:
    """Payload values survive JSON: a time keeps being a time, so the reader sees it locally."""
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"datetime"}:
        return dt.datetime.fromisoformat(value["datetime"])
    return value


def enqueue_refresh(session: AsyncSession, letter_id: int) -> None:
    """chat_id 0: the edit goes to every chat that holds a card of the letter."""
    session.add(Outbox(chat_id=0, kind=Kind.REFRESH_CARDS, letter_id=letter_id, payload={}))


async def admin_chat_ids(session: AsyncSession, bootstrap_ids: frozenset[int]) -> list[int]:
    invited = (await session.scalars(select(Member.telegram_id).where(Member.role == Role.ADMIN))).all()
    return sorted(set(bootstrap_ids) | set(invited))


async def leader_chat_ids(session: AsyncSession) -> list[int]:
    return sorted((await session.scalars(select(Member.telegram_id).where(Member.role == Role.LEADER))).all())


async def chats_by_unit(session: AsyncSession) -> dict[int, list[int]]:
    """Every unit's liaisons and groups in two queries (the sweep speaks to many units at once)."""
    chats: dict[int, list[int]] = {}
    liaisons = await session.execute(
        select(Member.unit_id, Member.telegram_id).where(Member.role == Role.LIAISON, Member.unit_id.is_not(None)).order_by(Member.id)
    )
    for unit_id, chat_id in liaisons.all():
        chats.setdefault(unit_id, []).append(chat_id)
    for unit_id, chat_id in (await session.execute(select(UnitChat.unit_id, UnitChat.chat_id))).all():
        chats.setdefault(unit_id, []).append(chat_id)
    return chats


async def unit_chat_ids(session: AsyncSession, unit_id: int) -> list[int]:
    """The unit's liaisons, each in private, and the unit's bound groups."""
    liaisons = (
        await session.scalars(
            select(Member.telegram_id).where(Member.role == Role.LIAISON, Member.unit_id == unit_id).order_by(Member.id)
        )
    ).all()
    groups = (await session.scalars(select(UnitChat.chat_id).where(UnitChat.unit_id == unit_id))).all()
    return [*liaisons, *groups]


# Who each kind of message is for. Checked again when it is sent: a card held for working hours,
# or behind a backlog, must not reach someone removed, moved to another unit or unbound meanwhile.
UNIT, ADMINS, MEMBERS, _BOSSES, _LEADERS = "unit", "admins", "members", "bosses", "leaders"
AUDIENCES = {
    Kind.LETTER_CARD: UNIT, Kind.DIGEST: UNIT,
    Kind.ADMIN_CARD: ADMINS, Kind.EXTENSION_REQUEST: ADMINS, Kind.IMPORT_SUMMARY: ADMINS,
    Kind.UNREACHABLE: ADMINS, Kind.CALENDAR_REMINDER: ADMINS,
    Kind.ESCALATION: _BOSSES, Kind.RANKING: _LEADERS,
    Kind.NOTICE: MEMBERS,  # its payload says whose news it is ("for"); queued before it did: anyone in a role
}


async def still_addressed(session: AsyncSession, row: Outbox, unit_id: int | None, bootstrap_ids: frozenset[int]) -> bool:
    """Whether the row's chat is still among those its message is for. `unit_id`: the unit a
    unit's message is about (a card's or a notice's letter's unit now, a digest's unit)."""
    chat_id = row.chat_id
    audience = row.payload.get("for", AUDIENCES.get(row.kind)) if row.kind == Kind.NOTICE else AUDIENCES.get(row.kind)
    if audience is None:
        return True  # a kind with no reader of its own (the cards' refresh checks each card itself)
    if audience == UNIT:
        return unit_id is not None and chat_id in await unit_chat_ids(session, unit_id)
    if chat_id < 0:  # a group hears only its unit's news
        return audience == MEMBERS and await session.get(UnitChat, chat_id) is not None
    role = await session.scalar(select(Member.role).where(Member.telegram_id == chat_id))
    roles = {Role(role)} if role else set()
    if chat_id in bootstrap_ids:
        roles.add(Role.ADMIN)
    allowed = {ADMINS: {Role.ADMIN}, _BOSSES: {Role.ADMIN, Role.LEADER}, _LEADERS: {Role.LEADER}}.get(audience, set(Role))
    return bool(roles & allowed)

