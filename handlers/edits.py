"""Edited messages: not acted on. Telegram sends an edit as an update of its own; handled like a
new message it would close a letter a second time, make a second invitation, or ask again for
an extension already asked. An edited command, or an edited reply to one of our messages, gets
a word saying so; other edits (people correcting their words in a group) pass unremarked."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from handlers.context import BotContext
from locales import Translator, language_for


async def ignore_edit(update: Update, context: BotContext) -> None:
    message = update.edited_message
    if message is not None:
        replied = message.reply_to_message
        to_us = replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id
        if to_us or (message.text or "").startswith("/"):
            user = update.effective_user  # group -1 has not run: the person's language is Telegram's
            t = Translator(language_for(None, user.language_code if user else None, context.services.settings.language))
            await message.reply_text(t("I do not act on edited messages: what you sent first stands. Send a new message instead."))
    raise ApplicationHandlerStop


def handlers() -> list:
    return [MessageHandler(filters.UpdateType.EDITED, ignore_edit)]
