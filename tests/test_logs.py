"""The bot token never reaches a log line: httpx (which logs Bot API URLs, token included) is kept
quiet, and whatever else mentions the token, a message or a traceback, is scrubbed."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from bot.logs import HIDDEN, QUIET, hide_secrets, redact
from tests.conftest import greet


@pytest.fixture
def captured():
    """A root handler as an operator's would be, at DEBUG, restored afterwards."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    levels = {name: logging.getLogger(name).level for name in (*QUIET, "")}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield root, handler, stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_messages_arguments_and_tracebacks_are_scrubbed(captured):
    root, _, stream = captured
    token = "123456789:AAF-secret-token-value-abcdefghijk"
    hide_secrets(token, "intake-token-0123456789")
    log = logging.getLogger("mailbox.test")
    log.warning("calling https://api.telegram.org/bot%s/getMe", token)
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{token}/sendMessage")
    except ConnectionError:
        log.exception("delivery failed")
    log.info("intake called with Bearer intake-token-0123456789")
    text = stream.getvalue()
    assert token not in text and "intake-token-0123456789" not in text
    assert text.count(HIDDEN) == 3  # in the message, in the traceback's exception line, and the intake token


def test_a_secret_in_a_url_encoded_url_is_hidden_too(captured):
    """A URL in an error's text carries the token with its colon encoded (123%3AABC)."""
    _, _, stream = captured
    token = "123456789:AAF-other-secret-token-0123456789"
    hide_secrets(token)
    encoded = "123456789%3AAAF-other-secret-token-0123456789"
    logging.getLogger("mailbox.test").warning("Bad Gateway for http://proxy/file/bot%s/documents/1.csv", encoded)
    assert encoded not in stream.getvalue() and HIDDEN in stream.getvalue()
    assert redact(f"at /bot{encoded}/ and /bot{token}/") == f"at /bot{HIDDEN}/ and /bot{HIDDEN}/"


async def test_a_running_bot_logs_no_token(bot, captured):
    root, handler, stream = captured
    token = bot.api.token
    # Without the quieting, httpx would log every Bot API URL, token and all:
    loud = io.StringIO()
    witness = logging.StreamHandler(loud)
    logging.getLogger("httpx").addHandler(witness)
    logging.getLogger("httpx").setLevel(logging.INFO)
    await greet(bot.person(4242, "李四"))
    logging.getLogger("httpx").removeHandler(witness)
    assert token in loud.getvalue(), "the witness shows what would leak"

    # As `python -m bot` configures it: httpx quiet, secrets scrubbed.
    stream.truncate(0)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    hide_secrets(token)
    person = bot.person(4343, "王五")
    await greet(person)
    # A failing handler: its traceback is logged, and telling the person fails too.
    bot.api.fail_next("sendMessage", 502, "Bad Gateway")
    bot.api.fail_next("sendMessage", drop_connection=True)
    bot.expected_errors = 1
    person.send("/help")
    for _ in range(200):
        if bot.errors:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    text = stream.getvalue()
    assert "Bad Gateway" in text and "Traceback" in text, text
    assert token not in text


def test_the_webhook_secret_and_url_passwords_are_secrets_too(captured):
    from bot.logs import secrets_of
    from bot.settings import Settings

    settings = Settings(
        _env_file=None, bot_token="123456789:AAF-secret-token-value-abcdefghijk", intake_token="intake-token-0123456789",
        webhook_secret="webhook-secret-abcdef", database_url="postgresql+asyncpg://mailbox:pg%40pass-word-42@db/mailbox",
        telegram_proxy="socks5://user:proxy-pass-word-7@127.0.0.1:1080",
    )
    _, _, stream = captured
    hide_secrets(*secrets_of(settings))
    logging.getLogger("mailbox.test").error(
        "could not connect to %s via %s (secret %s, password %s)",
        settings.database_url, settings.telegram_proxy, "webhook-secret-abcdef", "pg@pass-word-42",
    )
    text = stream.getvalue()
    for secret in ("webhook-secret-abcdef", "pg%40pass-word-42", "pg@pass-word-42", "proxy-pass-word-7"):
        assert secret not in text, text
    assert text.count(HIDDEN) >= 4 and "db/mailbox" in text
