"""Buttons nobody claimed: old messages from a previous version, or forged callback data."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from handlers.context import BotContext


async def stale_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer(context.t("This button is no longer valid."), show_alert=True)


class _Dataless(CallbackQueryHandler):
    """A press with no data (forged: Telegram's buttons carry 1–64 bytes). PTB matches such a press
    with every pattern, so it goes first, before any feature's handler can take it."""

    def check_update(self, update: object) -> bool:
        query = update.callback_query if isinstance(update, Update) else None
        return query is not None and not query.data and not query.game_short_name


def first() -> list:
    return [_Dataless(stale_button)]


def handlers() -> list:
    return [CallbackQueryHandler(stale_button)]
