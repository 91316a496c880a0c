"""An admin sends a .csv or .xlsx file: the letters in it are imported, all or nothing."""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from pathlib import Path

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import MessageHandler, filters

from handlers.context import BotContext
from handlers.render import chunks, esc
from locales import Translator
from models.importer import ImportReport, import_file, report_lines  # report_lines: with the report, for the CLI
from models.letters import Origin
from models.permissions import Action, can

log = logging.getLogger(__name__)
SHOWN_PROBLEMS = 30
SUFFIXES = (".csv", ".xlsx")


def problems_csv(report: ImportReport, t: Translator) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([t("line"), t("column"), t("problem")])
    for p in report.problems:
        writer.writerow([p.line, p.column, t(p.message, **p.values)])
    return buffer.getvalue().encode("utf-8-sig")  # with a BOM, so Excel opens it as UTF-8


async def receive_file(update: Update, context: BotContext) -> None:
    message = update.effective_message
    document = message.document
    t = context.t
    if not can(context.actor, Action.MANAGE_LETTERS):
        await message.reply_text(t("Only administrators may import letters."))
        return
    name = document.file_name or "letters"
    if not name.lower().endswith(SUFFIXES):
        await message.reply_text(t("To import letters, send a .csv or .xlsx file."))
        return
    services = context.services
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("upload" + Path(name).suffix.lower())
        try:
            telegram_file = await document.get_file()
            await telegram_file.download_to_drive(path)
        except TelegramError as exc:
            if "too big" in str(exc).lower():  # Telegram lets bots fetch 20 MB (a local Bot API server more)
                await message.reply_text(t(
                    "The file is too large for Telegram to hand to a bot (at most 20 MB). Split it, or import it on the server: python -m bot import FILE",
                ))
            else:  # the error's text may quote the file's URL, which holds the token: for the log only
                log.warning("downloading %s failed: %s", name, exc)
                await message.reply_text(t(
                    "I could not download the file from Telegram. Send it again in a while, or import it on the server: python -m bot import FILE",
                ))
            return
        origin = Origin("import", context.actor, message.chat_id)
        async with services.db.transaction() as session:
            report = await import_file(
                session, services.rules, path, origin, services.now(),
                tz=services.settings.tz, resolver=services.resolver, display_name=name,
            )
    services.notify()
    if report.imported:
        await services.db.tune()
    lines = [esc(line) for line in report_lines(report, t)]
    shown = lines[: SHOWN_PROBLEMS + 1]
    if len(lines) > len(shown):
        shown.append(t("…and {more} more problems: see the attached list.", more=len(lines) - len(shown)))
    for text in chunks(shown):
        await message.reply_text(text)
    if len(report.problems) > SHOWN_PROBLEMS:
        await message.reply_document(problems_csv(report, t), filename="problems.csv")


def handlers() -> list:
    return [MessageHandler(filters.Document.ALL & filters.ChatType.PRIVATE, receive_file)]
