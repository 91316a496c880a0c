"""`python -m locales.sync`: extract every user-visible string from the code and bring both catalogs
up to date. New strings get an empty Chinese translation (the test suite then fails until someone
writes it) and, in English, the source text itself."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from locales import DOMAIN, LANGUAGES, LOCALES_DIR

ROOT = LOCALES_DIR.parent
SOURCES = ("bot", "handlers", "models", "scheduler", "locales")
KEYWORDS = {"_": None, "t": None, "N_": None, "ngettext": (1, 2), "N_plural": (1, 2)}


def extract() -> Catalog:
    template = Catalog(domain=DOMAIN)
    for folder in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            template.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments, context=context)
    return template


def po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def sync() -> None:
    template = extract()
    for language in LANGUAGES:
        path = po_path(language)
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if language == "en":
            for message in catalog:
                # A plural message's string is a tuple of forms, empty strings when new.
                empty = not message.string or (isinstance(message.string, tuple) and not any(message.string))
                if message.id and empty:
                    message.string = message.id
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)


if __name__ == "__main__":
    sync()
