"""The delivery loop: sends what the outbox holds, in order, and records the message ids.

Rows are claimed in a short transaction (skipping rows another instance holds, on PostgreSQL),
sent, then marked. A claim is a lease (LEASE): a row left `sending` by an instance that died is
claimed again once its lease runs out, by any instance; on SQLite, where only one bot process runs,
at once at the next start. A person may rarely see a notice twice (killed between Telegram's answer
and the commit), but never miss one. Telegram's refusals (blocked bot, bad request) are
final and logged; outages and timeouts are retried with a growing pause (at most RETRY_PAUSE_MAX)
for as long as they last: an outage of Telegram or of the proxy in front of it loses nothing.

The database going away is waited out: a row whose send Telegram answered is recorded once the
database is back (else its lease would run out and it would go again), and a row that could not
even be rendered goes back to waiting instead of failing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import and_, delete, or_, select, update
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import Application

from bot.runtime import Services
from bot.settings import SPEAKING_FROM, SPEAKING_UNTIL
from handlers.cards import card_for, shown
from handlers.render import esc
from locales import Translator, language_for
from models.db import database_unreachable, until_reachable
from models.faults import crash_point
from models.handling import person_name
from models.letters import unit_name
from models.outbox import Kind, admin_chat_ids, enqueue, from_json, still_addressed, unit_chat_ids
from models.people import member_by_telegram_id
from models.queries import group_title, remember
from models.tables import ExtensionRequest, Letter, LetterMessage, Outbox, OutboxState, UnitChat, UnreachableChat
from scheduler.digests import SWEEP_RENDERERS
from scheduler.messages import Edit, Send

log = logging.getLogger(__name__)


class NoLongerAddressed(Exception):
    """The chat left the message's readers after it was queued (removed, moved, unbound)."""

BATCH = 20
POLL_SECONDS = 2.0
RETRY_PAUSE_MAX = dt.timedelta(minutes=10)
# How long a claimed row is another instance's: far longer than a send, even one held by the rate
# limiter in a busy group (20 a minute), so a live instance never loses a row it is sending.
LEASE = dt.timedelta(minutes=10)
# A stop (SIGTERM, an upgrade) lets the message being sent finish and be recorded for this long,
# then gives the rest of the batch back: none is sent twice, none waits out a lease.
STOP_GRACE_SECONDS = 10.0


QUIET_BEFORE, QUIET_FROM = SPEAKING_FROM, SPEAKING_UNTIL


def retry_pause(attempts: int, error: Exception) -> dt.timedelta:
    """Twice as long after each failed attempt, up to RETRY_PAUSE_MAX; as long as Telegram asks
    when it says how long."""
    pause = dt.timedelta(seconds=2 ** min(attempts, 20))
    if isinstance(error, RetryAfter):
        asked = error.retry_after
        pause = asked if isinstance(asked, dt.timedelta) else dt.timedelta(seconds=asked)
    return min(pause, RETRY_PAUSE_MAX)


