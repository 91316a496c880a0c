"""The harness: a real database (SQLite always, PostgreSQL where reachable — required under CI), the
loopback Bot API stand-in, and the real PTB Application running against both.

Every test that uses `bot` fails if any handler raised: PTB would only log it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from telegram.ext import Application

from bot.app import build_application, running, services_of
from bot.runtime import Services
from bot.settings import Settings
from bot.telegram_stand_in import Person, TelegramStandIn
from models import tallies

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_ID = 900001
INTAKE_TOKEN = "intake-secret-for-tests"


async def _postgres_reachable() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await connection.close()
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """A fresh, empty database per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/mailbox.db"
        return
    if not await _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI and is not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable")
    name = f"mailbox_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def stand_in() -> AsyncIterator[TelegramStandIn]:
    api = TelegramStandIn()
    await api.start()
    yield api
    await api.stop()


def make_settings(stand_in: TelegramStandIn, database_url: str, **overrides) -> Settings:
    values = dict(
        bot_token=stand_in.token,
        telegram_api_base_url=stand_in.base_url,
        database_url=database_url,
        admin_ids=str(ADMIN_ID),
        language="zh_CN",
        timezone="Asia/Shanghai",
        intake_token=INTAKE_TOKEN,
        intake_port=0,
        webhook_url=None,
        telegram_proxy=None,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


class Clock:
    """A clock the tests can move on."""

    def __init__(self):
        import datetime as dt

        self.now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)

    def __call__(self):
        return self.now


@dataclass
class Harness:
    app: Application
    api: TelegramStandIn
    clock: Clock
    errors: list[BaseException] = field(default_factory=list)
    expected_errors: int = 0

    @property
    def services(self) -> Services:
        return services_of(self.app)

    def person(self, user_id: int, name: str, language_code: str | None = "zh-hans") -> Person:
        return self.api.person(user_id, name, language_code=language_code)

    @property
    def admin(self) -> Person:
        return self.api.person(ADMIN_ID, "王主任")


@pytest.fixture
async def bot(stand_in, database_url) -> AsyncIterator[Harness]:
    clock = Clock()
    app = build_application(make_settings(stand_in, database_url), clock=clock)
    harness = Harness(app, stand_in, clock)

    async def fail_on_error(update, context) -> None:
        harness.errors.append(context.error)

    app.add_error_handler(fail_on_error)
    async with running(app):
        yield harness
        await stand_in.release_pollers()
        async with harness.services.db.reading() as session:  # every write path kept the rate tallies
            off = await tallies.drift(session)
    assert not off, f"rate tallies differ from the letters (stored, expected): {off!r}"
    unexpected = harness.errors[harness.expected_errors:]
    assert not unexpected, f"handlers raised: {unexpected!r}"


async def join(bot: Harness, person: Person, what: str) -> None:
    """The whole invitation path: the admin invites, the person opens the link."""
    bot.admin.send(f"/invite {what}")
    answer = await bot.admin.receive()
    code = answer.text.split("?start=")[1].split()[0]
    person.send(f"/start {code}")
    welcome = await person.receive()
    assert "欢迎" in welcome.text or "Welcome" in welcome.text, welcome.text
    await bot.admin.receive()  # the admin is told who joined


async def greet(person: Person) -> None:
    """A person's first /start: Telegram lets a bot write only to people who wrote first."""
    person.send("/start")
    await person.receive()


@pytest.fixture
async def http(bot) -> AsyncIterator:
    """An HTTP client for the intake API, with and without the token."""
    import aiohttp

    async with aiohttp.ClientSession(base_url=bot.services.intake_url) as session:
        yield session


AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


async def expect(person: Person, *fragments: str, chat: dict | None = None, kind: str | None = None, within: int = 12):
    """The next message to the person (in `chat`) that contains every fragment, skipping others
    (card refreshes arrive in an order nobody promises)."""
    seen = []
    for _ in range(within):
        message = await person.receive(chat=chat)
        if all(f in message.text for f in fragments) and (kind is None or message.kind == kind):
            return message
        seen.append(message.text[:80])
    raise AssertionError(f"no message with {fragments} among {seen}")


_EXTERNAL_IDS = itertools.count(1)


async def post_letter(http, **fields) -> dict:
    body = {"external_id": f"T-{next(_EXTERNAL_IDS)}", "title": "八仙镇村道路灯不亮", "content": "路灯坏了三个月",
            "received_at": "2026-11-27T10:00:00+08:00", **fields}
    response = await http.post("/api/letters", json=body, headers=AUTH)
    assert response.status in (200, 201), await response.text()
    return await response.json()


def write_letters_csv(path, rows: int, prefix: str) -> None:
    """A large import file of new letters (Chinese headers), ids `{prefix}0`, `{prefix}1`, …"""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("编号,标题,内容,来信时间\n")
        for i in range(rows):
            handle.write(f"{prefix}{i},来信{i},内容{i},2026-11-{1 + i % 27:02d} 09:00\n")
