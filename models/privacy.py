"""Citizens' personal data as chat shows it. Telegram's servers are outside the mainland, so by
default (`PRIVACY=masked`) names, phone numbers and ID numbers are masked in every chat message;
the local database and API keep them whole."""

from __future__ import annotations

import re

# An 18-digit resident ID (last character may be X) or an old 15-digit one, not inside a longer number.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8}|\d{6})(\d{3}[\dXx]|\d{1})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})([- ]?)(\d{3,4})(\d{4})(?!\d)")


def mask_name(name: str | None) -> str:
    """张三 → 张**: the surname only, and never the length of the given name."""
    name = (name or "").strip()
    return f"{name[0]}**" if name else ""


def mask_phone(phone: str | None) -> str:
    phone = (phone or "").strip()
    if not phone:
        return ""
    masked = mask_numbers(phone)
    if masked == phone and len(phone) > 4:  # an unusual form: keep only the last four
        return "*" * (len(phone) - 4) + phone[-4:]
    return masked


def mask_numbers(text: str) -> str:
    """Masks ID numbers and phone numbers anywhere in a text."""
    text = _ID_NUMBER.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3)[-4:].rjust(len(m.group(3)), "*"), text)
    text = _MOBILE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}{m.group(2)}{'*' * len(m.group(3))}{m.group(4)}", text)


class Privacy:
    """What chat may show, per the PRIVACY setting."""

    def __init__(self, mode: str = "masked"):
        self.masked = mode != "full"

    def name(self, value: str | None) -> str:
        return mask_name(value) if self.masked else (value or "").strip()

    def phone(self, value: str | None) -> str:
        return mask_phone(value) if self.masked else (value or "").strip()

    def text(self, value: str | None, *, names: tuple[str | None, ...] = ()) -> str:
        """Masks numbers, and the given people's names (the sender's) wherever the text repeats them."""
        value = value or ""
        if not self.masked:
            return value
        for name in names:
            name = (name or "").strip()
            if len(name) >= 2:
                value = value.replace(name, mask_name(name))
        return mask_numbers(value)
