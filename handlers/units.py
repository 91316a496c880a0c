"""/units: towns and departments, each with its liaisons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from handlers.context import BotContext
from handlers.render import chunks, esc
from locales import Translator
from models.permissions import Action, can
from models.tables import Member, Unit, UnitKind
from models.units import units_with_liaisons


def unit_lines(listing: list[tuple[Unit, list[Member]]], t: Translator, *, html: bool = True) -> list[str]:
    """The listing as lines: HTML for chat, plain text for the terminal."""
    quote = esc if html else str
    lines: list[str] = []
    for kind, heading in ((UnitKind.TOWN, t("Towns")), (UnitKind.DEPARTMENT, t("Departments"))):
        group = [(unit, liaisons) for unit, liaisons in listing if unit.kind == kind]
        if lines:
            lines.append("")
        lines.append(f"<b>{heading} ({len(group)})</b>" if html else f"{heading} ({len(group)})")
        for unit, liaisons in group:
            names = "、".join(quote(m.full_name or m.username or m.telegram_id) for m in liaisons)
            who = t("liaisons: {names}", names=names) if liaisons else t("no liaison yet")
            lines.append(f"{quote(unit.name)} — {who}")
    return lines


async def units_command(update: Update, context: BotContext) -> None:
    if not can(context.actor, Action.VIEW_UNITS):
        return
    async with context.services.db.transaction() as session:
        listing = await units_with_liaisons(session, context.services.local_now().date())
    for text in chunks(unit_lines(listing, context.t)):
        await update.effective_message.reply_text(text)


def handlers() -> list:
    return [CommandHandler("units", units_command)]
