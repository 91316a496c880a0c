"""Small helpers for what handlers show: escaping, long texts, and the "which unit?" buttons."""

from __future__ import annotations

import datetime as dt
import re
from html import escape, unescape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from locales import Translator
from models.unit_resolver import Resolution

MESSAGE_LIMIT = 4096
CHOICE_LIMIT = 8


def esc(value: object) -> str:
    """Everything that did not come from locales/ goes through here before HTML parse mode."""
    return escape(str(value), quote=False)


_TAG = re.compile(r"</?[a-z][^>]*>")


def plain(html_text: str) -> str:
    """A message written for HTML as plain text, for what Telegram shows as is (a button's
    answer): tags dropped, entities back to their characters."""
    return unescape(_TAG.sub("", html_text))


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji such as 😀 counts two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def pieces(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` UTF-16 code units, never inside a character."""
    parts: list[str] = []
    start = size = 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > limit:
            parts.append(text[start:index])
            start, size = index, 0
        size += width
    if start < len(text):
        parts.append(text[start:])
    return parts


def chunks(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Joins lines into as few messages as fit Telegram's length limit (in UTF-16 code units),
    never splitting a line (cutting escaped HTML could leave half an entity; callers keep each
    line short enough)."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = utf16_length(line)
        if current and size + length + 1 > limit:
            messages.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += length + 1
    if current:
        messages.append("\n".join(current))
    return messages


def command_args(text: str | None) -> str:
    """Everything after the command word, as typed (context.args would lose the spacing)."""
    if not text:
        return ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def unit_choice(resolution: Resolution, namespace: str, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    """The question and buttons for an ambiguous unit. Buttons carry `<namespace>:<unit id>`."""
    shown = resolution.matches[:CHOICE_LIMIT]
    text = t("“{query}” fits {count} units. Which one?", query=esc(resolution.query), count=len(resolution.matches))
    if len(resolution.matches) > CHOICE_LIMIT:
        text += "\n" + t("Showing the first {shown}; type more of the name to narrow it down.", shown=len(shown))
    rows = [[InlineKeyboardButton(u.name, callback_data=f"{namespace}:{u.id}")] for u in shown]
    return text, InlineKeyboardMarkup(rows)


def unit_not_found(query: str, t: Translator) -> str:
    return t("No unit matches “{query}”. /units lists them all.", query=esc(query))


async def set_buttons(query, keyboard) -> None:
    """Replace a message's buttons; "not modified" (a double press) is no error."""
    from telegram.error import BadRequest

    try:
        await query.edit_message_reply_markup(keyboard)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def unit_or_ask(message, resolver, text: str, t: Translator, namespace: str | None = None, on: dt.date | None = None):
    """The one unit `text` names (for new work `on` a day: the unit that takes letters then, see
    `UnitResolver.resolve_on`). Otherwise the person is asked which (with buttons carrying
    `<namespace>:<unit id>` when the caller can take the answer) or told none fits; None then."""
    resolution = resolver.resolve(text) if on is None else resolver.resolve_on(text, on)
    if resolution.unit is not None:
        return resolution.unit
    if not resolution.ambiguous and resolution.retired:
        await message.reply_text(t("{unit} takes no letters on {date}.", unit=esc(resolution.retired[0].name), date=on.isoformat()))
    elif not resolution.ambiguous:
        await message.reply_text(unit_not_found(text, t))
    elif namespace:
        question, keyboard = unit_choice(resolution, namespace, t)
        await message.reply_text(question, reply_markup=keyboard)
    else:
        names = "、".join(esc(u.name) for u in resolution.matches[:CHOICE_LIMIT])
        await message.reply_text(t("“{query}” fits {count} units. Which one?", query=esc(text), count=len(resolution.matches)) + "\n" + names)
    return None
