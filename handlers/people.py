"""/remove <person>: an admin takes a member's access away (a liaison who changed jobs), after a
confirmation. ADMIN_IDS admins cannot be removed here, and nobody removes themselves."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from handlers.context import BotContext
from handlers.menu import publish_member_menu
from handlers.render import command_args, esc, set_buttons
from handlers.start import role_label
from locales import Translator, language_for
from models.people import Removal, find_members, member_by_telegram_id, remove_member
from models.permissions import Action, Actor, can
from models.tables import Member, Role

log = logging.getLogger(__name__)
CHOICES_SHOWN = 8


def _who(member: Member, unit_name: str | None, t: Translator) -> str:
    role = Role(member.role) if member.role else Role.ADMIN  # only ADMIN_IDS admins are found without one
    return t("{name} ({role})", name=esc(member.full_name or member.telegram_id), role=role_label(role, unit_name, t))


async def remove_command(update: Update, context: BotContext) -> None:
    t, services = context.t, context.services
    message = update.effective_message
    if not can(context.actor, Action.INVITE):
        await message.reply_text(t("Only administrators may do this."))
        return
    argument = command_args(message.text)
    if not argument:
        await message.reply_text(esc(t("Usage: /remove <person>: a Telegram id, @username, or the name /units shows")))
        return
    async with services.db.reading() as session:
        members = await find_members(session, argument, services.settings.admin_ids)
        units = {u.id: u.name for u in services.unit_profiles}
    if not members:
        await message.reply_text(t("Nobody with a role matches “{text}”.", text=esc(argument)))
        return
    if len(members) > 1:
        rows = [[InlineKeyboardButton(_plain(m, units, t), callback_data=f"member:ask:{m.telegram_id}")] for m in members[:CHOICES_SHOWN]]
        await message.reply_text(t("Several people match “{text}”. Whom do you mean?", text=esc(argument)), reply_markup=InlineKeyboardMarkup(rows))
        return
    if members[0].telegram_id in services.settings.admin_ids:  # no confirmation for what cannot be done
        await message.reply_text(bootstrap_refusal(t))
        return
    await _confirm(message, members[0], units, t)


def bootstrap_refusal(t: Translator) -> str:
    return t("An administrator named in ADMIN_IDS cannot be removed here; the operator changes ADMIN_IDS.")


def _plain(member: Member, units: dict[int, str], t: Translator) -> str:
    """A button's label: plain text, not HTML."""
    role = Role(member.role) if member.role else Role.ADMIN  # only ADMIN_IDS admins are found without one
    label = role_label(role, units.get(member.unit_id), t).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return f"{member.full_name or member.telegram_id} · {label}"


async def _confirm(message, member: Member, units: dict[int, str], t: Translator) -> None:
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton(t("Remove"), callback_data=f"member:remove:{member.telegram_id}"),
        InlineKeyboardButton(t("Keep"), callback_data=f"member:keep:{member.telegram_id}"),
    ]])
    await message.reply_text(
        t("Remove {who}? They will no longer see or handle any letter. The letters and their history stay as they are.",
          who=_who(member, units.get(member.unit_id), t)),
        reply_markup=keyboard,
    )


async def member_button(update: Update, context: BotContext) -> None:
    t, services = context.t, context.services
    query = update.callback_query
    _, step, telegram_id = query.data.split(":")
    if not can(context.actor, Action.INVITE):
        await query.answer(t("Only administrators may do this."), show_alert=True)
        return
    units = {u.id: u.name for u in services.unit_profiles}
    if step == "keep":
        await query.answer(t("Nothing was changed."))
        await set_buttons(query, None)
        return
    if step == "ask":
        async with services.db.reading() as session:
            member = await member_by_telegram_id(session, int(telegram_id))
        if member is None or member.role is None:
            await query.answer(t("This button is no longer valid."), show_alert=True)
            return
        await query.answer()
        await set_buttons(query, None)
        await _confirm(query.message, member, units, t)
        return
    async with services.db.transaction() as session:
        result = await remove_member(session, context.actor, int(telegram_id), services.settings.admin_ids)
    await set_buttons(query, None)
    refusals = {
        Removal.BOOTSTRAP: bootstrap_refusal(t),
        Removal.YOURSELF: t("You cannot remove yourself; another administrator can."),
        Removal.NO_ROLE: t("This person has no role any more."),
        Removal.NOT_ALLOWED: t("Only administrators may do this."),
    }
    if result.outcome is not Removal.REMOVED:
        await query.answer(refusals[result.outcome], show_alert=True)
        return
    member = result.member
    who = t("{name} ({role})", name=esc(member.full_name or member.telegram_id), role=role_label(result.role, result.unit_name, t))
    log.info("%s removed %s (%s)", context.actor.telegram_id, member.telegram_id, result.role)
    await query.answer(t("Removed."))
    await query.message.reply_text(t("{who} was removed.", who=who))
    await _tell_removed(context, member)


async def _tell_removed(context: BotContext, member: Member) -> None:
    """The person's menu shrinks to /start, and they hear why; neither is needed for the removal."""
    language = language_for(member.language, member.telegram_language, context.services.settings.language)
    stranger = Actor(telegram_id=member.telegram_id, role=None)
    await publish_member_menu(context.bot, stranger, language)
    t = Translator(language)
    try:
        await context.bot.send_message(
            member.telegram_id,
            t("An administrator has withdrawn your access to the leader mailbox. If this is a mistake, ask the county information centre for a new invitation."),
        )
    except TelegramError as exc:
        log.info("could not tell %s of the removal: %s", member.telegram_id, exc)


def handlers() -> list:
    return [
        CommandHandler("remove", remove_command),
        CallbackQueryHandler(member_button, pattern=r"^member:(ask|remove|keep):\d{1,15}\Z"),
    ]
