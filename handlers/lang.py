"""/lang zh|en: the person's language, kept in the database."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from handlers.context import BotContext
from handlers.menu import publish_member_menu
from handlers.render import command_args
from locales import LANGUAGES, Translator, parse_language
from models.people import set_language

LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


async def lang_command(update: Update, context: BotContext) -> None:
    language = parse_language(command_args(update.effective_message.text))
    if language is None:
        buttons = [[InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"lang:{code}") for code in LANGUAGES]]
        await update.effective_message.reply_text(
            context.t("Choose your language: /lang zh or /lang en"), reply_markup=InlineKeyboardMarkup(buttons)
        )
        return
    await _switch(update, context, language)


async def lang_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer()
    await _switch(update, context, update.callback_query.data.split(":", 1)[1])


async def _switch(update: Update, context: BotContext, language: str) -> None:
    async with context.services.db.transaction() as session:
        await set_language(session, context.actor.telegram_id, language)
    context.t = Translator(language)
    await update.effective_message.reply_text(context.t("I will speak English with you from now on."))
    await publish_member_menu(context.bot, context.actor, language)


def handlers() -> list:
    return [
        CommandHandler("lang", lang_command),
        CallbackQueryHandler(lang_button, pattern=r"^lang:(zh_CN|en)\Z"),
    ]
