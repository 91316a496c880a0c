"""Two instances of the bot on one PostgreSQL database, in webhook mode behind a load balancer (the
stand-in posts each update to one of them in turn, as nginx would): every update is handled once,
the day's sweep runs once, the outbox is drained without a message sent twice, and a post without
Telegram's secret header is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections import Counter
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import func, select
from telegram.ext import TypeHandler

from bot.app import build_application, running, services_of
from models.outbox import MEMBERS, Kind, enqueue_notice
from models.tables import Member, Outbox, SweepRun
from scheduler.delivery import LEASE
from scheduler.jobs import scheduled_sweep
from tests.conftest import Clock, greet, make_settings

PUBLIC_URL = "https://mailbox.example.gov.cn/telegram"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for(condition, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_two_instances_share_one_database(stand_in, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances need PostgreSQL; SQLite is one process's database")
    clock = Clock()
    ports = [free_port(), free_port()]
    stand_in.balance_to = [f"http://127.0.0.1:{port}/telegram" for port in ports]
    handled: dict[int, list[int]] = {0: [], 1: []}
    errors: list[BaseException] = []
    apps = []
    for number, port in enumerate(ports):
        settings = make_settings(stand_in, database_url, webhook_url=PUBLIC_URL, webhook_listen="127.0.0.1",
                                 webhook_port=port, webhook_secret="county-info-centre_2026")
        app = build_application(settings, clock=clock)

        async def record(update, context, number=number) -> None:
            handled[number].append(update.update_id)

        async def fail(update, context) -> None:
            errors.append(context.error)

        app.add_handler(TypeHandler(object, record), group=-2)
        app.add_error_handler(fail)
        apps.append(app)

    async with AsyncExitStack() as stack:
        # Both start at 17:00 Beijing on a working day: each tries the day's catch-up sweep.
        await asyncio.gather(*(stack.enter_async_context(running(app)) for app in apps))
        assert stand_in.webhook == {"url": PUBLIC_URL, "secret_token": "county-info-centre_2026"}
        services = [services_of(app) for app in apps]

        people = [stand_in.person(5000 + i, f"市民{i}") for i in range(12)]
        await asyncio.gather(*(greet(person) for person in people))
        every = sorted(handled[0] + handled[1])
        assert every == sorted(set(every)) and len(every) == len(people), handled
        assert handled[0] and handled[1], "the load balancer spread the updates over both"

        # A forger knows the URL but not the secret.
        forged = {"update_id": 999, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "/start"}}
        for secret in (None, "guessed"):
            assert await stand_in.post_to_webhook(stand_in.balance_to[0], forged, secret) == 403
        assert 999 not in handled[0] + handled[1]

        # Telegram delivering one update again (a retried webhook), to the other instance: it runs once.
        again = {"update_id": 50_000, "message": {"message_id": 77, "date": 1_764_300_000, "text": "/help",
                                                  "chat": people[1].chat, "from": people[1].user,
                                                  "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
        for target in stand_in.balance_to:
            assert await stand_in.post_to_webhook(target, again, "county-info-centre_2026") == 200
        await people[1].receive()
        await asyncio.sleep(0.5)
        assert (handled[0] + handled[1]).count(50_000) == 1
        assert not stand_in.pending(people[1].id)

        # The outbox, drained by both delivery loops at once: each message sent exactly once.
        async with services[0].db.transaction() as session:  # notices are for people in a role
            session.add_all(Member(telegram_id=person.id, full_name=f"领导{n}", role="leader") for n, person in enumerate(people))
            for person in people:
                for n in range(3):
                    enqueue_notice(session, [person.id], MEMBERS, "Letter #{id} is closed. Thank you.", id=n + 1)
        for s in services:
            s.notify()

        async def drained() -> bool:
            async with services[1].db.reading() as session:
                return not await session.scalar(select(func.count()).select_from(Outbox).where(
                    Outbox.kind == Kind.NOTICE, Outbox.state.in_(("pending", "sending"))))

        await wait_for(drained)
        notices = Counter((params["chat_id"], params["text"]) for method, params in stand_in.calls
                          if method == "sendMessage" and "已办结" in params.get("text", ""))
        assert len(notices) == 3 * len(people) and set(notices.values()) == {1}, notices

        # A row another instance is sending (its lease runs) is left alone; once the lease has run
        # out (that instance died), it is sent.
        async with services[0].db.transaction() as session:
            enqueue_notice(session, [people[0].id], MEMBERS, "Letter #{id} is closed. Thank you.", id=77)
            held = (await session.scalars(select(Outbox).where(Outbox.state == "pending"))).one()
            held.state, held.not_before = "sending", clock.now + LEASE
        for s in services:
            s.notify()
        await asyncio.sleep(0.5)
        assert not [p for m, p in stand_in.calls if m == "sendMessage" and "#77" in p.get("text", "")]
        clock.now += LEASE + dt.timedelta(seconds=1)
        for s in services:
            s.notify()
        await wait_for(drained)
        assert len([p for m, p in stand_in.calls if m == "sendMessage" and "#77" in p.get("text", "")]) == 1

        # The next working morning, both schedulers fire: the sweep runs once.
        clock.now = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
        results = await asyncio.gather(*(scheduled_sweep(s, "schedule") for s in services))
        assert sum(r is not None for r in results) == 1
        async with services[0].db.reading() as session:
            runs = (await session.scalars(select(SweepRun.day).order_by(SweepRun.day))).all()
        assert runs == [dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
        for app in apps:
            await stand_in.release_pollers()
    assert not errors, errors
