"""The last line: log with context, tell the person in their language, never die."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from handlers.context import BotContext
from locales import Translator

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    error = context.error
    if isinstance(update, Update):
        user = update.effective_user
        chat = update.effective_chat
        log.error(
            "update %s from user %s in chat %s failed: %r",
            update.update_id, user.id if user else None, chat.id if chat else None, error,
            exc_info=error,
        )
    else:
        log.error("job or background task failed: %r", error, exc_info=error)
        return
    t = context.t if isinstance(context, BotContext) else Translator(context.services.settings.language)
    text = t("Sorry, something went wrong on my side and nothing was changed. Please try again; if it keeps happening, tell the information centre.")
    try:
        if update.callback_query:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.effective_chat:
            await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError as exc:
        log.warning("could not tell the person about the error: %s", exc)
