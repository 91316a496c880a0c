"""Reading: /letter <id> (the letter and its whole story), /mine (a liaison's open letters; an
admin's letters waiting for assignment), /overdue [unit]. Each message naming open letters is
recorded against them, so replying to it closes one."""

from __future__ import annotations

import re

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import CommandHandler

from handlers.cards import CONTENT_LIMIT, TITLE_LIMIT, card_for, local_time
from handlers.context import BotContext
from handlers.render import chunks, command_args, esc, pieces, unit_or_ask, utf16_length
from locales import N_, N_plural, Translator
from models.letters import get_letter
from models.permissions import Action, can
from models.queries import history, open_letters, overdue_letters, remember, waiting_letters
from models.tables import LetterStatus, Role

LIST_LIMIT = 40
ACTION_LABELS = {
    "received": N_("received"), "assigned": N_("assigned to {unit}"), "accepted": N_("signed for"),
    "done": N_("closed"), "returned": N_("returned: {reason}"), "invalidated": N_("marked invalid: {reason}"),
    "extended": N_("extended to {due}"),
    "extension_refused": N_("extension refused"), "reopened": N_("sent back for handling again: {reason}"),
    "deadline_recounted": N_("deadline counted again on the holiday calendar now loaded: {due}"),
}
# For an event without what its label names: a return imported from a file (which has no column
# for the reason), and letters that came with a unit or an invalid status before their events
# recorded the unit or the reason.
BARE_LABELS = {
    "assigned": ("unit", N_("assigned")), "returned": ("reason", N_("returned")), "invalidated": ("reason", N_("marked invalid")),
}
# Labels with a count, in the singular and the plural: (the count's key, singular, plural).
COUNTED_LABELS = {
    "extension_asked": ("days", *N_plural("asked for {days} more working day: {reason}", "asked for {days} more working days: {reason}")),
}
ORIGIN_LABELS = {"api": N_("the website (API)"), "cli": N_("the command line"), "import": N_("a file import"), "system": N_("the bot")}


def _may_read(context: BotContext, unit_id: int | None) -> bool:
    actor = context.actor
    return can(actor, Action.VIEW_ALL_LETTERS) or (unit_id is not None and can(actor, Action.HANDLE_UNIT_LETTERS, unit_id))


