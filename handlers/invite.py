"""/invite <unit>|leader|admin: a one-time deep link."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from handlers.context import BotContext
from handlers.render import command_args, esc, set_buttons, unit_or_ask
from models.people import INVITATION_TTL, create_invitation
from models.permissions import Action, can
from models.tables import Role

ROLE_WORDS = {
    "leader": Role.LEADER, "领导": Role.LEADER, "县领导": Role.LEADER,
    "admin": Role.ADMIN, "管理员": Role.ADMIN,
}


async def invite_command(update: Update, context: BotContext) -> None:
    t = context.t
    message = update.effective_message
    if not can(context.actor, Action.INVITE):
        await message.reply_text(t("Only administrators may invite people."))
        return
    if message.chat.type != "private":
        await message.reply_text(t("Invitation links are personal: ask me for one in a private chat."))
        return
    argument = command_args(message.text)
    if not argument:
        await message.reply_text(esc(t("Usage: /invite <unit>, /invite leader or /invite admin")))
        return
    role = ROLE_WORDS.get(argument.lower())
    if role is not None:
        await _send_invitation(update, context, role, None, None)
        return
    unit = await unit_or_ask(message, context.services.resolver, argument, t, "invite:u", on=context.services.local_now().date())
    if unit is not None:
        await _send_invitation(update, context, Role.LIAISON, unit.id, unit.name)


async def invite_unit_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    unit = context.services.resolver.by_id(int(query.data.rsplit(":", 1)[1]))
    if not can(context.actor, Action.INVITE) or unit is None:
        await query.answer(context.t("This button is no longer valid."), show_alert=True)
        return
    await query.answer()
    await set_buttons(query, None)
    await _send_invitation(update, context, Role.LIAISON, unit.id, unit.name)


async def _send_invitation(update: Update, context: BotContext, role: Role, unit_id: int | None, unit_name: str | None) -> None:
    t = context.t
    services = context.services
    async with services.db.transaction() as session:
        code = await create_invitation(session, role, context.actor.telegram_id, services.now(), unit_id)
    link = f"https://t.me/{services.bot_username}?start={code}"
    if role is Role.LIAISON:
        who = t("a liaison of {unit}", unit=esc(unit_name))
    elif role is Role.LEADER:
        who = t("a county leader")
    else:
        who = t("an administrator")
    await update.effective_message.reply_text(
        t(
            "Invitation for {who}:\n{link}\n\nSend this link to that person only. It works once and expires in {days} days.",
            who=who, link=esc(link), days=INVITATION_TTL.days,
        )
    )


def handlers() -> list:
    return [
        CommandHandler("invite", invite_command),
        CallbackQueryHandler(invite_unit_button, pattern=r"^invite:u:\d{1,9}\Z"),
    ]
