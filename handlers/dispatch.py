"""The admins' side of a letter card: assign (suggested units, or any unit page by page) and mark
invalid (usual reasons as buttons, or `/invalid <id> <reason>`)."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from handlers.cards import card_for
from handlers.context import BotContext
from handlers.handling import act, answer, origin_of
from handlers.render import command_args, esc, set_buttons, unit_or_ask
from locales import N_, Translator
from models.handling import decide_extension
from models.letters import LetterError, assign, get_letter, unit_name
from models.outbox import unit_chat_ids
from models.permissions import Action, can
from models.queries import remember
from models.tables import LetterStatus
from models.unit_resolver import takes_letters

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
    await _assign(update, context, letter_id, unit_id)


async def _assign(update: Update, context: BotContext, letter_id: int, unit_id: int) -> None:
    services = context.services
    try:
        async with services.db.transaction() as session:
            letter = await assign(session, services.rules, letter_id, unit_id, origin_of(update, context), services.now())
            unit = await unit_name(session, letter.unit_id)
            heard = bool(await unit_chat_ids(session, letter.unit_id))
    except LetterError as exc:
        await answer(update, context.explain(exc), alert=True)
        return
    services.notify()
    if not heard:  # assigned all the same (an admin may invite the liaison next), but not unnoticed
        await answer(update, context.t(
            "Letter #{id} assigned to {unit}. ⚠️ Nobody will receive it: {unit} has no liaison or group yet. Invite one with /invite {unit}.",
            id=letter.id, unit=esc(unit)), alert=True)
        return
    await answer(update, context.t("Letter #{id} assigned to {unit}.", id=letter.id, unit=esc(unit)))


async def _refuse_stale(update: Update, context: BotContext, letter_id: int, allowed: tuple[str, ...], message: str) -> bool:
    """A button that offers more buttons for a letter that is gone or has moved on (stale, or
    forged): the refusal, now, instead of buttons that could only be refused later."""
    async with context.services.db.reading() as session:
        letter = await get_letter(session, letter_id)
    if letter is None:
        error = LetterError(N_("There is no letter #{id}."), id=letter_id)
    elif letter.status not in allowed:
        error = LetterError(message, id=letter.id, status=letter.status)
    else:
        return False
    await answer(update, context.explain(error), alert=True)
    return True


ASSIGNABLE = (LetterStatus.NEW, LetterStatus.RETURNED)
INVALIDABLE = (LetterStatus.NEW, LetterStatus.ASSIGNED, LetterStatus.ACCEPTED, LetterStatus.RETURNED)
NOT_ASSIGNABLE = N_("Letter #{id} cannot be assigned now: it is {status}.")
NOT_INVALIDABLE = N_("Letter #{id} cannot be marked invalid: it is {status}.")


async def units_page_button(update: Update, context: BotContext) -> None:
    """Any unit, page by page, in place of the card's buttons."""
    if await _refuse_button(update, context):
        return
    letter_id, page = _ids(update.callback_query.data)
    if await _refuse_stale(update, context, letter_id, ASSIGNABLE, NOT_ASSIGNABLE):
        return
    t = context.t
    today = context.services.local_now().date()
    units = [u for u in context.services.unit_profiles if takes_letters(u, today)]
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
    await set_buttons(update.callback_query, InlineKeyboardMarkup(rows))


async def invalid_button(update: Update, context: BotContext) -> None:
    if await _refuse_button(update, context):
        return
    (letter_id,) = _ids(update.callback_query.data)
    if await _refuse_stale(update, context, letter_id, INVALIDABLE, NOT_INVALIDABLE):
        return
    await update.callback_query.answer()
    await set_buttons(update.callback_query, _reason_buttons(letter_id, context.t, with_back=True))


def _reason_buttons(letter_id: int, t: Translator, *, with_back: bool) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(t(label), callback_data=f"letter:inv:{letter_id}:{code}")] for code, label in INVALID_REASONS.items()]
    last = [InlineKeyboardButton(t("Other reason…"), callback_data=f"letter:inv:{letter_id}:other")]
    if with_back:
        last.append(InlineKeyboardButton(t("Back"), callback_data=f"letter:card:{letter_id}"))
    rows.append(last)
    return InlineKeyboardMarkup(rows)


async def invalid_reason_button(update: Update, context: BotContext) -> None:
    if await _refuse_button(update, context):
        return
    query = update.callback_query
    _, _, raw_id, code = query.data.split(":")
    letter_id = int(raw_id)
    if code == "other":
        if await _refuse_stale(update, context, letter_id, INVALIDABLE, NOT_INVALIDABLE):
            return
        await query.answer()
        await query.message.reply_text(context.t("Send /invalid {id} followed by the reason.", id=letter_id))
        return
    # The reason is stored in the office's language, whoever pressed the button.
    reason = Translator(context.services.settings.language)(INVALID_REASONS[code])
    await act(update, context, "invalid", letter_id, reason)


