"""argparse in the bot's languages: its own words ("usage:", "options", its error messages) from
the project's catalogs, and the names it shows for the arguments.

argparse asks `gettext` for its words through the module-level names `argparse._` and
`argparse.ngettext`; `speaking(language)` points them at the catalog while a parser is built and
reads its arguments, and puts them back afterwards. The catalogs hold argparse's msgids exactly
as it writes them (`%`-placeholders, filled by argparse).
"""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from locales import N_, N_plural, Translator, translations

# argparse's messages that the bot's parsers can show (Python 3.11's wording).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("unrecognized arguments: %s"),
    N_("the following arguments are required: %s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ignored explicit argument %r"),
)
ARGPARSE_PLURALS = (N_plural("expected %s argument", "expected %s arguments"),)

# The names shown for the values the verbs take (by their `dest`), as PRODUCT.md writes them.
SHOWN_NAMES = {
    "verb": N_("VERB"),
    "who": N_("UNIT|leader|admin"),
    "file": N_("FILE"),
    "url": N_("URL"),
    "unit": N_("UNIT"),
    "period": N_("P"),
    "out": N_("DIR"),
}


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """argparse's own words in `language` while the block builds a parser and parses."""
    catalog = translations(language)
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]

    def gettext(message: object) -> object:
        return catalog.gettext(message) if isinstance(message, str) else message

    argparse._, argparse.ngettext = gettext, catalog.ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def localise(parser: argparse.ArgumentParser, t: Translator) -> argparse.ArgumentParser:
    """Gives the parser's (and its verbs') values the names of SHOWN_NAMES in t's language, in the
    help and in argparse's errors alike (a value named already keeps its name), and a help layout
    that lines up Chinese."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:  # noqa: SLF001 (argparse lists its arguments only there)
        shown = SHOWN_NAMES.get(action.dest)
        if shown is not None and action.metavar is None and action.nargs != 0:
            action.metavar = t(shown)
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for verb in dict.fromkeys(action.choices.values()):
                localise(verb, t)
    return parser


def width(text: str) -> int:
    """Columns on a terminal: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help with the helps lined up after names such as `--period 期间`: argparse
    counts characters where a terminal counts columns."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS:
            invocation = self._format_action_invocation(action)
            self._action_max_length = max(self._action_max_length, width(invocation) + self._current_indent)

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        invocation = self._format_action_invocation(action)
        extra = width(invocation) - len(invocation)
        start = text.find(invocation)
        if extra and start >= 0:
            end = start + len(invocation)
            padding = len(text) - end - len(text[end:].lstrip(" "))
            cut = min(extra, padding - 2)
            if cut > 0:
                text = text[:end] + text[end + cut:]
        return text
