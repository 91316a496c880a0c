"""/start (with or without an invitation code) and /help."""

from __future__ import annotations

import logging
import re

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler

from handlers.context import BotContext, explain_to_stranger, person_of
from handlers.menu import commands_for, publish_member_menu
from handlers.render import esc
from locales import Translator, language_for
from models.people import Redeemed, actor_for, member_by_telegram_id, redeem_invitation
from models.permissions import Actor
from models.tables import Role

log = logging.getLogger(__name__)
CODE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def role_label(actor_role: Role | None, unit_name: str | None, t: Translator) -> str:
    if actor_role is Role.ADMIN:
        return t("administrator of the information centre")
    if actor_role is Role.LEADER:
        return t("county leader")
    if actor_role is Role.LIAISON:
        return t("liaison of {unit}", unit=esc(unit_name or "?"))
    return t("not yet invited")


async def start(update: Update, context: BotContext) -> None:
    code = context.args[0] if context.args else ""
    if code:
        await _join(update, context, code)
        return
    actor = context.actor
    if actor is None or actor.is_stranger:
        await explain_to_stranger(update, context)
        return
    await update.effective_message.reply_text(
        context.t("Hello, {name}. You are {role}.", name=esc(actor.full_name), role=role_label(actor.role, actor.unit_name, context.t))
        + "\n\n" + _help_text(actor, context.t)
    )


async def _join(update: Update, context: BotContext, code: str) -> None:
    t = context.t
    message = update.effective_message
    if update.effective_chat.type != "private":
        await message.reply_text(t("Open the invitation link in a private chat with me."))
        return
    services = context.services
    person = person_of(update)
    outcome = None
    if CODE_SHAPE.match(code):
        async with services.db.transaction() as session:
            outcome = await redeem_invitation(session, code, person, services.now(), services.settings.admin_ids)
            member = await member_by_telegram_id(session, person.telegram_id)
            actor = await actor_for(session, member, person.telegram_id, services.settings.admin_ids)
    if outcome is None or outcome.outcome is Redeemed.UNKNOWN:
        await message.reply_text(t("This invitation link is not valid. Ask an administrator for a new one."))
        return
    if outcome.outcome is Redeemed.USED:
        await message.reply_text(t("This invitation link has already been used. Ask an administrator for a new one."))
        return
    if outcome.outcome is Redeemed.EXPIRED:
        await message.reply_text(t("This invitation link has expired. Ask an administrator for a new one."))
        return
    if outcome.outcome is Redeemed.REVOKED:
        await message.reply_text(t("This invitation link is no longer valid: whoever made it no longer administers the bot. Ask an administrator for a new one."))
        return
    if outcome.outcome is Redeemed.ALREADY:
        await message.reply_text(t("You are already {role}.", role=role_label(actor.role, actor.unit_name, t)))
        return
    context.actor = actor
    language = language_for(actor.language, person.language_code, services.settings.language)
    context.t = t = Translator(language)
    await message.reply_text(
        t("Welcome, {name}. You are now {role}.", name=esc(person.full_name), role=role_label(actor.role, actor.unit_name, t))
        + "\n\n" + _help_text(actor, t)
    )
    await publish_member_menu(context.bot, actor, language)
    if outcome.invited_by:
        await _tell_inviter(context, outcome.invited_by, person.full_name, actor)


async def _tell_inviter(context: BotContext, inviter_id: int, name: str, actor: Actor) -> None:
    services = context.services
    async with services.db.transaction() as session:
        inviter = await member_by_telegram_id(session, inviter_id)
    t = Translator(language_for(inviter.language if inviter else None, inviter.telegram_language if inviter else None, services.settings.language))
    try:
        await context.bot.send_message(
            inviter_id, t("{name} has joined as {role}.", name=esc(name), role=role_label(actor.role, actor.unit_name, t))
        )
    except TelegramError as exc:  # the join stands; the inviter just does not hear of it
        log.info("could not tell inviter %s: %s", inviter_id, exc)


def _help_text(actor: Actor, t: Translator) -> str:
    lines = [t("What you can do:")]
    for command in commands_for(actor.role):
        usage = f" {esc(t(command.usage))}" if command.usage else ""
        lines.append(f"/{command.name}{usage} — {t(command.description)}")
    return "\n".join(lines)


async def help_command(update: Update, context: BotContext) -> None:
    await update.effective_message.reply_text(_help_text(context.actor, context.t))


def handlers() -> list:
    return [CommandHandler("start", start), CommandHandler("help", help_command)]
