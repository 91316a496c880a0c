"""/remind (admins: run the reminder sweep now) and /holidays (the working-day calendar's sources)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from telegram import Update
from telegram.ext import CommandHandler

from handlers.context import BotContext
from locales import Translator
from models.holidays import Recounted, override_years, overruled_overrides
from models.permissions import Action, can
from scheduler.jobs import run_sweep
from scheduler.sweep import SweepResult
from scheduler.workdays import official_year


def sweep_summary(result: SweepResult, t: Translator) -> str:
    text = t(
        "Reminder sweep for {date}: {digests} unit digests with {letters} letters, {escalated} letters escalated to the leaders.",
        date=result.day.isoformat(), digests=result.digests, letters=result.letters, escalated=result.escalated,
    )
    if not result.digests and not result.escalated:
        text += "\n" + t("Nothing new to say today: every letter due a reminder has had it.")
    return text


async def remind_command(update: Update, context: BotContext) -> None:
    if not can(context.actor, Action.MANAGE_LETTERS):
        await update.effective_message.reply_text(context.t("Only administrators may do this."))
        return
    result = await run_sweep(context.services, automatic=False)
    await update.effective_message.reply_text(sweep_summary(result, context.t))


def calendar_lines(
    today: dt.date, overrides: dict[int, int], t: Translator, overruled: Sequence[tuple[dt.date, bool]] = (),
) -> list[str]:
    """The calendar's sources: the official years, the next years' state, and the loaded days that
    overrule the official data (`overruled`: day, working)."""
    first = next(year for year in range(2000, today.year + 2) if official_year(year))
    last = max(year for year in range(first, today.year + 3) if official_year(year))
    lines = [t("Official holiday calendar: {first}–{last}.", first=first, last=last)]
    for year in range(today.year, today.year + 2):
        if official_year(year):
            continue
        if year in overrides:
            lines.append(t.ngettext(
                "{year}: {count} day loaded by the admins; deadlines are marked estimated.",
                "{year}: {count} days loaded by the admins; deadlines are marked estimated.",
                overrides[year], year=year, count=overrides[year],
            ))
        else:
            lines.append(t("{year}: not loaded; statutory holidays and weekends are assumed, deadlines are marked estimated. Load the State Council's notice with `python -m bot holidays FILE`.", year=year))
    if overruled:
        days = " ".join(t("{date} working", date=day.isoformat()) if working else t("{date} off", date=day.isoformat()) for day, working in overruled)
        lines.append(t("Loaded days that overrule the official calendar: {days}.", days=days))
    return lines


RECOUNT_LINES = 30  # letters listed one by one; the rest counted


def recount_lines(recounted: Sequence[Recounted], t: Translator) -> list[str]:
    """What counting deadlines again changed, for the operator: each letter's deadline, old → new."""
    if not recounted:
        return [t("No open letter's deadline changed.")]
    lines = [t.ngettext("The deadline of {count} open letter was counted again:", "The deadlines of {count} open letters were counted again:",
                        len(recounted), count=len(recounted))]
    for each in recounted[:RECOUNT_LINES]:
        old, new = (t("{date} (estimated)", date=d.due_date.isoformat()) if d.estimated else d.due_date.isoformat() for d in (each.old, each.new))
        lines.append(t("#{id}: {old} → {new}", id=each.letter_id, old=old, new=new))
    if len(recounted) > RECOUNT_LINES:
        more = len(recounted) - RECOUNT_LINES
        lines.append(t.ngettext("… ({count} more line)", "… ({count} more lines)", more, count=more))
    return lines


async def holidays_command(update: Update, context: BotContext) -> None:
    if not can(context.actor, Action.VIEW_ALL_LETTERS):
        await update.effective_message.reply_text(context.t("Only administrators and leaders may do this."))
        return
    services = context.services
    async with services.db.reading() as session:
        overrides = await override_years(session)
        overruled = await overruled_overrides(session)
    await update.effective_message.reply_text("\n".join(calendar_lines(services.local_now().date(), overrides, context.t, overruled)))


def handlers() -> list:
    return [CommandHandler("remind", remind_command), CommandHandler("holidays", holidays_command)]
