"""/bind and /unbind: a unit's group chat. Letters for the unit then go to the group too, and any
of the unit's liaisons may act there; rights stay with the person, not the chat."""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from handlers.context import BotContext
from handlers.render import command_args, esc, set_buttons, unit_or_ask
from models.people import bind_chat, chat_unit, unbind_chat
from models.permissions import Action, can
from models.tables import Role


def _in_group(update: Update) -> bool:
    return update.effective_chat.type in (Chat.GROUP, Chat.SUPERGROUP)


async def bind_command(update: Update, context: BotContext) -> None:
    t = context.t
    actor = context.actor
    message = update.effective_message
    if not _in_group(update):
        await message.reply_text(t("Send /bind in the unit's group chat, after adding me to it."))
        return
    if not can(actor, Action.BIND_GROUP):
        await message.reply_text(t("Only administrators and the unit's liaisons may bind a group."))
        return
    argument = command_args(message.text)
    if not argument:
        if actor.role is Role.LIAISON:
            await _bind(update, context, actor.unit_id, actor.unit_name)
        else:
            await message.reply_text(esc(t("Usage: /bind <unit>")))
        return
    unit = await unit_or_ask(message, context.services.resolver, argument, t, "bind:u", on=context.services.local_now().date())
    if unit is not None:
        await _bind(update, context, unit.id, unit.name)


async def bind_unit_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    unit = context.services.resolver.by_id(int(query.data.rsplit(":", 1)[1]))
    if unit is None or not _in_group(update) or not can(context.actor, Action.BIND_GROUP, unit.id):
        await query.answer(context.t("This button is no longer valid."), show_alert=True)
        return
    await query.answer()
    # Only once bound: pressed (forged) on another message, such as a letter's card, a refusal
    # must leave that message's buttons alone.
    if await _bind(update, context, unit.id, unit.name):
        await set_buttons(query, None)


async def _bind(update: Update, context: BotContext, unit_id: int, unit_name: str) -> bool:
    """Binds the group to the unit, or tells why not; True when bound."""
    t = context.t
    if not can(context.actor, Action.BIND_GROUP, unit_id):
        await update.effective_message.reply_text(t("You may bind a group only to your own unit."))
        return False
    services = context.services
    chat = update.effective_chat
    async with services.db.transaction() as session:
        current = await chat_unit(session, chat.id)
        taken = current is not None and current.id != unit_id and not can(context.actor, Action.BIND_GROUP, current.id)
        if not taken:
            await bind_chat(session, chat.id, chat.title or "", unit_id, context.actor.telegram_id, services.now())
    if taken:
        await update.effective_message.reply_text(t("This group is bound to {unit}; only its liaisons or an administrator may change that.", unit=esc(current.name)))
        return False
    await update.effective_message.reply_text(
        t("This group is now bound to {unit}. Its letters will also be sent here.", unit=esc(unit_name))
    )
    return True


async def unbind_command(update: Update, context: BotContext) -> None:
    t = context.t
    message = update.effective_message
    if not _in_group(update):
        await message.reply_text(t("Send /unbind in the group chat."))
        return
    services = context.services
    async with services.db.transaction() as session:
        unit = await chat_unit(session, update.effective_chat.id)
        allowed = unit is not None and can(context.actor, Action.BIND_GROUP, unit.id)
        if allowed:
            await unbind_chat(session, update.effective_chat.id)
    if unit is None:
        await message.reply_text(t("This group is not bound to any unit."))
    elif not allowed:
        await message.reply_text(t("Only administrators and the unit's liaisons may unbind this group."))
    else:
        await message.reply_text(t("This group is no longer bound to {unit}.", unit=esc(unit.name)))


def handlers() -> list:
    return [
        CommandHandler("bind", bind_command),
        CommandHandler("unbind", unbind_command),
        CallbackQueryHandler(bind_unit_button, pattern=r"^bind:u:\d{1,9}\Z"),
    ]
