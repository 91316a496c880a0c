"""The cross-cutting first step (group -1): who is writing, in which language, and the gate that
keeps strangers to one short explanation."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection
from telegram import Chat, Update
from telegram.ext import ApplicationHandlerStop, CallbackContext, ExtBot, TypeHandler

from bot.runtime import SERVICES_KEY, Services
from locales import Translator, language_for
from models.people import TelegramPerson, current_actor, load_actor, people_changes
from models.permissions import Actor

log = logging.getLogger(__name__)


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """PTB builds one context per update and hands it to every group, so what group -1 puts here
    (`actor`, `t`) is there for the feature handlers."""

    def __init__(self, application, chat_id=None, user_id=None):
        super().__init__(application, chat_id, user_id)
        self.actor: Actor | None = None
        self.t: Translator = Translator(self.services.settings.language)

    @property
    def services(self) -> Services:
        return self.application.bot_data[SERVICES_KEY]

    def explain(self, error) -> str:
        """A domain refusal (LetterError) in this person's words."""
        from handlers.cards import refusal

        return refusal(error, self.t, self.services.settings.tz)


def person_of(update: Update) -> TelegramPerson | None:
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return TelegramPerson(user.id, user.full_name, user.username, user.language_code)


@dataclass(frozen=True)
class _Found:
    actor: Actor
    generation: int  # people_changes.generation before the read
    at: float  # time.monotonic() of the read


class ActorPrefetch:
    """Who sent an update, read on the connection that stores it (bot.inbox), right after the
    store: one unit of work fewer on the path of every answer. Group -1 takes it only if nothing in this
    process has changed members or units since the read began, and only while it is fresh
    (MAX_AGE): another instance's change is then seen as of the update's arrival, as if the update
    had been handled at once. Otherwise group -1 reads again, as without a prefetch."""

    MAX_AGE = 2.0  # seconds
    _KEEP = 1000  # found actors never taken are dropped past this many

    def __init__(self, services: Services):
        self.services = services
        self._found: dict[int, _Found] = {}

    async def fetch(self, connection: AsyncConnection, update: Update) -> None:
        person = person_of(update)
        if person is None:
            return
        generation = people_changes.generation
        actor = await current_actor(connection, person, self.services.settings.admin_ids)
        if actor is not None:
            if len(self._found) >= self._KEEP:
                self._found.clear()
            self._found[update.update_id] = _Found(actor, generation, time.monotonic())

    def take(self, update: Update) -> Actor | None:
        found = self._found.pop(update.update_id, None)
        if found is None or found.generation != people_changes.generation or time.monotonic() - found.at > self.MAX_AGE:
            return None
        return found.actor


PREFETCH_KEY = "actor_prefetch"


async def load_member_and_locale(update: Update, context: BotContext) -> None:
    person = person_of(update)
    if person is None:
        raise ApplicationHandlerStop  # channel posts, other bots: nothing for us
    services = context.services
    admin_ids = services.settings.admin_ids
    prefetch: ActorPrefetch | None = context.bot_data.get(PREFETCH_KEY)
    actor = prefetch.take(update) if prefetch is not None else None
    if actor is None:
        async with services.db.reading() as session:
            actor = await current_actor(session, person, admin_ids)
    if actor is None:
        async with services.db.transaction() as session:
            actor = await load_actor(session, person, admin_ids)
    context.actor = actor
    context.t = Translator(language_for(actor.language, person.language_code, services.settings.language))
    if services.delivery is not None:
        chat = update.effective_chat
        await services.delivery.reachable_again(person.telegram_id, *((chat.id,) if chat is not None and chat.id < 0 else ()))
    if actor.is_stranger and not _is_start(update):
        await explain_to_stranger(update, context)
        raise ApplicationHandlerStop


def _is_start(update: Update) -> bool:
    message = update.effective_message
    text = message.text if message and update.message else None
    return bool(text) and text.split(maxsplit=1)[0].split("@")[0] == "/start"


async def explain_to_stranger(update: Update, context: BotContext) -> None:
    """No names, no figures: only how to get in. Silence for chatter in groups. The log line lets
    an operator find a new admin's Telegram id for ADMIN_IDS."""
    if update.effective_user:
        log.info("stranger %s (%s) wrote to the bot", update.effective_user.id, update.effective_user.full_name)
    text = context.t(
        "This bot serves the county's leader mailbox (领导信箱) for the information centre, "
        "the towns' and departments' liaisons and county leaders.\n\n"
        "To use it, ask an administrator of the county information centre for an invitation link "
        "and open it in Telegram."
    )
    if update.callback_query:
        await update.callback_query.answer(text[:200], show_alert=True)
        return
    message = update.effective_message
    if message is None:
        return
    is_command = bool(message.text and message.text.startswith("/"))
    if message.chat.type == Chat.PRIVATE or is_command:
        await message.reply_text(text)


HANDLER = TypeHandler(Update, load_member_and_locale)