async def letter_command(update: Update, context: BotContext) -> None:
    t, services = context.t, context.services
    message = update.effective_message
    match = re.match(r"^#?(\d{1,9})$", command_args(message.text))
    if not match:
        await message.reply_text(esc(t("Usage: /letter <letter id>")))
        return
    letter_id = int(match.group(1))
    async with services.db.reading() as session:
        letter = await get_letter(session, letter_id)
        if letter is None or not _may_read(context, letter.unit_id):
            letter = None
        else:
            # Leaders read: the card without buttons or the unit's instructions.
            audience = {Role.ADMIN: "admin", Role.LEADER: "reader"}.get(context.actor.role, "card")
            text, keyboard = await card_for(session, services, letter, audience, t)
            events = await history(session, letter_id)
    if letter is None:
        await message.reply_text(t("There is no letter #{id} that you may see.", id=letter_id))
        return
    sent = [await message.reply_text(text, reply_markup=keyboard)]
    privacy = services.privacy
    # What the card shortened, in full: the title, the letter, the reply.
    for label, value, limit in (
        (N_("Title: {text}"), letter.title, TITLE_LIMIT), (None, letter.content, CONTENT_LIMIT), (N_("Reply: {text}"), letter.reply, CONTENT_LIMIT // 2),
    ):
        full = privacy.text(value, names=(letter.sender_name,))
        if utf16_length(full) > limit:
            # Cut the raw text, then escape: Telegram counts characters (UTF-16 code units) after
            # parsing the HTML.
            parts = [esc(piece) for piece in pieces(full, 3000)]
            if label is not None:
                parts[0] = t(label, text=parts[0])
            for part in chunks(parts, 3100):
                sent.append(await message.reply_text(part))
    story = [t("<b>History of letter #{id}</b>", id=letter_id)]
    def masked(text: str) -> str:  # reasons are free text: they may repeat the sender's name or number
        return privacy.text(text, names=(letter.sender_name,))

    story += [_event_line(event, name, title, t, services.settings.tz, masked) for event, name, title in events]
    for part in chunks(story):
        sent.append(await message.reply_text(part))
    async with services.db.transaction() as session:
        for each in sent:
            remember(session, [letter_id], each.chat_id, each.message_id, "detail", services.now())


def _event_line(event, name: str, chat_title: str, t: Translator, tz, masked) -> str:
    detail = {k: esc(masked(v) if k == "reason" and isinstance(v, str) else v) for k, v in (event.detail or {}).items()}
    label = ACTION_LABELS.get(event.action)
    needed, bare = BARE_LABELS.get(event.action, (None, None))
    if needed is not None and not detail.get(needed):
        label = bare
    values = {k: detail.get(k, "") for k in ("unit", "reason", "days", "due")}
    counted = COUNTED_LABELS.get(event.action)
    if counted is not None:
        key, singular, plural = counted
        count = (event.detail or {}).get(key)  # the stored number (values hold it escaped)
        what = t.ngettext(singular, plural, count if isinstance(count, int) else 0, **values)
    else:
        what = t(label, **values) if label else esc(event.action)
    who = esc(name) if name else t(ORIGIN_LABELS.get(event.actor_kind, "the bot"))
    if event.chat_id is None:
        where = ""
    elif event.chat_id == event.actor_id:
        where = t(" (private chat)")
    else:
        where = t(" (in {chat})", chat=esc(chat_title or event.chat_id))
    return t("{time} {who}{where}: {what}", time=local_time(event.at, tz), who=who, where=where, what=what)


def _due_note(letter, today, calendar, t: Translator) -> str:
    if letter.due_date is None:
        return ""
    if letter.due_date < today:
        days = calendar.workdays_between(letter.due_date, today)
        # On a day off after the deadline no working day has passed yet: late all the same.
        return t.ngettext("overdue by {days} working day", "overdue by {days} working days", days, days=days) if days else t("past its deadline")
    if letter.due_date == today:
        return t("due today")
    days = calendar.workdays_between(today, letter.due_date)
    return t.ngettext("{days} working day left", "{days} working days left", days, days=days)


def _list_title(letter, services) -> str:
    """A letter's title as a list line shows it: masked, cut, escaped."""
    return esc(services.privacy.text(letter.title, names=(letter.sender_name,))[:40])


def letter_lines(letters, services, t: Translator) -> list[str]:
    today = services.local_now().date()
    calendar = services.rules.deadlines.calendar
    lines = []
    for letter in letters:
        title = _list_title(letter, services)
        due = letter.due_date.isoformat() if letter.due_date else "—"
        lines.append(t("#{id} {title} — due {date} ({note})", id=letter.id, title=title, date=due, note=_due_note(letter, today, calendar, t)))
    return lines


async def _send_list(update: Update, context: BotContext, heading: str, letters, total: int) -> None:
    """`letters`: the first LIST_LIMIT of `total`."""
    services = context.services
    lines = [heading, *letter_lines(letters, services, context.t)]
    if total > len(letters):
        lines.append(context.t("…and {more} more.", more=total - len(letters)))
    if letters:
        lines.append(context.t("Reply to this message to close one of them; I will ask which."))
    for text in chunks(lines):
        sent = await update.effective_message.reply_text(text)
        async with services.db.transaction() as session:
            remember(session, [letter.id for letter in letters], sent.chat_id, sent.message_id, "list", services.now())


async def mine_command(update: Update, context: BotContext) -> None:
    actor, t = context.actor, context.t
    if actor.role is Role.ADMIN:
        if update.effective_chat.type == ChatType.PRIVATE:
            await _waiting(update, context)
        else:  # a unit's group is no place for every unit's letters
            await update.effective_message.reply_text(t("In a private chat with me, /mine lists the letters waiting for assignment."))
        return
    if actor.role is not Role.LIAISON or actor.unit_id is None:
        await update.effective_message.reply_text(t("/mine lists a liaison's open letters. Use /overdue to see what is late."))
        return
    async with context.services.db.reading() as session:
        letters, total = await open_letters(session, actor.unit_id, LIST_LIMIT)
    if not letters:
        await update.effective_message.reply_text(t("{unit} has no open letters.", unit=esc(actor.unit_name)))
        return
    await _send_list(update, context, t("<b>Open letters of {unit} ({count})</b>", unit=esc(actor.unit_name), count=total), letters, total)


async def _waiting(update: Update, context: BotContext) -> None:
    """An admin's /mine: what waits for them to assign, the longest waiting first. Not recorded
    against the letters: none of them is a unit's to close by a reply."""
    t, services = context.t, context.services
    async with services.db.reading() as session:
        letters, total = await waiting_letters(session, LIST_LIMIT)
    if not letters:
        await update.effective_message.reply_text(t("No letters are waiting for assignment."))
        return
    lines = [t("<b>Waiting for assignment ({count})</b>", count=total)]
    for letter in letters:
        title = _list_title(letter, services)
        received = local_time(letter.received_at, services.settings.tz)
        if letter.status == LetterStatus.RETURNED and letter.return_reason:
            reason = services.privacy.text(letter.return_reason, names=(letter.sender_name,))[:60]
            lines.append(t("#{id} {title} — returned: {reason}", id=letter.id, title=title, reason=esc(reason)))
        elif letter.status == LetterStatus.RETURNED:  # imported as returned: a file has no reason
            lines.append(t("#{id} {title} — returned", id=letter.id, title=title))
        else:
            lines.append(t("#{id} {title} — received {time}", id=letter.id, title=title, time=received))
    if total > len(letters):
        lines.append(t("…and {more} more.", more=total - len(letters)))
    lines.append(t("Send /assign and a number to assign one; the bot suggests units."))
    for text in chunks(lines):
        await update.effective_message.reply_text(text)


async def overdue_command(update: Update, context: BotContext) -> None:
    actor, t, services = context.actor, context.t, context.services
    argument = command_args(update.effective_message.text)
    unit_id = None
    if argument:
        unit = await unit_or_ask(update.effective_message, services.resolver, argument, t)
        if unit is None:
            return
        unit_id = unit.id
    if not can(actor, Action.VIEW_ALL_LETTERS):
        if can(actor, Action.HANDLE_UNIT_LETTERS, unit_id):  # a liaison, of a unit that still exists
            unit_id = actor.unit_id
        else:
            await update.effective_message.reply_text(t("You may see only your own unit's letters."))
            return
    today = services.local_now().date()
    async with services.db.reading() as session:
        rows, total = await overdue_letters(session, today, LIST_LIMIT, unit_id)
    if not rows:
        await update.effective_message.reply_text(t("Nothing is overdue."))
        return
    lines = [t("<b>Overdue letters ({count})</b>", count=total)]
    current = None
    for letter, unit in rows:
        if unit != current:
            lines.append(f"\n<b>{esc(unit)}</b>")
            current = unit
        lines.extend(letter_lines([letter], services, t))
    if total > len(rows):
        lines.append(t("…and {more} more.", more=total - len(rows)))
    for text in chunks(lines):
        sent = await update.effective_message.reply_text(text)
        async with services.db.transaction() as session:
            remember(session, [letter.id for letter, _ in rows], sent.chat_id, sent.message_id, "list", services.now())


def handlers() -> list:
    return [
        CommandHandler("letter", letter_command),
        CommandHandler("mine", mine_command),
        CommandHandler("overdue", overdue_command),
    ]
