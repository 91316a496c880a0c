"""Citizens' personal data as chat shows it. Telegram's servers are outside the mainland, so by
default (`PRIVACY=masked`) names, phone numbers and ID numbers are masked in every chat message;
the local database and API keep them whole."""

from __future__ import annotations

import re

# The numbers are found on a copy of the text with full-width digits, brackets, hyphens, spaces and
# plus signs made ASCII (one character for one, so positions agree), as a Chinese keyboard types
# them: １３８１２３４５６７８ is a phone number too. Each may be written in groups.
_ASCII = str.maketrans("０１２３４５６７８９（）－　＋ｘＸ", "0123456789()- +xX")
# A resident ID: 18 characters (the last may be X), or an old 15-digit one; the birth date hidden.
_ID_NUMBER = re.compile(r"(?<!\d)\d{6}[- ]?(?P<hide>\d{8})[- ]?\d{3}[\dXx](?![\dXx])|(?<!\d)\d{6}[- ]?(?P<old>\d{6})[- ]?\d{3}(?!\d)")
# A mobile number, 1[3-9] and nine more digits, +86 or not: its 4th to 7th digits hidden.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(?P<number>1[- ]?[3-9](?:[- ]?\d){9})(?!\d)")
# A landline with its area code, (0915)8812345 or 0915-8812345: all but its last four digits hidden.
_LANDLINE = re.compile(r"(?<!\d)\(?0\d{2,3}\)?[- ]?(?P<number>\d{7,8})(?!\d)")


def _id_digits(match: re.Match) -> list[int]:
    group = "hide" if match.group("hide") else "old"
    return list(range(match.start(group), match.end(group)))


def _mobile_digits(match: re.Match, probe: str) -> list[int]:
    return [i for i in range(match.start("number"), match.end("number")) if probe[i].isdigit()][3:7]


def _landline_digits(match: re.Match) -> list[int]:
    return list(range(match.start("number"), match.end("number") - 4))


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
    """Masks ID numbers and phone numbers anywhere in a text, each digit hidden by a *."""
    probe = text.translate(_ASCII)
    if not any(c.isdigit() for c in probe):
        return text
    hidden: list[int] = []
    for pattern, digits in ((_ID_NUMBER, _id_digits), (_MOBILE, lambda m: _mobile_digits(m, probe)), (_LANDLINE, _landline_digits)):
        found = {i for match in pattern.finditer(probe) for i in digits(match)}
        if found:  # hidden digits are no longer digits for the next kind of number
            hidden += found
            probe = "".join("*" if i in found else c for i, c in enumerate(probe))
    if not hidden:
        return text
    shown = list(text)
    for i in hidden:
        shown[i] = "*"
    return "".join(shown)


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
