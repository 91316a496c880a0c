"""How a letter looks in chat: the admins' card, the unit's card, and the words for its state.
Citizen text is masked per PRIVACY and always escaped; long content is shortened with a note."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.render import esc, pieces, utf16_length
from locales import N_, Translator
from models.handling import person_name
from models.letters import LetterError, unit_name
from models.privacy import Privacy
from models.routing import UnitProfile, suggest_units
from models.tables import Letter, LetterStatus
from models.unit_resolver import takes_letters

# Characters on a card, so the longest card stays well under Telegram's 4096; /letter shows all.
CONTENT_LIMIT = 1500
TITLE_LIMIT = 200
REASON_LIMIT = 300

STATUS_LABELS = {
    LetterStatus.NEW: N_("awaiting assignment"),
    LetterStatus.ASSIGNED: N_("assigned, not yet signed for"),
    LetterStatus.ACCEPTED: N_("signed for, being handled"),
    LetterStatus.DONE: N_("closed"),
    LetterStatus.RETURNED: N_("returned by the unit"),
    LetterStatus.INVALID: N_("invalid"),
}
TYPE_LABELS = {"咨询": N_("consultation"), "求助": N_("request for help"), "建议": N_("suggestion"), "投诉": N_("complaint"), "举报": N_("report of wrongdoing")}


def status_label(status: str, t: Translator) -> str:
    return t(STATUS_LABELS[LetterStatus(status)])


def local_time(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "—"


def shortened(text: str, limit: int, t: Translator) -> str:
    """Cut before escaping, so no entity is ever cut in half; `limit` counts as Telegram counts
    (UTF-16 code units: an emoji is two)."""
    if utf16_length(text) <= limit:
        return esc(text)
    return esc(pieces(text, limit)[0].rstrip()) + "…\n" + t("(shortened: {total} characters in all; /letter shows the full text)", total=len(text))


def letter_body(letter: Letter, unit: str | None, t: Translator, privacy: Privacy, tz: ZoneInfo, people: Mapping[int, str] | None = None) -> str:
    people = people or {}
    sender = (letter.sender_name,)
    lines = [f"<b>{shortened(privacy.text(letter.title, names=sender), TITLE_LIMIT, t)}</b>"]
    facts = [t("Received {time}", time=local_time(letter.received_at, tz))]
    if letter.type:
        facts.append(t(TYPE_LABELS.get(letter.type, letter.type)))
    lines.append(" · ".join(facts))
    who = " ".join(p for p in (privacy.name(letter.sender_name), privacy.phone(letter.sender_phone)) if p)
    if who:
        lines.append(t("From: {sender}", sender=esc(who)))
    state = status_label(letter.status, t)
    if unit:
        state = t("{state} — {unit}", state=state, unit=esc(unit))
    lines.append(t("Status: {state}", state=state))
    if letter.due_date and letter.status in (LetterStatus.ASSIGNED, LetterStatus.ACCEPTED):
        due = letter.due_date.isoformat()
        lines.append(t("Due: {date} (estimated)", date=due) if letter.due_estimated else t("Due: {date}", date=due))
    if letter.status == LetterStatus.INVALID and letter.invalid_reason:
        lines.append(t("Reason: {reason}", reason=shortened(privacy.text(letter.invalid_reason, names=sender), REASON_LIMIT, t)))
    if letter.status == LetterStatus.RETURNED and letter.return_reason:
        lines.append(t("Returned because: {reason}", reason=shortened(privacy.text(letter.return_reason, names=sender), REASON_LIMIT, t)))
    if letter.status == LetterStatus.ACCEPTED and letter.accepted_at:
        lines.append(t("Signed for by {name} at {time}", name=esc(people.get(letter.accepted_by, "—")), time=local_time(letter.accepted_at, tz)))
    if letter.status == LetterStatus.DONE:
        lines.append(t("Closed by {name} at {time}", name=esc(people.get(letter.closed_by, "—")), time=local_time(letter.done_at, tz)))
        if letter.reply:
            lines.append(t("Reply: {reply}", reply=shortened(privacy.text(letter.reply, names=sender), CONTENT_LIMIT // 2, t)))
    if letter.extensions:
        lines.append(t.ngettext("Extended {count} time", "Extended {count} times", letter.extensions, count=letter.extensions))
    if letter.content:
        lines.append("")
        lines.append(shortened(privacy.text(letter.content, names=sender), CONTENT_LIMIT, t))
    return "\n".join(lines)


def reader_card(letter: Letter, unit: str | None, t: Translator, privacy: Privacy, tz: ZoneInfo, people: Mapping[int, str] | None = None) -> str:
    """The letter as someone who reads it sees it (a leader; the admins, before their buttons):
    whatever its state, with nothing to do on it."""
    heading = t("📨 Letter #{id}", id=letter.id)
    if letter.external_id:
        heading += t(" (website no. {number})", number=esc(letter.external_id))
    return heading + "\n" + letter_body(letter, unit, t, privacy, tz, people)


def admin_card(
    letter: Letter, unit: str | None, units: list[UnitProfile], t: Translator, privacy: Privacy, tz: ZoneInfo,
    people: Mapping[int, str] | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    text = reader_card(letter, unit, t, privacy, tz, people)
    if letter.status == LetterStatus.DONE:
        return text, InlineKeyboardMarkup([[InlineKeyboardButton(t("Reopen…"), callback_data=f"letter:reopen:{letter.id}")]])
    if letter.status not in (LetterStatus.NEW, LetterStatus.RETURNED):
        return text, None
    suggestions = suggest_units(f"{letter.title}\n{letter.content}", units, exclude=letter.unit_id)
    rows = [[InlineKeyboardButton(t("Assign to {unit}", unit=u.name), callback_data=f"letter:assign:{letter.id}:{u.id}")] for u in suggestions]
    rows.append([
        InlineKeyboardButton(t("Another unit…"), callback_data=f"letter:units:{letter.id}:0"),
        InlineKeyboardButton(t("Invalid…"), callback_data=f"letter:invalid:{letter.id}"),
    ])
    return text, InlineKeyboardMarkup(rows)


def unit_card(
    letter: Letter, unit: str | None, t: Translator, privacy: Privacy, tz: ZoneInfo, people: Mapping[int, str] | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    text = t("📬 Letter #{id} for {unit}", id=letter.id, unit=esc(unit or "")) + "\n" + letter_body(letter, unit, t, privacy, tz, people)
    if letter.status == LetterStatus.ASSIGNED:
        text += "\n\n" + t("Reply to this message with your answer to close the letter.")
        buttons = [
            InlineKeyboardButton(t("Sign for"), callback_data=f"letter:accept:{letter.id}"),
            InlineKeyboardButton(t("Return"), callback_data=f"letter:return:{letter.id}"),
        ]
    elif letter.status == LetterStatus.ACCEPTED:
        text += "\n\n" + t("Reply to this message with your answer to close the letter.")
        buttons = [InlineKeyboardButton(t("Return"), callback_data=f"letter:return:{letter.id}")]
    else:
        return text, None
    buttons.append(InlineKeyboardButton(t("Close"), callback_data=f"letter:done:{letter.id}"))
    buttons.append(InlineKeyboardButton(t("Ask for more time"), callback_data=f"letter:extend:{letter.id}"))
    return text, InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def shown(value: object, t: Translator, tz: ZoneInfo, key: str = "") -> str:
    """A value inside a message: statuses as their labels, times local, everything escaped."""
    if key == "status" and value in STATUS_LABELS:
        return status_label(value, t)
    if isinstance(value, dt.datetime):
        return local_time(value, tz)
    if isinstance(value, dt.date):
        return value.isoformat()
    return esc(value)


def refusal(error: LetterError, t: Translator, tz: ZoneInfo) -> str:
    """A domain refusal in the reader's words."""
    return t(error.message, **{k: shown(v, t, tz, k) for k, v in error.values.items()})


async def card_for(session, services, letter: Letter, audience: str, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    """The card as `audience` ("admin", "reader" (a leader) or "card", the unit's) sees it now."""
    unit = await unit_name(session, letter.unit_id)
    people = {}
    for telegram_id in {letter.accepted_by, letter.closed_by} - {None}:
        people[telegram_id] = await person_name(session, telegram_id)
    settings = services.settings
    if audience == "admin":
        today = services.local_now().date()  # suggested: the units that take letters today
        units = [u for u in services.unit_profiles if takes_letters(u, today)]
        return admin_card(letter, unit, units, t, services.privacy, settings.tz, people)
    if audience == "reader":
        return reader_card(letter, unit, t, services.privacy, settings.tz, people), None
    return unit_card(letter, unit, t, services.privacy, settings.tz, people)
