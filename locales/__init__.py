"""Gettext catalogs: zh_CN (the default) and en. The .po files are the source; they are compiled in
memory on first use, so there is no build step to forget and nothing is written next to them."""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent
DOMAIN = "messages"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def language_for(chosen: str | None, telegram_language: str | None, default: str) -> str:
    """The person's choice (/lang), else their Telegram app's language, else LANGUAGE."""
    if chosen in LANGUAGES:
        return chosen
    if telegram_language:
        code = telegram_language.lower()
        if code.startswith("zh"):
            return "zh_CN"
        if code.startswith("en"):
            return "en"
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


def parse_language(text: str) -> str | None:
    """What /lang accepts: zh, zh_CN, 中文, en, English…"""
    key = text.strip().lower().replace("-", "_")
    return {
        "zh": "zh_CN", "zh_cn": "zh_CN", "cn": "zh_CN", "中文": "zh_CN", "简体中文": "zh_CN",
        "en": "en", "english": "en", "英文": "en", "英语": "en",
    }.get(key)


class Translator:
    """`t("Hello {name}", name=...)`: gettext plus str.format, bound to one language."""

    def __init__(self, language: str):
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._catalog = translations(self.language)

    def __call__(self, message: str, /, **values: object) -> str:
        text = self._catalog.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text.format(n=n, **values)

    def refusal(self, refusal: Refusal) -> str:
        """A `Refusal` in this language, the refusals among its values (a reason inside a
        location) translated too."""
        values = {key: self.refusal(value) if isinstance(value, Refusal) else value for key, value in refusal.values.items()}
        return self(refusal.message, **values)


class Refusal(Exception):
    """Why something was not done, for its reader to read in their language: a msgid (marked with
    N_) and the values of its placeholders; `str()` gives the English, for logs."""

    def __init__(self, message: str, **values: object):
        super().__init__(message.format(**values) if values else message)
        self.message, self.values = message, values


def N_(message: str) -> str:
    """Marks a string for extraction where it is translated later (menus, tables)."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """`N_` for a message with a count: translated later with `Translator.ngettext`."""
    return singular, plural
