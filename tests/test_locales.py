"""Every string a person reads is in both catalogs, translated, with the same placeholders."""

from __future__ import annotations

import re
import string

import pytest
from babel.messages.pofile import read_po

from locales import LANGUAGES, Translator, language_for, parse_language
from locales.sync import extract, po_path

PLACEHOLDER = string.Formatter()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in PLACEHOLDER.parse(text) if name}


def catalog(language: str):
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language):
    messages = {m.id: m.string for m in catalog(language) if m.id}
    missing, broken = [], []
    for message in extract():
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        translation = messages.get(message.id if isinstance(message.id, str) else message.id)
        if not translation or (isinstance(translation, tuple) and not all(translation)):
            missing.append(msgid)
            continue
        first = translation if isinstance(translation, str) else translation[0]
        if placeholders(first) != placeholders(msgid):
            broken.append((msgid, first))
    assert not missing, f"untranslated in {language} (run `python -m locales.sync`, then translate): {missing}"
    assert not broken, f"placeholders differ in {language}: {broken}"


def _first(text: str | tuple[str, ...]) -> str:
    """A message's text, or the first form of a plural one."""
    return text if isinstance(text, str) else text[0]


def test_chinese_is_really_chinese():
    copied = [
        m.id for m in catalog("zh_CN")
        if m.id and re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", _first(m.id)) and _first(m.string) == _first(m.id)
    ]
    assert not copied, f"English left in the Chinese catalog: {copied}"


def test_catalogs_hold_no_stale_messages():
    used = {m.id for m in extract() if m.id}
    for language in LANGUAGES:
        stale = {m.id for m in catalog(language) if m.id} - used
        assert not stale, f"{language} has messages no code uses: {stale}"


def test_translator_formats_and_falls_back():
    assert Translator("zh_CN")("Towns") == "镇"
    assert Translator("en")("Towns") == "Towns"
    assert Translator("fr")("Towns") == "镇"  # unknown language: the default
    assert "八仙镇" in Translator("zh_CN")("liaison of {unit}", unit="八仙镇")


@pytest.mark.parametrize(
    ("chosen", "telegram", "default", "expected"),
    [
        ("en", "zh-hans", "zh_CN", "en"),
        (None, "zh-hans", "en", "zh_CN"),
        (None, "en-GB", "zh_CN", "en"),
        (None, "ru", "zh_CN", "zh_CN"),
        (None, None, "en", "en"),
    ],
)
def test_language_choice_order(chosen, telegram, default, expected):
    assert language_for(chosen, telegram, default) == expected


def test_lang_arguments():
    assert parse_language("zh") == "zh_CN"
    assert parse_language(" EN ") == "en"
    assert parse_language("中文") == "zh_CN"
    assert parse_language("fr") is None


def test_markup_characters_only_where_the_code_escapes_them():
    """Replies use HTML: a message with < or & must be one the code passes through esc()
    (usage lines) — anything else would be refused by Telegram."""
    escaped_at_use = {"<unit>|leader|admin", "<id> <reason>", "[unit]", "<id>", "<id> <reply>", "<id> <days> <reason>", "<id> [unit]", "[unit|镇|部门] [period]", "[period]", "<person>"}
    for language in LANGUAGES:
        for message in catalog(language):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            texts = message.string if isinstance(message.string, tuple) else (message.string or "",)
            for text in (*ids, *texts):
                markup_free = re.sub(r"</?b>", "", text)
                if "<" in markup_free or "&" in markup_free:
                    assert ids[0].startswith("Usage:") or ids[0] in escaped_at_use, (language, message.id)


def test_plural_messages_have_every_form_with_the_same_placeholders():
    """English has a singular and a plural, Chinese one form; each form keeps the placeholders."""
    forms = {"en": 2, "zh_CN": 1}
    plurals = [m for m in extract() if isinstance(m.id, tuple)]
    assert plurals, "no message has a plural form"
    for language in LANGUAGES:
        translated = {m.id: m.string for m in catalog(language) if isinstance(m.id, tuple)}
        for message in plurals:
            strings = translated[message.id]
            assert len(strings) == forms[language] and all(strings), (language, message.id, strings)
            assert all(placeholders(s) == placeholders(message.id[1]) for s in strings), (language, message.id, strings)
    english = Translator("en")
    assert english.ngettext("{days} working day left", "{days} working days left", 1, days=1) == "1 working day left"
    assert english.ngettext("{days} working day left", "{days} working days left", 2, days=2) == "2 working days left"
    assert Translator("zh_CN").ngettext("{days} working day left", "{days} working days left", 1, days=1) == "还剩 1 个工作日"
