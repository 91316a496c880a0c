"""How the sweep's messages read: a unit's digest, the leaders' 督办, the Monday ranking, and the
December reminder. Rendered when sent, in each reader's language, from the letters as they stand
then: a letter closed between the sweep and the sending is left out."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.render import esc
from locales import N_, Translator
from models.letters import OPEN_STATUSES
from models.stats import quarter_of, report
from models.tables import Letter, Unit
from scheduler.messages import Send
from scheduler.sweep import RED, UNSIGNED, YELLOW

BUTTONS = 8
LINES = 30  # a digest stays far below Telegram's 4096 characters; /mine and /overdue list everything
SECTIONS = ((RED, N_("🔴 Overdue")), (YELLOW, N_("🟡 Due today or next working day")), (UNSIGNED, N_("⏰ Not yet signed for")))


async def _open_letters(session, ids: list[int]) -> dict[int, Letter]:
    letters = (await session.scalars(select(Letter).where(Letter.id.in_(ids)))).all()
    return {letter.id: letter for letter in letters if letter.status in OPEN_STATUSES}


def _line(letter: Letter, reason: str, overdue: int, services, t: Translator) -> str:
    title = esc(services.privacy.text(letter.title, names=(letter.sender_name,))[:40])
    due = letter.due_date.isoformat() if letter.due_date else "—"
    if letter.due_estimated:
        due = t("{date} (estimated)", date=due)
    if reason == RED:
        return t("#{id} {title} — due {date}, {days} working days overdue", id=letter.id, title=title, date=due, days=overdue)
    if reason == UNSIGNED:
        return t("#{id} {title} — please sign for it (due {date})", id=letter.id, title=title, date=due)
    return t("#{id} {title} — due {date}", id=letter.id, title=title, date=due)


def _stale(row, services) -> bool:
    """A digest held over (quiet hours, an outage) past its day: today's sweep says it afresh."""
    return row.payload.get("day") != services.local_now().date().isoformat()


async def digest(session, services, row, t: Translator) -> list[Send]:
    if _stale(row, services):
        return []
    items = row.payload["items"]
    letters = await _open_letters(session, [item[0] for item in items])
    unit = await session.scalar(select(Unit.name).where(Unit.id == row.payload["unit"]))
    lines = [t("<b>📋 {unit}: reminder for {date}</b>", unit=esc(unit or ""), date=row.payload["day"])]
    buttons, named = [], []
    for reason, heading in SECTIONS:
        section = [(letters[i], r, o) for i, r, o in items if r == reason and i in letters]
        if not section:
            continue
        lines.append("\n" + t(heading))
        for letter, r, overdue in section:
            named.append(letter.id)
            if len(named) <= LINES:
                lines.append(_line(letter, r, overdue, services, t))
            if len(buttons) < BUTTONS:
                action, label = ("accept", t("Sign for #{id}", id=letter.id)) if r == UNSIGNED else ("done", t("Close #{id}", id=letter.id))
                buttons.append(InlineKeyboardButton(label, callback_data=f"letter:{action}:{letter.id}"))
    if not named:
        return []
    if len(named) > LINES:
        lines.append(t("…and {more} more: /mine lists them all.", more=len(named) - LINES))
    lines.append("\n" + t("Reply to this message with a letter's number and your answer to close it, e.g. “{id} 已处理完毕”.", id=named[0]))
    keyboard = InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])
    return [Send(row.chat_id, "\n".join(lines), keyboard, "digest", named)]


async def escalation(session, services, row, t: Translator) -> list[Send]:
    if _stale(row, services):
        return []
    units = row.payload["units"]
    ids = [item[0] for items in units.values() for item in items]
    letters = await _open_letters(session, ids)
    names = dict((await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_([int(u) for u in units])))).all())
    lines = [t("<b>🚨 督办 {date}: letters overdue by {days} or more working days</b>", date=row.payload["day"], days=services.settings.escalate_after)]
    named = []
    for unit_id, items in units.items():
        present = [(letters[i], o) for i, _, o in items if i in letters]
        if not present:
            continue
        if len(named) < LINES:
            lines.append(f"\n<b>{esc(names.get(int(unit_id), ''))}</b>")
        for letter, overdue in present:
            named.append(letter.id)
            if len(named) <= LINES:
                lines.append(_line(letter, RED, overdue, services, t))
    if not named:
        return []
    if len(named) > LINES:
        lines.append("\n" + t("…and {more} more: /overdue lists them all.", more=len(named) - LINES))
    return [Send(row.chat_id, "\n".join(lines), None, "escalation", named)]


def quarter_name(day: dt.date, t: Translator) -> str:
    return t("{year} Q{quarter}", year=day.year, quarter=(day.month - 1) // 3 + 1)


def figures_line(label: str, figures, t: Translator) -> str:
    rate = f"{figures.rate}%" if figures.rate is not None else "—"
    return t("{label}: {assigned} assigned, {done} closed, rate {rate}, {overdue} overdue",
             label=label, assigned=figures.assigned, done=figures.done, rate=rate, overdue=figures.overdue)


async def ranking(session, services, row, t: Translator) -> list[Send]:
    today = services.local_now().date()
    result = await report(session, quarter_of(today), services.settings.tz, today)
    lines = [
        t("<b>📊 Handling of {quarter} (figures of {date})</b>", quarter=quarter_name(today, t), date=today.isoformat()),
        figures_line(t("Total"), result.total, t),
        figures_line(t("Towns"), result.towns, t),
        figures_line(t("Departments"), result.departments, t),
    ]
    lowest = result.ranked()[:5]
    if lowest:
        lines.append("\n" + t("Lowest rates:"))
        lines += [f"{i}. " + figures_line(esc(u.name), u.figures, t) for i, u in enumerate(lowest, start=1)]
    return [Send(row.chat_id, "\n".join(lines))]


async def calendar_reminder(session, services, row, t: Translator) -> list[Send]:
    return [Send(row.chat_id, t(
        "📅 The official holiday calendar for {year} is not loaded. When the State Council publishes it, load it with "
        "`python -m bot holidays FILE` (one line per day: date,working|off,note). Until then, deadlines in {year} are estimated.",
        year=row.payload["year"],
    ))]


SWEEP_RENDERERS = {"digest": digest, "escalation": escalation, "ranking": ranking, "calendar_reminder": calendar_reminder}
