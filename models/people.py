"""People: members, their roles and languages, invitations, and group chats bound to units."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass
from itertools import chain

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from models.permissions import Actor, effective_role
from models.tables import Invitation, Member, Role, Unit, UnitChat

INVITATION_TTL = dt.timedelta(days=7)
CODE_BYTES = 24  # 192 bits; 32 URL-safe characters, inside the 64 that a /start parameter allows


class _PeopleChanges:
    """A counter that moves whenever this process changes who is who (members and units): an actor
    read before it moved may be out of date (see handlers.context.ActorPrefetch). It moves at the
    flush and again at the commit, so a read that fell between the two is caught."""

    WATCHED = (Member, Unit)
    generation = 0

    def bump(self) -> None:
        self.generation += 1


people_changes = _PeopleChanges()


@event.listens_for(Session, "after_flush")
def _flushed(session, _context) -> None:
    if any(isinstance(item, _PeopleChanges.WATCHED) for item in chain(session.new, session.dirty, session.deleted)):
        session.info["people_changed"] = True
        people_changes.bump()


@event.listens_for(Session, "after_commit")
def _committed(session) -> None:
    if session.info.pop("people_changed", False):
        people_changes.bump()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session) -> None:
    session.info.pop("people_changed", False)


@dataclass(frozen=True)
class TelegramPerson:
    """What an update tells about its sender; kept free of telegram types so the CLI can use it."""

    telegram_id: int
    full_name: str = ""
    username: str | None = None
    language_code: str | None = None


async def member_by_telegram_id(session: AsyncSession, telegram_id: int) -> Member | None:
    return await session.scalar(select(Member).where(Member.telegram_id == telegram_id))


async def load_actor(session: AsyncSession, person: TelegramPerson, admin_ids: frozenset[int]) -> Actor:
    """The actor behind an update. Keeps a member's name and Telegram language fresh; a stranger
    leaves no trace in the database."""
    member = await member_by_telegram_id(session, person.telegram_id)
    if member is None and person.telegram_id in admin_ids:
        member = Member(telegram_id=person.telegram_id)
        session.add(member)
    if member is not None:
        _refresh(member, person)
        await session.flush()
    return await actor_for(session, member, person.telegram_id, admin_ids)


async def actor_for(
    session: AsyncSession, member: Member | None, telegram_id: int, admin_ids: frozenset[int]
) -> Actor:
    unit_name = None
    if member is not None and member.unit_id is not None:
        unit_name = await session.scalar(select(Unit.name).where(Unit.id == member.unit_id, Unit.active))
    return build_actor(member, telegram_id, admin_ids, unit_name)


# What build_actor and is_stale read of a member: a row of these reads as the member does.
_ACTOR_COLUMNS = (Member.role, Member.unit_id, Member.full_name, Member.username, Member.telegram_language, Member.language)


async def current_actor(
    executor: AsyncSession | AsyncConnection, person: TelegramPerson, admin_ids: frozenset[int]
) -> Actor | None:
    """The read-only path for every update, in one query (member and unit), in a session or on the
    connection of a transaction (the inbox's, which stores the update); None when the member's row
    is out of date and `load_actor` has to write."""
    row = (await executor.execute(
        select(*_ACTOR_COLUMNS, Unit.name.label("unit_name"))
        .select_from(Member)
        .outerjoin(Unit, (Unit.id == Member.unit_id) & Unit.active)
        .where(Member.telegram_id == person.telegram_id)
    )).first()
    unit_name = row.unit_name if row is not None else None
    if is_stale(row, person, admin_ids):
        return None
    return build_actor(row, person.telegram_id, admin_ids, unit_name)


def build_actor(member: Member | None, telegram_id: int, admin_ids: frozenset[int], active_unit_name: str | None) -> Actor:
    """`active_unit_name`: the name of the member's unit if it is still in the units file. A unit
    dropped from the file takes its liaisons' unit rights with it."""
    role = effective_role(telegram_id, member.role if member else None, admin_ids)
    has_unit = role is Role.LIAISON and member is not None and member.unit_id is not None and active_unit_name is not None
    return Actor(
        telegram_id=telegram_id,
        role=role,
        unit_id=member.unit_id if has_unit else None,
        unit_name=active_unit_name if has_unit else None,
        full_name=member.full_name if member else "",
        language=member.language if member else None,
        bootstrap_admin=telegram_id in admin_ids,
    )


def is_stale(member: Member | None, person: TelegramPerson, admin_ids: frozenset[int]) -> bool:
    """Would load_actor write? Most updates come from people whose row is up to date; they need
    only a read (on SQLite a write transaction would queue behind every other writer)."""
    if member is None:
        return person.telegram_id in admin_ids
    return bool(
        (person.full_name and member.full_name != person.full_name)
        or person.username != member.username
        or (person.language_code and member.telegram_language != person.language_code)
    )


def _refresh(member: Member, person: TelegramPerson) -> None:
    # Only assign on change, so an unchanged person causes no UPDATE.
    if person.full_name and member.full_name != person.full_name:
        member.full_name = person.full_name
    if person.username != member.username:
        member.username = person.username
    if person.language_code and member.telegram_language != person.language_code:
        member.telegram_language = person.language_code


async def set_language(session: AsyncSession, telegram_id: int, language: str) -> bool:
    member = await member_by_telegram_id(session, telegram_id)
    if member is None:
        return False
    member.language = language
    return True


async def members_with_roles(session: AsyncSession) -> list[Member]:
    return list((await session.scalars(select(Member).order_by(Member.id))).all())


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def create_invitation(
    session: AsyncSession,
    role: Role,
    created_by: int | None,
    now: dt.datetime,
    unit_id: int | None = None,
) -> str:
    """A fresh one-time code. The code itself is returned once and never stored."""
    if (role is Role.LIAISON) != (unit_id is not None):
        raise ValueError("a liaison invitation needs a unit, and only a liaison invitation has one")
    code = secrets.token_urlsafe(CODE_BYTES)
    session.add(
        Invitation(
            code_hash=_hash(code),
            role=role.value,
            unit_id=unit_id,
            created_by=created_by,
            created_at=now,
            expires_at=now + INVITATION_TTL,
        )
    )
    await session.flush()
    return code


class Redeemed(enum.StrEnum):
    JOINED = "joined"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    ALREADY = "already"  # the person already holds exactly this role
    REVOKED = "revoked"  # its maker no longer administers the bot


@dataclass(frozen=True)
class Redemption:
    outcome: Redeemed
    role: Role | None = None
    unit_name: str | None = None
    invited_by: int | None = None


async def redeem_invitation(
    session: AsyncSession, code: str, person: TelegramPerson, now: dt.datetime, admin_ids: frozenset[int]
) -> Redemption:
    """Binds the person to the invitation's role (and unit). A person holds one role: a liaison
    invited as admin becomes an admin. The row is locked so two people racing on one code cannot
    both join."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.code_hash == _hash(code)).with_for_update()
    )
    if invitation is None:
        return Redemption(Redeemed.UNKNOWN)
    if invitation.used_at is not None:
        return Redemption(Redeemed.USED)
    if invitation.expires_at <= now:
        return Redemption(Redeemed.EXPIRED)
    if invitation.created_by is not None and not await _administers(session, invitation.created_by, admin_ids):
        # A removed admin must not come back, nor let others in, through links made before.
        return Redemption(Redeemed.REVOKED)
    role = Role(invitation.role)
    unit_name = None
    if invitation.unit_id is not None:
        unit_name = await session.scalar(select(Unit.name).where(Unit.id == invitation.unit_id))
    if person.telegram_id in admin_ids:
        # A bootstrap admin stays an admin whatever the database says; the code stays unused.
        return Redemption(Redeemed.ALREADY, Role.ADMIN)
    member = await member_by_telegram_id(session, person.telegram_id)
    if member is not None and member.role == role.value and member.unit_id == invitation.unit_id:
        return Redemption(Redeemed.ALREADY, role, unit_name)
    if member is None:
        member = Member(telegram_id=person.telegram_id, joined_at=now)
        session.add(member)
    _refresh(member, person)
    member.role = role.value
    member.unit_id = invitation.unit_id
    member.invited_by = invitation.created_by
    member.joined_at = now
    invitation.used_by = person.telegram_id
    invitation.used_at = now
    await session.flush()
    return Redemption(Redeemed.JOINED, role, unit_name, invitation.created_by)


async def _administers(session: AsyncSession, telegram_id: int, admin_ids: frozenset[int]) -> bool:
    stored = await session.scalar(select(Member.role).where(Member.telegram_id == telegram_id))
    return effective_role(telegram_id, stored, admin_ids) is Role.ADMIN


async def bind_chat(session: AsyncSession, chat_id: int, title: str, unit_id: int, bound_by: int, now: dt.datetime) -> None:
    chat = await session.get(UnitChat, chat_id)
    if chat is None:
        chat = UnitChat(chat_id=chat_id)
        session.add(chat)
    chat.unit_id, chat.title, chat.bound_by, chat.bound_at = unit_id, title, bound_by, now
    await session.flush()


async def unbind_chat(session: AsyncSession, chat_id: int) -> int | None:
    """Returns the unit the chat was bound to, if any."""
    chat = await session.get(UnitChat, chat_id)
    if chat is None:
        return None
    await session.delete(chat)
    await session.flush()
    return chat.unit_id


async def chat_unit(session: AsyncSession, chat_id: int) -> Unit | None:
    return await session.scalar(select(Unit).join(UnitChat, UnitChat.unit_id == Unit.id).where(UnitChat.chat_id == chat_id))


class Removal(enum.StrEnum):
    REMOVED = "removed"
    NOT_ALLOWED = "not_allowed"  # only admins remove people
    NO_ROLE = "no_role"  # nothing to take away
    BOOTSTRAP = "bootstrap"  # ADMIN_IDS admins stay admins; only the operator changes that
    YOURSELF = "yourself"  # an admin who removes themselves could lock the centre out by accident


@dataclass(frozen=True)
class RemovalResult:
    outcome: Removal
    member: Member | None = None
    role: Role | None = None
    unit_name: str | None = None


async def find_members(session: AsyncSession, text: str, admin_ids: frozenset[int]) -> list[Member]:
    """The members with a role (ADMIN_IDS admins always have one) that `text` names: a Telegram
    id, an @username, or the name /units shows (whole, or else every name containing it)."""
    text = text.strip()
    query = select(Member).where(Member.role.is_not(None) | Member.telegram_id.in_(admin_ids)).order_by(Member.id)
    if text.lstrip("-").isdecimal():
        number = int(text)
        if not -2**63 <= number < 2**63:  # no Telegram id, and no database stores it
            return []
        return list((await session.scalars(query.where(Member.telegram_id == number))).all())
    if text.startswith("@"):
        return list((await session.scalars(query.where(Member.username == text[1:]))).all())
    members = list((await session.scalars(query)).all())
    exact = [m for m in members if m.full_name == text]
    return exact or [m for m in members if text and text in m.full_name]


async def remove_member(session: AsyncSession, actor: Actor, telegram_id: int, admin_ids: frozenset[int]) -> RemovalResult:
    """Takes a member's role and unit away: they become a stranger, who sees no letter. The row
    stays, so the letters' history still names who did what."""
    from models.permissions import Action, can

    if not can(actor, Action.INVITE):
        return RemovalResult(Removal.NOT_ALLOWED)
    if telegram_id in admin_ids:
        return RemovalResult(Removal.BOOTSTRAP)
    if telegram_id == actor.telegram_id:
        return RemovalResult(Removal.YOURSELF)
    member = await session.scalar(select(Member).where(Member.telegram_id == telegram_id).with_for_update())
    if member is None or member.role is None:
        return RemovalResult(Removal.NO_ROLE, member)
    role = Role(member.role)
    unit_name = await session.scalar(select(Unit.name).where(Unit.id == member.unit_id)) if member.unit_id else None
    member.role = None
    member.unit_id = None
    await session.flush()
    return RemovalResult(Removal.REMOVED, member, role, unit_name)
