"""Buttons nobody claimed: old messages from a previous version, or forged callback data."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from handlers.context import BotContext


async def stale_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer(context.t("This button is no longer valid."), show_alert=True)


def handlers() -> list:
    return [CallbackQueryHandler(stale_button)]