class Delivery:
    def __init__(self, application: Application, services: Services):
        self.application = application
        self.services = services
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.unreachable: set[int] = set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self._recover()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="outbox-delivery")

    async def stop(self) -> None:
        """Between two messages, not in the middle of one (see STOP_GRACE_SECONDS)."""
        if self._task:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
            except TimeoutError:  # a send that hangs: its row is recovered at the next start
                self._task.cancel()
                try:
                    await self._task
                except asyncio.CancelledError:
                    pass
            self._task = None

    async def _recover(self) -> None:
        async with self.services.db.transaction() as session:
            if session.bind.dialect.name == "sqlite":  # one bot process per SQLite file: its claims died with it
                await session.execute(update(Outbox).where(Outbox.state == OutboxState.SENDING)
                                      .values(state=OutboxState.PENDING, not_before=None))
            self.unreachable = set((await session.scalars(select(UnreachableChat.chat_id))).all())

    async def reachable_again(self, *chat_ids: int) -> None:
        """A person wrote to us, or someone wrote in a group we are in: whatever blocked delivery
        there is over. `unreachable` is this instance's copy of the table, refreshed at every
        claim, so a chat another instance found unreachable is cleared here too."""
        cleared = [chat_id for chat_id in chat_ids if chat_id in self.unreachable]
        if cleared:
            self.unreachable.difference_update(cleared)
            async with self.services.db.transaction() as session:
                await session.execute(delete(UnreachableChat).where(UnreachableChat.chat_id.in_(cleared)))

    async def _still_unreachable(self, chat_id: int) -> bool:
        """Asked of the table before a message is given up: the copy may be a moment behind a
        person who has just written (cleared while this instance was claiming)."""
        async with self.services.db.reading() as session:
            marked = await session.get(UnreachableChat, chat_id) is not None
        if not marked:
            self.unreachable.discard(chat_id)
        return marked

    def quiet(self, now: dt.datetime) -> bool:
        """Outside 08:00–20:00 or on a day off, the bot does not speak on its own."""
        local = now.astimezone(self.services.settings.tz)
        working, _ = self.services.rules.deadlines.calendar.is_workday(local.date())
        return not working or not QUIET_BEFORE <= local.time() < QUIET_FROM

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.deliver_pending()
            except Exception as exc:  # the loop must outlive a bad row or a database hiccup
                if database_unreachable(exc):
                    log.warning("outbox delivery waits: the database is unreachable (%r)", exc)
                else:
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
        waiting = and_(Outbox.state == OutboxState.PENDING, or_(Outbox.not_before.is_(None), Outbox.not_before <= now))
        abandoned = and_(Outbox.state == OutboxState.SENDING, Outbox.not_before <= now)  # its instance died
        ready = [or_(waiting, abandoned)]
        if self.quiet(now):
            ready.append(Outbox.automatic.is_(False))
        async with self.services.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(Outbox)
                    .where(*ready)
                    .order_by(Outbox.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                row.state = OutboxState.SENDING
                row.attempts += 1
                row.not_before = now + LEASE
            if rows:  # another instance may have marked a chat, or seen it come back
                self.unreachable = set((await session.scalars(select(UnreachableChat.chat_id))).all())
        for index, row in enumerate(rows):
            if self._stopping:
                await self._give_back(rows[index:])
                break
            try:
                await self._deliver(row)
            except Exception:  # one row's trouble must not leave the rest of the batch claimed
                log.exception("outbox %s (%s to %s): delivery failed; trying again in a minute", row.id, row.kind, row.chat_id)
                await self._finish(row, OutboxState.PENDING, [], error="delivery failed", retry_in=dt.timedelta(minutes=1))
        return len(rows)

    async def _give_back(self, rows: list[Outbox]) -> None:
        """Claimed and not sent: pending again at once, for the next start or another instance."""
        async with self.services.db.transaction() as session:
            await session.execute(update(Outbox).where(Outbox.id.in_([row.id for row in rows]), Outbox.state == OutboxState.SENDING)
                                  .values(state=OutboxState.PENDING, not_before=None))

    async def _deliver(self, row: Outbox) -> None:
        bot = self.application.bot
        sent: list[tuple[int, int, str | None, list[int]]] = []
        if row.chat_id in self.unreachable and await self._still_unreachable(row.chat_id):
            await self._finish(row, OutboxState.FAILED, sent, error="chat unreachable")
            return
        try:
            for action in await self._render(row):
                if isinstance(action, Send):
                    message = await bot.send_message(action.chat_id, action.text, reply_markup=action.keyboard)
                    letters = action.letter_ids if action.letter_ids is not None else ([row.letter_id] if row.letter_id else [])
                    sent.append((message.chat_id, message.message_id, action.purpose, letters))
                else:
                    await self._edit(action)
        except NoLongerAddressed:
            log.info("outbox %s (%s to %s) dropped: the chat is no longer among its readers", row.id, row.kind, row.chat_id)
            await self._finish(row, OutboxState.FAILED, sent, error="no longer addressed")
            return
        except Forbidden as exc:
            log.warning("outbox %s: chat %s refuses us: %s", row.id, row.chat_id, exc)
            await self._finish(row, OutboxState.FAILED, sent, error=str(exc), unreachable=True)
            return
        except BadRequest as exc:
            log.warning("outbox %s (%s to %s) refused by Telegram: %s", row.id, row.kind, row.chat_id, exc)
            await self._finish(row, OutboxState.FAILED, sent, error=str(exc))
            return
        except ChatMigrated as exc:
            if row.chat_id >= 0:  # an edit of an old card (the old messages stay where they were), or not a group
                await self._finish(row, OutboxState.FAILED, sent, error=str(exc))
            else:  # the group became a supergroup: follow it, and send again to its new id
                await self._follow_migration(row, exc.new_chat_id)
            return
        except (RetryAfter, NetworkError) as exc:  # TimedOut is a NetworkError
            pause = retry_pause(row.attempts, exc)
            log.warning("outbox %s not delivered (%s); retrying in %s", row.id, exc, pause)
            await self._finish(row, OutboxState.PENDING, sent, error=str(exc), retry_in=pause)
            return
        except Exception as exc:  # anything else must not leave the row (and the loop) stuck
            if database_unreachable(exc):  # rendering needs the database; nothing was sent
                log.warning("outbox %s waits: the database is unreachable (%r)", row.id, exc)
                await self._finish(row, OutboxState.PENDING, sent, error=repr(exc)[:500], retry_in=dt.timedelta(seconds=1))
                return
            log.exception("outbox %s (%s to %s) could not be delivered", row.id, row.kind, row.chat_id)
            await self._finish(row, OutboxState.FAILED, sent, error=repr(exc)[:500])
            return
        crash_point("delivery:sent")  # Telegram has it; the outbox does not know yet
        await self._finish(row, OutboxState.SENT, sent)

    async def _follow_migration(self, row: Outbox, new_chat_id: int) -> None:
        async with self.services.db.transaction() as session:
            old = row.chat_id
            waiting = and_(Outbox.chat_id == old, Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING)))
            if await session.get(UnitChat, new_chat_id) is not None:
                # Bound again already (/bind in the supergroup): it gets its own copies; the old
                # group's binding and messages have nowhere to go.
                await session.execute(delete(UnitChat).where(UnitChat.chat_id == old))
                await session.execute(update(Outbox).where(waiting).values(state=OutboxState.FAILED, error=f"chat migrated to {new_chat_id}"))
            else:
                await session.execute(update(UnitChat).where(UnitChat.chat_id == old).values(chat_id=new_chat_id))
                await session.execute(update(Outbox).where(waiting).values(chat_id=new_chat_id, state=OutboxState.PENDING, not_before=None))
        log.info("chat %s migrated to %s", row.chat_id, new_chat_id)
        self.wake()

    async def _edit(self, action: Edit) -> None:
        """One card among several: a refusal here (deleted, blocked) must not stop the others."""
        try:
            await self.application.bot.edit_message_text(
                action.text, chat_id=action.chat_id, message_id=action.message_id, reply_markup=action.keyboard
            )
        except (BadRequest, Forbidden, ChatMigrated) as exc:  # ChatMigrated: the old group's card stays as it was
            if "not modified" not in str(exc).lower():
                log.info("card %s/%s not edited: %s", action.chat_id, action.message_id, exc)

    async def _finish(
        self, row: Outbox, state: str, sent: list, *, error: str | None = None,
        retry_in: dt.timedelta | None = None, unreachable: bool = False,
    ) -> None:
        # Until the database takes it: what Telegram already has must be recorded, not sent again.
        try:
            await until_reachable(lambda: self._record(row, state, sent, error, retry_in, unreachable), f"outbox {row.id}: recording it {state}")
        except Exception:
            if not sent and state != OutboxState.SENT:
                raise
            log.exception("outbox %s: Telegram has it, but recording it failed; recording the bare fact", row.id)
            await self._record_bare_fact(row)
        if unreachable and row.chat_id != 0:
            self.unreachable.add(row.chat_id)
        if state == OutboxState.PENDING:
            self.wake()

    async def _record_bare_fact(self, row: Outbox) -> None:
        """Telegram has the message and the full record failed otherwise than by an outage (a full
        disk, a file locked too long): that it was sent, without the message ids a reply maps by,
        tried until the database takes it. Nothing more goes out meanwhile, and it is never sent
        again (put back to pending, it went out once a minute on a full disk)."""
        async def mark_sent() -> None:
            async with self.services.db.transaction() as session:
                await session.execute(update(Outbox).where(Outbox.id == row.id).values(state=OutboxState.SENT, sent_at=self.services.now()))

        try:
            await until_reachable(mark_sent, f"outbox {row.id}: recording it sent", keep_trying=lambda: not self._stopping, any_error=True)
        except Exception:  # noqa: BLE001 (stopping: the row stays claimed, as a send cut short does)
            log.error("outbox %s: stopped before the database took that it was sent", row.id)

    async def _record(
        self, row: Outbox, state: str, sent: list, error: str | None, retry_in: dt.timedelta | None, unreachable: bool,
    ) -> None:
        now = self.services.now()
        async with self.services.db.transaction() as session:
            if unreachable and row.chat_id != 0 and await session.get(UnreachableChat, row.chat_id) is None:
                # Once per chat (whichever instance met it first): the admins learn it, and we stop
                # trying until the person writes, or someone writes in the group.
                session.add(UnreachableChat(chat_id=row.chat_id, since=now, error=(error or "")[:500]))
                admins = [a for a in await admin_chat_ids(session, self.services.rules.admin_ids) if a != row.chat_id]
                enqueue(session, admins, Kind.UNREACHABLE, payload={"chat": row.chat_id, "error": (error or "")[:200]})
            values: dict = {"state": state, "error": error}
            if state == OutboxState.SENT:
                values.update(sent_at=now, message_id=sent[0][1] if sent else None)
            if state == OutboxState.PENDING and retry_in:
                values["not_before"] = now + retry_in
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(**values))
            for chat_id, message_id, purpose, letter_ids in sent:
                if purpose:
                    remember(session, letter_ids, chat_id, message_id, purpose, now)

    # ---- rendering ------------------------------------------------------------------------

    async def _translator(self, session, chat_id: int) -> Translator:
        default = self.services.settings.language
        if chat_id < 0:
            return Translator(default)
        member = await member_by_telegram_id(session, chat_id)
        return Translator(language_for(member.language if member else None, member.telegram_language if member else None, default))

    async def _render(self, row: Outbox) -> list[Send | Edit]:
        services = self.services
        async with services.db.reading() as session:
            letter = await session.get(Letter, row.letter_id) if row.letter_id else None
            if row.kind == Kind.REFRESH_CARDS:
                cards = (
                    await session.scalars(
                        select(LetterMessage).where(LetterMessage.letter_id == letter.id, LetterMessage.purpose.in_(("admin", "card")))
                    )
                ).all()
                current = set(await unit_chat_ids(session, letter.unit_id)) if letter.unit_id else set()
                admins = set(await admin_chat_ids(session, services.rules.admin_ids))
                edits: list[Send | Edit] = []
                for card in cards:
                    t = await self._translator(session, card.chat_id)
                    # An admin removed since sees no more of it (a group holds an admin's card where one asked for it).
                    if card.purpose == "admin" and card.chat_id > 0 and card.chat_id not in admins:
                        edits.append(Edit(card.chat_id, card.message_id, t("This card of letter #{id} is no longer kept up to date.", id=letter.id)))
                        continue
                    if card.purpose == "card" and card.chat_id not in current:
                        if card.chat_id < 0 and await session.get(UnitChat, card.chat_id) is None:
                            # An unbound group: the letter may well be with the unit still.
                            text = t("This group is no longer bound to a unit: the card of letter #{id} is no longer kept up to date.", id=letter.id)
                        else:  # a unit it was taken from sees no more of its handling
                            text = t("Letter #{id} is no longer with your unit.", id=letter.id)
                        edits.append(Edit(card.chat_id, card.message_id, text))
                        continue
                    text, keyboard = await card_for(session, services, letter, card.purpose, t)
                    edits.append(Edit(card.chat_id, card.message_id, text, keyboard))
                return edits
            unit_id = row.payload.get("unit") if row.kind == Kind.DIGEST else letter.unit_id if letter else None
            if not await still_addressed(session, row, unit_id, services.rules.admin_ids):
                raise NoLongerAddressed
            t = await self._translator(session, row.chat_id)
            if row.kind in (Kind.ADMIN_CARD, Kind.LETTER_CARD):
                purpose = "admin" if row.kind == Kind.ADMIN_CARD else "card"
                text, keyboard = await card_for(session, services, letter, purpose, t)
                return [Send(row.chat_id, text, keyboard, purpose)]
            if row.kind == Kind.NOTICE:
                values = {k: shown(from_json(v), t, services.settings.tz, k) for k, v in row.payload.get("values", {}).items()}
                msgid = row.payload["message"]  # marked with N_ where it was queued
                return [Send(row.chat_id, t(msgid, **values), None, "notice")]
            if row.kind == Kind.EXTENSION_REQUEST:
                return [await self._extension_request(session, row, letter, t)]
            if row.kind in SWEEP_RENDERERS:
                return await SWEEP_RENDERERS[row.kind](session, services, row, t)
            if row.kind == Kind.UNREACHABLE:
                who = await person_name(session, row.payload["chat"]) if row.payload["chat"] > 0 else await group_title(session, row.payload["chat"])
                return [Send(row.chat_id, t("⚠️ I can no longer reach {who}: {error}. They will get messages again once they write to me.",
                                            who=esc(who), error=esc(row.payload.get("error", ""))))]
            if row.kind == Kind.IMPORT_SUMMARY:
                p = row.payload
                return [Send(row.chat_id, t(
                    "📥 Import of {file}: {imported} letters imported, {skipped} already known and skipped.",
                    file=esc(p.get("file", "")), imported=p.get("imported", 0), skipped=p.get("skipped", 0),
                ))]
        log.error("outbox %s has unknown kind %r", row.id, row.kind)
        return []

    async def _extension_request(self, session, row: Outbox, letter: Letter, t: Translator) -> Send:
        request = await session.get(ExtensionRequest, row.payload["request"])
        text = t.ngettext(
            "⏳ {name} ({unit}) asks {days} more working day for letter #{id} “{title}” (due {date}): {reason}",
            "⏳ {name} ({unit}) asks {days} more working days for letter #{id} “{title}” (due {date}): {reason}",
            request.days,
            name=esc(await person_name(session, request.requested_by)), unit=esc(await unit_name(session, letter.unit_id) or ""),
            days=request.days, id=letter.id, title=esc(self.services.privacy.text(letter.title, names=(letter.sender_name,))[:60]),
            date=letter.due_date.isoformat() if letter.due_date else "—",
            reason=esc(self.services.privacy.text(request.reason, names=(letter.sender_name,))),
        )
        keyboard = InlineKeyboardMarkup([[
            InlineKeyboardButton(t("Approve"), callback_data=f"ext:ok:{request.id}"),
            InlineKeyboardButton(t("Refuse"), callback_data=f"ext:no:{request.id}"),
        ]])
        return Send(row.chat_id, text, keyboard, "extension")
