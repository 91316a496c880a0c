"""What the delivery loop does for a queued row: send a new message, or edit one."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardMarkup


@dataclass
class Send:
    chat_id: int
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    purpose: str | None = None  # recorded in letter_messages when set
    letter_ids: list[int] | None = None  # the letters it names, when not just the row's letter


@dataclass
class Edit:
    chat_id: int
    message_id: int
    text: str
    keyboard: InlineKeyboardMarkup | None = None
