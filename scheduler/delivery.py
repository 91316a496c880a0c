"""The delivery loop: sends what the outbox holds, in order, and records the message ids.

Rows are claimed in a short transaction (skipping rows another instance holds, on PostgreSQL),
sent, then marked. A row left `sending` by a crash is sent again at the next start: a person may
rarely see a notice twice, but never miss one. Telegram's refusals (blocked bot, bad request) are
final and logged; outages and timeouts are retried with a growing pause.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.runtime import Services
from handlers.cards import admin_card, unit_card
from handlers.render import esc
from locales import Translator, language_for
from models.letters import unit_name
from models.outbox import Kind
from models.people import member_by_telegram_id
from models.tables import Letter, LetterMessage, Outbox, OutboxState

log = logging.getLogger(__name__)
BATCH = 20
POLL_SECONDS = 2.0
MAX_ATTEMPTS = 8


@dataclass
class Send:
    chat_id: int
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    purpose: str | None = None  # recorded in letter_messages when set


@dataclass
class Edit:
    chat_id: int
    message_id: int
    text: str
    keyboard: InlineKeyboardMarkup | None = None


class Delivery:
    def __init__(self, application: Application, services: Services):
        self.application = application
        self.services = services
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self._recover()
        self._task = asyncio.create_task(self._loop(), name="outbox-delivery")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _recover(self) -> None:
        async with self.services.db.transaction() as session:
            await session.execute(update(Outbox).where(Outbox.state == OutboxState.SENDING).values(state=OutboxState.PENDING))

    async def _loop(self) -> None:
        while True:
            try:
                delivered = await self.deliver_pending()
            except Exception:  # the loop must outlive a bad row or a database hiccup
                log.exception("outbox delivery failed; retrying")
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def deliver_pending(self) -> int:
        """Claims and delivers one batch; returns how many rows it handled."""
        now = self.services.now()
        async with self.services.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(Outbox)
                    .where(Outbox.state == OutboxState.PENDING, or_(Outbox.not_before.is_(None), Outbox.not_before <= now))
                    .order_by(Outbox.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                row.state = OutboxState.SENDING
                row.attempts += 1
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _deliver(self, row: Outbox) -> None:
        bot = self.application.bot
        sent: list[tuple[int, int, str | None]] = []
        try:
            for action in await self._render(row):
                if isinstance(action, Send):
                    message = await bot.send_message(action.chat_id, action.text, reply_markup=action.keyboard)
                    sent.append((message.chat_id, message.message_id, action.purpose))
                else:
                    await self._edit(action)
        except (Forbidden, BadRequest) as exc:
            log.warning("outbox %s (%s to %s) refused by Telegram: %s", row.id, row.kind, row.chat_id, exc)
            await self._finish(row, OutboxState.FAILED, sent, error=str(exc))
            return
        except (RetryAfter, NetworkError) as exc:  # TimedOut is a NetworkError
            pause = dt.timedelta(seconds=min(600, 2 ** row.attempts))
            final = row.attempts >= MAX_ATTEMPTS
            log.warning("outbox %s not delivered (%s); %s", row.id, exc, "giving up" if final else f"retrying in {pause}")
            await self._finish(row, OutboxState.FAILED if final else OutboxState.PENDING, sent, error=str(exc), retry_in=pause)
            return
        await self._finish(row, OutboxState.SENT, sent)

    async def _edit(self, action: Edit) -> None:
        try:
            await self.application.bot.edit_message_text(
                action.text, chat_id=action.chat_id, message_id=action.message_id, reply_markup=action.keyboard
            )
        except BadRequest as exc:
            # Already showing this, or deleted by someone: nothing to correct.
            if "not modified" not in str(exc).lower() and "not found" not in str(exc).lower():
                raise

    async def _finish(self, row: Outbox, state: str, sent: list, *, error: str | None = None, retry_in: dt.timedelta | None = None) -> None:
        now = self.services.now()
        async with self.services.db.transaction() as session:
            values: dict = {"state": state, "error": error}
            if state == OutboxState.SENT:
                values.update(sent_at=now, message_id=sent[0][1] if sent else None)
            if state == OutboxState.PENDING and retry_in:
                values["not_before"] = now + retry_in
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(**values))
            for chat_id, message_id, purpose in sent:
                if row.letter_id is not None and purpose:
                    session.add(LetterMessage(letter_id=row.letter_id, chat_id=chat_id, message_id=message_id, purpose=purpose, sent_at=now))
        if state == OutboxState.PENDING:
            self.wake()

    # ---- rendering ------------------------------------------------------------------------

    async def _translator(self, session, chat_id: int) -> Translator:
        default = self.services.settings.language
        if chat_id < 0:
            return Translator(default)
        member = await member_by_telegram_id(session, chat_id)
        return Translator(language_for(member.language if member else None, member.telegram_language if member else None, default))

    async def _render(self, row: Outbox) -> list[Send | Edit]:
        services = self.services
        tz, privacy = services.settings.tz, services.privacy
        async with services.db.reading() as session:
            letter = await session.get(Letter, row.letter_id) if row.letter_id else None
            unit = await unit_name(session, letter.unit_id) if letter else None
            if row.kind == Kind.LETTER_NEW:
                t = await self._translator(session, row.chat_id)
                text, keyboard = admin_card(letter, unit, services.unit_profiles, t, privacy, tz)
                return [Send(row.chat_id, text, keyboard, "admin")]
            if row.kind == Kind.LETTER_CARD:
                t = await self._translator(session, row.chat_id)
                text, keyboard = unit_card(letter, unit, t, privacy, tz)
                return [Send(row.chat_id, text, keyboard, "card")]
            if row.kind == Kind.REFRESH_CARDS:
                cards = (
                    await session.scalars(
                        select(LetterMessage).where(LetterMessage.letter_id == letter.id, LetterMessage.purpose.in_(("admin", "card")))
                    )
                ).all()
                edits: list[Send | Edit] = []
                for card in cards:
                    t = await self._translator(session, card.chat_id)
                    if card.purpose == "admin":
                        text, keyboard = admin_card(letter, unit, services.unit_profiles, t, privacy, tz)
                    else:
                        text, keyboard = unit_card(letter, unit, t, privacy, tz)
                    edits.append(Edit(card.chat_id, card.message_id, text, keyboard))
                return edits
            if row.kind == Kind.IMPORT_SUMMARY:
                t = await self._translator(session, row.chat_id)
                p = row.payload
                return [Send(row.chat_id, t(
                    "📥 Import of {file}: {imported} letters imported, {skipped} already known and skipped.",
                    file=esc(p.get("file", "")), imported=p.get("imported", 0), skipped=p.get("skipped", 0),
                ))]
        log.error("outbox %s has unknown kind %r", row.id, row.kind)
        return []
