"""/rate: handling rates for a unit, a group, or everyone, for a period (the current quarter if
none). Leaders and admins see every unit; a liaison sees their own unit."""

from __future__ import annotations

import datetime as dt

from telegram import Update
from telegram.ext import CommandHandler

from handlers.context import BotContext
from handlers.render import chunks, command_args, esc, unit_or_ask
from locales import Translator
from models.periods import EXAMPLES, PeriodError, describe, split_period
from models.permissions import Action, can
from models.stats import Figures, Report, report
from models.tables import Role, UnitKind

GROUP_WORDS = {
    "镇": UnitKind.TOWN, "各镇": UnitKind.TOWN, "towns": UnitKind.TOWN, "town": UnitKind.TOWN,
    "部门": UnitKind.DEPARTMENT, "各部门": UnitKind.DEPARTMENT, "departments": UnitKind.DEPARTMENT, "department": UnitKind.DEPARTMENT,
}


def _rate(value) -> str:
    return f"{value}%" if value is not None else "—"


def summary_line(label: str, figures: Figures, t: Translator) -> str:
    return t("{label}: {assigned} assigned · {done} closed · {rate} · {overdue} overdue",
             label=label, assigned=figures.assigned, done=figures.done, rate=_rate(figures.rate), overdue=figures.overdue)


def unit_details(name: str, figures: Figures, t: Translator) -> list[str]:
    average = figures.average_workdays
    return [
        t("Assigned {assigned}, closed {done}, handling rate {rate}", assigned=figures.assigned, done=figures.done, rate=_rate(figures.rate)),
        t("Closed on time {on_time}, on-time rate {rate}", on_time=figures.on_time, rate=_rate(figures.on_time_rate)),
        t("Open {open}, overdue {overdue}, average {days} working days to close",
          open=figures.open, overdue=figures.overdue, days=average if average is not None else "—"),
    ]


def rate_lines(result: Report, t: Translator, as_of: dt.date, *, unit_id: int | None = None, kind: str | None = None) -> list[str]:
    """The answer to /rate, as lines (chat escapes them in its caller; the CLI prints them)."""
    heading = t("Handling rates, {period}; figures of {date}", period=describe(result.period, t), date=as_of.isoformat())
    if unit_id is not None:
        unit = next((u for u in result.units if u.unit_id == unit_id), None)
        if unit is None:
            return [heading, t("No letters were assigned in this period.")]
        return [f"{unit.name} · {heading}", *unit_details(unit.name, unit.figures, t)]
    lines = [heading]
    if kind is None:
        lines += [summary_line(t("Total"), result.total, t), summary_line(t("Towns"), result.towns, t),
                  summary_line(t("Departments"), result.departments, t)]
    else:
        lines.append(summary_line(t("Towns") if kind == UnitKind.TOWN else t("Departments"),
                                  result.towns if kind == UnitKind.TOWN else result.departments, t))
    ranked = [u for u in result.ranked() if kind is None or u.kind == kind]
    if ranked:
        # Every unit of the answer: the ranked ones, then those assigned nothing (交办 0, rate —).
        listed = ranked + [u for u in result.without_letters() if kind is None or u.kind == kind]
        lines.append("")
        lines.append(t("By unit, the lowest rate first:"))
        lines += [f"{i}. " + summary_line(u.name, u.figures, t) for i, u in enumerate(listed, start=1)]
    else:
        lines.append(t("No letters were assigned in this period."))
    return lines


async def rate_command(update: Update, context: BotContext) -> None:
    actor, t, services = context.actor, context.t, context.services
    message = update.effective_message
    if not can(actor, Action.VIEW_STATS):
        await message.reply_text(t("You may not see these figures."))
        return
    today = services.local_now().date()
    try:
        target, period = split_period(command_args(message.text), today)
    except PeriodError as exc:
        await message.reply_text(t(PeriodError.message, text=esc(str(exc)), examples=EXAMPLES))
        return
    unit_id, kind = None, None
    if target:
        kind = GROUP_WORDS.get(target.lower())
        if kind is None:
            unit = await unit_or_ask(message, services.resolver, target, t)
            if unit is None:
                return
            unit_id = unit.id
    if actor.role is Role.LIAISON:
        if actor.unit_id is None or unit_id not in (None, actor.unit_id) or kind is not None:
            await message.reply_text(t("You may see only your own unit's figures."))
            return
        unit_id = actor.unit_id
    async with services.db.single_read() as session:  # with the units at hand, one SELECT
        result = await report(session, period, services.settings.tz, today, services.unit_rows())
    lines = [esc(line) for line in rate_lines(result, t, today, unit_id=unit_id, kind=kind)]
    lines[0] = f"<b>{lines[0]}</b>"
    for text in chunks(lines):
        await message.reply_text(text)


def handlers() -> list:
    return [CommandHandler("rate", rate_command)]
