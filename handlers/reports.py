"""/report [period]: the quarterly notice paragraph, the XLSX attachment table and the chart."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import CommandHandler

from bot.report_files import chart_bytes, notice_paragraph, workbook_bytes
from handlers.context import BotContext
from handlers.render import command_args, esc
from models.notice import notice
from models.periods import EXAMPLES, PeriodError, parse_period
from models.permissions import Action, can


async def report_command(update: Update, context: BotContext) -> None:
    t, services = context.t, context.services
    message = update.effective_message
    if not can(context.actor, Action.VIEW_ALL_LETTERS):
        await message.reply_text(t("Only administrators and leaders may do this."))
        return
    today = services.local_now().date()
    argument = command_args(message.text)
    try:
        period = parse_period(argument, today)
    except PeriodError:
        await message.reply_text(t(PeriodError.message, text=esc(argument), examples=EXAMPLES))
        return
    async with services.db.reading() as session:
        facts = await notice(session, period, services.settings.tz, today)
    # The files take a moment to draw; off the event loop, so the bot keeps answering others.
    workbook, chart = await asyncio.gather(
        asyncio.to_thread(workbook_bytes, facts, t, today), asyncio.to_thread(chart_bytes, facts, t)
    )
    await message.reply_text(esc(notice_paragraph(facts, t)))
    name = t("leader-mailbox-{start}-{end}", start=period.start.isoformat(), end=period.end.isoformat())
    await message.reply_document(workbook, filename=f"{name}.xlsx")
    await message.reply_photo(chart, filename=f"{name}.png")


def handlers() -> list:
    return [CommandHandler("report", report_command)]
