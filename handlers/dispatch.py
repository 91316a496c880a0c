"""The admins' side of a letter card: assign (suggested units, or any unit page by page) and mark
invalid (usual reasons as buttons, or `/invalid <id> <reason>`)."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from handlers.cards import admin_card, refusal
from handlers.context import BotContext
from handlers.render import command_args, esc
from locales import N_, Translator
from models.letters import LetterError, Origin, assign, get_letter, invalidate, unit_name
from models.permissions import Action, can

PAGE = 8
INVALID_REASONS = {
    "dup": N_("duplicate letter"),
    "scope": N_("outside the mailbox's scope"),
    "contact": N_("the sender cannot be reached"),
    "spam": N_("spam or meaningless"),
}


def _ids(data: str) -> list[int]:
    return [int(part) for part in data.split(":")[2:]]


async def _refuse_button(update: Update, context: BotContext) -> bool:
    if can(context.actor, Action.MANAGE_LETTERS):
        return False
    await update.callback_query.answer(context.t("Only administrators may do this."), show_alert=True)
    return True


async def assign_button(update: Update, context: BotContext) -> None:
    if await _refuse_button(update, context):
        return
    letter_id, unit_id = _ids(update.callback_query.data)
    services = context.services
    try:
        async with services.db.transaction() as session:
            letter = await assign(session, services.rules, letter_id, unit_id, _origin(update, context), services.now())
            unit = await unit_name(session, letter.unit_id)
    except LetterError as exc:
        await update.callback_query.answer(refusal(exc, context.t), show_alert=True)
        return
    services.notify()
    await update.callback_query.answer(context.t("Letter #{id} assigned to {unit}.", id=letter.id, unit=unit))


async def units_page_button(update: Update, context: BotContext) -> None:
    """Any unit, page by page, in place of the card's buttons."""
    if await _refuse_button(update, context):
        return
    letter_id, page = _ids(update.callback_query.data)
    t = context.t
    units = context.services.unit_profiles
    pages = max(1, -(-len(units) // PAGE))
    page = min(max(page, 0), pages - 1)
    rows = [[InlineKeyboardButton(u.name, callback_data=f"letter:assign:{letter_id}:{u.id}")] for u in units[page * PAGE:(page + 1) * PAGE]]
    navigation = []
    if page > 0:
        navigation.append(InlineKeyboardButton(t("« Previous"), callback_data=f"letter:units:{letter_id}:{page - 1}"))
    navigation.append(InlineKeyboardButton(t("Back"), callback_data=f"letter:card:{letter_id}"))
    if page < pages - 1:
        navigation.append(InlineKeyboardButton(t("Next »"), callback_data=f"letter:units:{letter_id}:{page + 1}"))
    rows.append(navigation)
    await update.callback_query.answer()
    await update.callback_query.edit_message_reply_markup(InlineKeyboardMarkup(rows))


async def invalid_button(update: Update, context: BotContext) -> None:
    if await _refuse_button(update, context):
        return
    (letter_id,) = _ids(update.callback_query.data)
    t = context.t
    rows = [[InlineKeyboardButton(t(label), callback_data=f"letter:inv:{letter_id}:{code}")] for code, label in INVALID_REASONS.items()]
    rows.append([
        InlineKeyboardButton(t("Other reason…"), callback_data=f"letter:inv:{letter_id}:other"),
        InlineKeyboardButton(t("Back"), callback_data=f"letter:card:{letter_id}"),
    ])
    await update.callback_query.answer()
    await update.callback_query.edit_message_reply_markup(InlineKeyboardMarkup(rows))


async def invalid_reason_button(update: Update, context: BotContext) -> None:
    if await _refuse_button(update, context):
        return
    query = update.callback_query
    _, _, raw_id, code = query.data.split(":")
    letter_id = int(raw_id)
    if code == "other":
        await query.answer()
        await query.message.reply_text(context.t("Send /invalid {id} followed by the reason.", id=letter_id))
        return
    # The reason is stored in the office's language, whoever pressed the button.
    reason = Translator(context.services.settings.language)(INVALID_REASONS[code])
    await _invalidate(update, context, letter_id, reason)


async def card_button(update: Update, context: BotContext) -> None:
    """Back to the card as it stands."""
    if await _refuse_button(update, context):
        return
    (letter_id,) = _ids(update.callback_query.data)
    services = context.services
    async with services.db.reading() as session:
        letter = await get_letter(session, letter_id)
        unit = await unit_name(session, letter.unit_id) if letter else None
    if letter is None:
        await update.callback_query.answer(context.t("This button is no longer valid."), show_alert=True)
        return
    _, keyboard = admin_card(letter, unit, services.unit_profiles, context.t, services.privacy, services.settings.tz)
    await update.callback_query.answer()
    await update.callback_query.edit_message_reply_markup(keyboard)


async def invalid_command(update: Update, context: BotContext) -> None:
    t = context.t
    match = re.match(r"^#?(\d{1,9})\s+(.+)$", command_args(update.effective_message.text), re.S)
    if not can(context.actor, Action.MANAGE_LETTERS):
        await update.effective_message.reply_text(t("Only administrators may do this."))
        return
    if not match:
        await update.effective_message.reply_text(esc(t("Usage: /invalid <letter id> <reason>")))
        return
    await _invalidate(update, context, int(match.group(1)), match.group(2))


async def _invalidate(update: Update, context: BotContext, letter_id: int, reason: str) -> None:
    services = context.services
    t = context.t
    try:
        async with services.db.transaction() as session:
            await invalidate(session, services.rules, letter_id, reason, _origin(update, context), services.now())
    except LetterError as exc:
        await _say(update, refusal(exc, t), alert=True)
        return
    services.notify()
    await _say(update, t("Letter #{id} marked invalid: {reason}", id=letter_id, reason=esc(reason.strip())))


async def _say(update: Update, text: str, *, alert: bool = False) -> None:
    if update.callback_query:
        await update.callback_query.answer(text[:200], show_alert=alert)
    else:
        await update.effective_message.reply_text(text)


def _origin(update: Update, context: BotContext) -> Origin:
    return Origin("person", context.actor, update.effective_chat.id if update.effective_chat else None)


def handlers() -> list:
    return [
        CommandHandler("invalid", invalid_command),
        CallbackQueryHandler(assign_button, pattern=r"^letter:assign:\d{1,9}:\d{1,9}$"),
        CallbackQueryHandler(units_page_button, pattern=r"^letter:units:\d{1,9}:\d{1,3}$"),
        CallbackQueryHandler(invalid_button, pattern=r"^letter:invalid:\d{1,9}$"),
        CallbackQueryHandler(invalid_reason_button, pattern=rf"^letter:inv:\d{{1,9}}:({'|'.join(INVALID_REASONS)}|other)$"),
        CallbackQueryHandler(card_button, pattern=r"^letter:card:\d{1,9}$"),
    ]
