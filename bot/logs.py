"""Logging for operators: readable lines, and never a secret in them.

Bot API URLs carry the token (httpx logs every request URL at INFO, and a network error's text may
repeat it), so httpx is kept to warnings, and every line and traceback that reaches a handler is
also scrubbed of the token and the intake token, whatever logged it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from urllib.parse import quote

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic")
HIDDEN = "<secret>"


def configure_logging() -> None:
    logging.basicConfig(format=FORMAT, level=logging.INFO)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)


class RedactingFormatter(logging.Formatter):
    """Formats as the handler's own formatter did, then blanks out the secrets (the message, its
    arguments and the traceback are all in the formatted text)."""

    def __init__(self, inner: logging.Formatter | None, secrets: list[str]):
        super().__init__()
        self.inner = inner or logging.Formatter(FORMAT)
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return text


_SECRETS: list[str] = []  # every secret registered, and its URL-encoded form, the longest first


def redact(text: str) -> str:
    """`text` with every registered secret blanked out, for what is printed or sent outside the
    log (an error's text on the terminal, in a chat)."""
    for secret in _SECRETS:
        text = text.replace(secret, HIDDEN)
    return text


def _print_redacted(kind, value, trace) -> None:
    """sys.excepthook: a crash's traceback goes to stderr (under systemd, the journal) scrubbed."""
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, trace))))


def hide_secrets(*secrets: str | None, logger: logging.Logger | None = None) -> None:
    """Wraps the formatter of every handler on `logger` (the root by default), and scrubs what
    `redact` and an uncaught exception's traceback show. A secret is also hidden URL-encoded
    (123:ABC as 123%3AABC, as a URL in an error's text carries it)."""
    secrets = tuple({form for s in secrets if s and len(s) >= 8 for form in (s, quote(s, safe=""))})
    _SECRETS[:] = sorted({*_SECRETS, *secrets}, key=len, reverse=True)
    sys.excepthook = _print_redacted
    for handler in (logger or logging.getLogger()).handlers:
        current = handler.formatter
        if isinstance(current, RedactingFormatter):
            current.secrets = sorted({*current.secrets, *(s for s in secrets if s and len(s) >= 8)}, key=len, reverse=True)
        else:
            handler.setFormatter(RedactingFormatter(current, sorted((s for s in secrets if s), key=len, reverse=True)))


def secrets_of(settings) -> list[str]:
    """Everything in the settings that must not reach a log: the tokens, the webhook's secret, and
    the passwords inside the database and proxy URLs (SQLAlchemy and httpx errors may quote them)."""
    from urllib.parse import unquote, urlsplit

    values = [settings.bot_token.get_secret_value()]
    for secret in (settings.intake_token, settings.webhook_secret):
        if secret is not None:
            values.append(secret.get_secret_value())
    for url in (settings.database_url, settings.telegram_proxy):
        try:
            password = urlsplit(url).password if url else None
        except ValueError:
            password = None
        if password:
            values += [password, unquote(password)]
    return values
