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
LINES = 30  # a digest stays far below Telegram's 4096 characters; /mine and /overdue list the rest
# Letters a digest is recorded against, so a reply "12 已处理" to it finds letter 12: the ones it
# shows and, up to this many, the ones it counts. A province's 督办 can count a hundred thousand.
REMEMBERED = 1000
_IDS_PER_QUERY = 5000
SECTIONS = ((RED, N_("🔴 Overdue")), (YELLOW, N_("🟡 Due today or next working day")), (UNSIGNED, N_("⏰ Not yet signed for")))


async def _still_open(session, ids: list[int]) -> set[int]:
    """Which of these letters are still open; their numbers only, in pieces: only the letters a
    message shows are loaded (`_letters`), however many it counts."""
    found: set[int] = set()
    for start in range(0, len(ids), _IDS_PER_QUERY):
        piece = ids[start:start + _IDS_PER_QUERY]
        found.update((await session.scalars(select(Letter.id).where(Letter.id.in_(piece), Letter.status.in_(OPEN_STATUSES)))).all())
    return found


async def _letters(session, ids: list[int]) -> dict[int, Letter]:
    return {letter.id: letter for letter in (await session.scalars(select(Letter).where(Letter.id.in_(ids)))).all()}


def _line(letter: Letter, reason: str, overdue: int, services, t: Translator) -> str:
    title = esc(services.privacy.text(letter.title, names=(letter.sender_name,))[:40])
    due = letter.due_date.isoformat() if letter.due_date else "—"
    if letter.due_estimated:
        due = t("{date} (estimated)", date=due)
    if reason == RED:
        return t.ngettext(
            "#{id} {title} — due {date}, {days} working day overdue", "#{id} {title} — due {date}, {days} working days overdue",
            overdue, id=letter.id, title=title, date=due, days=overdue,
        )
    if reason == UNSIGNED:  # the 签收 limit is what is late or due today; the handling deadline follows
        sign_by = letter.accept_due.isoformat() if letter.accept_due else "—"
        return t("#{id} {title} — to be signed for by {sign_by}; due {date}", id=letter.id, title=title, sign_by=sign_by, date=due)
    return t("#{id} {title} — due {date}", id=letter.id, title=title, date=due)


def _stale(row, services) -> bool:
    """A digest held over (quiet hours, an outage) past its day: today's sweep says it afresh."""
    return row.payload.get("day") != services.local_now().date().isoformat()


async def digest(session, services, row, t: Translator) -> list[Send]:
    if _stale(row, services):
        return []
    items = row.payload["items"]
    still_open = await _still_open(session, [item[0] for item in items])
    sections = [(heading, [item for item in items if item[1] == reason and item[0] in still_open]) for reason, heading in SECTIONS]
    named = [letter_id for _, section in sections for letter_id, _, _ in section]
    if not named:
        return []
    shown = await _letters(session, named[:LINES])
    unit = await session.scalar(select(Unit.name).where(Unit.id == row.payload["unit"]))
    lines = [t("<b>📋 {unit}: reminder for {date}</b>", unit=esc(unit or ""), date=row.payload["day"])]
    buttons, position = [], 0
    for heading, section in sections:
        if not section:
            continue
        lines.append("\n" + t(heading))
        for letter_id, reason, overdue in section:
            position += 1
            if position <= LINES and letter_id in shown:
                lines.append(_line(shown[letter_id], reason, overdue, services, t))
            if len(buttons) < BUTTONS:
                action, label = ("accept", t("Sign for #{id}", id=letter_id)) if reason == UNSIGNED else ("done", t("Close #{id}", id=letter_id))
                buttons.append(InlineKeyboardButton(label, callback_data=f"letter:{action}:{letter_id}"))
    if len(named) > LINES:
        lines.append(t("…and {more} more: /mine lists them all.", more=len(named) - LINES))
    lines.append("\n" + t("Reply to this message with a letter's number and your answer to close it, e.g. “{id} 已处理完毕”.", id=named[0]))
    keyboard = InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])
    return [Send(row.chat_id, "\n".join(lines), keyboard, "digest", named[:REMEMBERED])]


async def escalation(session, services, row, t: Translator) -> list[Send]:
    if _stale(row, services):
        return []
    units = row.payload["units"]
    still_open = await _still_open(session, [item[0] for items in units.values() for item in items])
    present = {unit_id: [(i, o) for i, _, o in items if i in still_open] for unit_id, items in units.items()}
    named = [letter_id for items in present.values() for letter_id, _ in items]
    if not named:
        return []
    shown = await _letters(session, named[:LINES])
    names = dict((await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_([int(u) for u in units])))).all())
    lines = [t("<b>🚨 督办 {date}: letters overdue by {days} or more working days</b>", date=row.payload["day"], days=services.settings.escalate_after)]
    position = 0
    for unit_id, items in present.items():
        if not items:
            continue
        if position < LINES:
            lines.append(f"\n<b>{esc(names.get(int(unit_id), ''))}</b>")
        for letter_id, overdue in items:
            position += 1
            if position <= LINES and letter_id in shown:
                lines.append(_line(shown[letter_id], RED, overdue, services, t))
    if len(named) > LINES:
        lines.append("\n" + t("…and {more} more: /overdue lists them all.", more=len(named) - LINES))
    return [Send(row.chat_id, "\n".join(lines), None, "escalation", named[:REMEMBERED])]


def quarter_name(day: dt.date, t: Translator) -> str:
    return t("{year} Q{quarter}", year=day.year, quarter=(day.month - 1) // 3 + 1)


def figures_line(label: str, figures, t: Translator) -> str:
    rate = f"{figures.rate}%" if figures.rate is not None else "—"
    return t("{label}: {assigned} assigned, {done} closed, rate {rate}, {overdue} overdue",
             label=label, assigned=figures.assigned, done=figures.done, rate=rate, overdue=figures.overdue)


async def ranking(session, services, row, t: Translator) -> list[Send]:
    today = services.local_now().date()
    if row.payload.get("day") and dt.date.fromisoformat(row.payload["day"]).isocalendar()[:2] != today.isocalendar()[:2]:
        return []  # held over (quiet hours, an outage) into another week: that week's says it afresh
    # In a quarter's first week, the quarter just closed: its final figures, not a new one's first days.
    quarter = quarter_of(today)
    ranked = quarter.start - dt.timedelta(days=1) if (today - quarter.start).days < 7 else today
    result = await report(session, quarter_of(ranked), services.settings.tz, today)
    lines = [
        t("<b>📊 Handling of {quarter} (figures of {date})</b>", quarter=quarter_name(ranked, t), date=today.isoformat()),
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
