"""The tables. Enumerated values are plain strings with CHECK constraints: they migrate cleanly on
both SQLite and PostgreSQL, and the allowed values live in one place (the enums below)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from models.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class UnitKind(enum.StrEnum):
    TOWN = "town"
    DEPARTMENT = "department"


class Role(enum.StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    LIAISON = "liaison"


class LetterStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    DONE = "done"
    RETURNED = "returned"
    INVALID = "invalid"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Unit(Base):
    """A town or county department. Rows follow UNITS_FILE; a unit dropped from the file is kept
    (old letters point at it) but marked inactive."""

    __tablename__ = "units"
    __table_args__ = (CheckConstraint(_one_of("kind", UnitKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32))
    aliases: Mapped[list[str]] = mapped_column(default=list)
    keywords: Mapped[list[str]] = mapped_column(default=list)
    places: Mapped[list[str]] = mapped_column(default=list)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    successor: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    liaisons: Mapped[list[Member]] = relationship(back_populates="unit", lazy="raise")


class Member(Base):
    """A person the bot knows. `role` is what an invitation gave; bootstrap admins (ADMIN_IDS) are
    admins whatever this says, so removing a row can never lock the information centre out."""

    __tablename__ = "members"
    __table_args__ = (CheckConstraint(f"role IS NULL OR {_one_of('role', Role)}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    invited_by: Mapped[int | None] = mapped_column(BigInteger)
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit | None] = relationship(back_populates="liaisons", lazy="raise")


class Invitation(Base):
    """A one-time code. Only its SHA-256 is stored: a copy of the database yields no usable link."""

    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint(_one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[dt.datetime | None]


class UnitChat(Base):
    """A group chat bound to a unit: the unit's letters go there too."""

    __tablename__ = "unit_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    bound_by: Mapped[int] = mapped_column(BigInteger)
    bound_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Letter(Base):
    __tablename__ = "letters"
    __table_args__ = (
        CheckConstraint(_one_of("status", LetterStatus), name="status"),
        Index("ix_letters_unit_status", "unit_id", "status"),
        Index("ix_letters_status_due", "status", "due_date"),
        # Covers the rates aggregate: a quarter's letters are one range scan, without the table.
        Index("ix_letters_rates", "received_at", "status", "unit_id", "closed_on_time", "due_date", "handling_workdays"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text, default="")
    sender_name: Mapped[str | None] = mapped_column(String(100))
    sender_phone: Mapped[str | None] = mapped_column(String(50))
    # No index of its own: ix_letters_rates begins with it.
    received_at: Mapped[dt.datetime] = mapped_column(active_history=True)
    type: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default=LetterStatus.NEW, active_history=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), active_history=True)
    assigned_at: Mapped[dt.datetime | None]
    accepted_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    accept_due: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date, active_history=True)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    reply: Mapped[str | None] = mapped_column(Text)
    # Working days from assignment to closing, fixed when it closes, so averages are one AVG().
    handling_workdays: Mapped[int | None] = mapped_column(Integer, active_history=True)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean, active_history=True)  # by the (extended) deadline
    accepted_by: Mapped[int | None] = mapped_column(BigInteger)
    closed_by: Mapped[int | None] = mapped_column(BigInteger)
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    return_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit | None] = relationship(lazy="raise")


class LetterTally(Base):
    """The rates, summed per unit and day of receipt (in the tally zone, see Bookkeeping), kept
    current by models.tallies in the same transaction as every letter change. A quarter's figures
    read a few thousand of these instead of every letter. Open letters are also split by deadline,
    so "overdue" (which depends on today) can still be counted; closed ones share one row."""

    __tablename__ = "letter_tallies"
    __table_args__ = {"sqlite_with_rowid": False}

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True, autoincrement=False)
    due_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    open: Mapped[int] = mapped_column(Integer, default=0)
    workdays_sum: Mapped[int] = mapped_column(Integer, default=0)
    workdays_count: Mapped[int] = mapped_column(Integer, default=0)


class InboxUpdate(Base):
    """An update from Telegram, stored before Telegram is told we have it (the next getUpdates, or
    the webhook's 200), and marked when handled: a crash in between replays it at the next start,
    and an update delivered twice (Telegram retrying a webhook, to another instance) runs once."""

    __tablename__ = "inbox_updates"

    # Update ids are counted per bot (and restart at random after a quiet week): a new token on the
    # same database must not look like a repeat.
    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class Bookkeeping(Base):
    """Small facts about derived data, such as which time zone the tallies' days are in."""

    __tablename__ = "bookkeeping"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class ExtensionState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class ExtensionRequest(Base):
    """延期: asked by the unit before the deadline, decided by an admin."""

    __tablename__ = "extension_requests"
    __table_args__ = (CheckConstraint(_one_of("state", ExtensionState), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[int] = mapped_column(BigInteger)
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(12), default=ExtensionState.PENDING)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[dt.datetime | None]


class LetterEvent(Base):
    """The audit trail: who, when, what, from which chat. Never updated, never deleted."""

    __tablename__ = "letter_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_kind: Mapped[str] = mapped_column(String(16), default="person")
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LetterMessage(Base):
    """Every message the bot sent about a letter, so a reply maps to its letter without parsing
    text. A digest names several letters and so has several rows with the same message id."""

    __tablename__ = "letter_messages"
    __table_args__ = (
        UniqueConstraint("chat_id", "message_id", "letter_id", name="uq_letter_messages_key"),
        Index("ix_letter_messages_chat_message", "chat_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16), default="card")
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Outbox(Base):
    """Messages to send, written in the same transaction as the change they report. A delivery
    loop sends them afterwards, so nothing is announced that did not happen, and nothing that
    happened goes unannounced because of a crash or a Telegram outage. `dedupe_key` makes a
    notice that must go once (a daily nudge) impossible to queue twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_one_of("state", OutboxState), name="state"),
        Index("ix_outbox_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    state: Mapped[str] = mapped_column(String(12), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    # Sent by the bot on its own (digests, reminders, letters from the website): held in quiet hours.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class CalendarOverride(Base):
    """A day an admin marked working or off, for years the official calendar data does not know."""

    __tablename__ = "calendar_overrides"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(100), default="")
    loaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Nudge(Base):
    """The ledger: one row per letter, reason and working day it was brought up on. The unique key
    is what makes a second sweep on the same day, or a second instance, send nothing new."""

    __tablename__ = "nudges"
    __table_args__ = (UniqueConstraint("letter_id", "reason", "day", name="uq_nudges_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))
    reason: Mapped[str] = mapped_column(String(16))  # unsigned | yellow | red | escalated
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SweepRun(Base):
    """The day's sweep has run (or is running): a missed one runs once at the next start."""

    __tablename__ = "sweep_runs"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")


class UnreachableChat(Base):
    """A chat Telegram refused us (blocked, left, deleted); the admins are told once."""

    __tablename__ = "unreachable_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    error: Mapped[str] = mapped_column(Text, default="")