async def card_button(update: Update, context: BotContext) -> None:
    """Back to the card as it stands."""
    if await _refuse_button(update, context):
        return
    (letter_id,) = _ids(update.callback_query.data)
    services = context.services
    async with services.db.reading() as session:
        letter = await get_letter(session, letter_id)
        card = await card_for(session, services, letter, "admin", context.t) if letter else None
    if card is None:
        await update.callback_query.answer(context.t("This button is no longer valid."), show_alert=True)
        return
    keyboard = card[1]
    await update.callback_query.answer()
    await set_buttons(update.callback_query, keyboard)


async def invalid_command(update: Update, context: BotContext) -> None:
    """/invalid <id> <reason>; without a reason, the usual reasons as buttons."""
    t = context.t
    arguments = command_args(update.effective_message.text)
    match = re.match(r"^#?(\d{1,9})\s+(.+)$", arguments, re.S)
    if not can(context.actor, Action.MANAGE_LETTERS):
        await update.effective_message.reply_text(t("Only administrators may do this."))
        return
    only_id = re.match(r"^#?(\d{1,9})$", arguments)
    if only_id:
        letter_id = int(only_id.group(1))
        await update.effective_message.reply_text(
            t("Why is letter #{id} invalid?", id=letter_id), reply_markup=_reason_buttons(letter_id, t, with_back=False)
        )
        return
    if not match:
        await update.effective_message.reply_text(esc(t("Usage: /invalid <letter id> <reason>")))
        return
    await act(update, context, "invalid", int(match.group(1)), match.group(2))


async def assign_command(update: Update, context: BotContext) -> None:
    """/assign <id> <unit>; without a unit, the letter's card with its suggestions."""
    t = context.t
    message = update.effective_message
    if not can(context.actor, Action.MANAGE_LETTERS):
        await message.reply_text(t("Only administrators may do this."))
        return
    match = re.match(r"^#?(\d{1,9})(?:\s+(.+))?$", command_args(message.text), re.S)
    if not match:
        await message.reply_text(esc(t("Usage: /assign <letter id> [unit]")))
        return
    letter_id, unit_text = int(match.group(1)), (match.group(2) or "").strip()
    services = context.services
    if not unit_text:
        async with services.db.reading() as session:
            letter = await get_letter(session, letter_id)
            card = await card_for(session, services, letter, "admin", t) if letter else None
        if card is None:
            await message.reply_text(t("There is no letter #{id}.", id=letter_id))
            return
        sent = await message.reply_text(card[0], reply_markup=card[1])
        async with services.db.transaction() as session:
            remember(session, [letter_id], sent.chat_id, sent.message_id, "admin", services.now())
        return
    unit = await unit_or_ask(message, services.resolver, unit_text, t, f"letter:assign:{letter_id}", on=services.local_now().date())
    if unit is not None:
        await _assign(update, context, letter_id, unit.id)


def _pressed_on_its_message(query) -> bool:
    """Is the pressed button one of the message's own (not data forged onto another message)?"""
    markup = query.message.reply_markup if query.message else None
    return markup is not None and any(button.callback_data == query.data for row in markup.inline_keyboard for button in row)


async def extension_button(update: Update, context: BotContext) -> None:
    if await _refuse_button(update, context):  # before the refusal below takes the pressed message's buttons
        return
    _, verdict, raw_id = update.callback_query.data.split(":")
    services = context.services
    try:
        async with services.db.transaction() as session:
            request, letter = await decide_extension(
                session, services.rules, int(raw_id), verdict == "ok", origin_of(update, context), services.now()
            )
    except LetterError as exc:
        await answer(update, context.explain(exc), alert=True)
        if _pressed_on_its_message(update.callback_query):  # the request's buttons are spent; another message keeps its own
            await set_buttons(update.callback_query, None)
        return
    services.notify()
    t = context.t
    outcome = (
        t("Approved: letter #{id} is now due {date}.", id=letter.id, date=letter.due_date.isoformat())
        if verdict == "ok" else t("Refused: letter #{id} stays due {date}.", id=letter.id, date=letter.due_date.isoformat())
    )
    await update.callback_query.answer(outcome)
    await update.callback_query.edit_message_text(update.callback_query.message.text_html + "\n\n" + outcome)


def handlers() -> list:
    return [
        CommandHandler("invalid", invalid_command),
        CommandHandler("assign", assign_command),
        CallbackQueryHandler(extension_button, pattern=r"^ext:(ok|no):\d{1,9}\Z"),
        CallbackQueryHandler(assign_button, pattern=r"^letter:assign:\d{1,9}:\d{1,9}\Z"),
        CallbackQueryHandler(units_page_button, pattern=r"^letter:units:\d{1,9}:\d{1,3}\Z"),
        CallbackQueryHandler(invalid_button, pattern=r"^letter:invalid:\d{1,9}\Z"),
        CallbackQueryHandler(invalid_reason_button, pattern=rf"^letter:inv:\d{{1,9}}:({'|'.join(INVALID_REASONS)}|other)\Z"),
        CallbackQueryHandler(card_button, pattern=r"^letter:card:\d{1,9}\Z"),
    ]
