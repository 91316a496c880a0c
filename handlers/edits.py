"""Edited messages: not acted on. Telegram sends an edit as an update of its own; handled like a
new message it would close a letter a second time, make a second invitation, or ask again for
an extension already asked. An edited command, or an edited reply to one of our messages, gets
a word saying so; other edits (people correcting their words in a group) pass unremarked."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from handlers.context import BotContext, person_of
from locales import Translator, language_for
from models.people import current_actor


async def ignore_edit(update: Update, context: BotContext) -> None:
    message = update.edited_message
    if message is not None:
        replied = message.reply_to_message
        to_us = replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id
        if to_us or (message.text or "").startswith("/"):
            t = await _translator(update, context)
            await message.reply_text(t("I do not act on edited messages: what you sent first stands. Send a new message instead."))
    raise ApplicationHandlerStop


async def _translator(update: Update, context: BotContext) -> Translator:
    """The person's language as group -1 would choose it (it has not run): their /lang choice,
    else their Telegram app's."""
    services, person = context.services, person_of(update)
    chosen = None
    if person is not None:
        async with services.db.reading() as session:
            actor = await current_actor(session, person, services.settings.admin_ids)
        chosen = actor.language if actor is not None else None
    return Translator(language_for(chosen, person.language_code if person else None, services.settings.language))


def handlers() -> list:
    return [MessageHandler(filters.UpdateType.EDITED, ignore_edit)]
