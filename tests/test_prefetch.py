"""The sender of an update is read on the connection that stores it (handlers.context.ActorPrefetch),
and group -1 takes that reading only while nothing in this process has changed members or units
since, and only while it is fresh; a failing read never keeps an update from being handled."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from telegram import Update

import handlers.context as context_module
from bot.runtime import Services
from handlers.context import ActorPrefetch
from models.db import Database
from models.people import people_changes
from models.tables import Member, Role, Unit
from tests.conftest import expect, greet, join, make_settings


def update_from(telegram_id: int, update_id: int, text: str = "/rate") -> Update:
    return Update.de_json({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 0, "text": text,
            "chat": {"id": telegram_id, "type": "private"},
            "from": {"id": telegram_id, "is_bot": False, "first_name": "李梅"},
        },
    }, None)


async def test_a_reading_is_taken_only_while_nobody_changed_and_it_is_fresh(stand_in, database_url, monkeypatch):
    db = Database(database_url)
    await db.migrate()
    services = Services(settings=make_settings(stand_in, database_url), db=db)
    try:
        async with db.transaction() as session:
            unit = Unit(name="八仙镇", kind="town", aliases=[], keywords=[], places=[], position=0, active=True)
            session.add(unit)
            await session.flush()
            session.add(Member(telegram_id=8101, full_name="李梅", role=Role.LIAISON, unit_id=unit.id,
                               joined_at=dt.datetime.now(dt.UTC)))
        prefetch = ActorPrefetch(services)

        async def fetch(update_id: int) -> Update:
            update = update_from(8101, update_id)
            async with db.autocommit() as connection:
                await prefetch.fetch(connection, update)
            return update

        update = await fetch(1)
        actor = prefetch.take(update)
        assert actor is not None and actor.role is Role.LIAISON and actor.unit_name == "八仙镇"
        assert prefetch.take(update) is None  # taken once

        update = await fetch(2)
        before = people_changes.generation
        async with db.transaction() as session:  # e.g. /remove, committed while the update waited
            member = await session.scalar(select(Member).where(Member.telegram_id == 8101))
            member.role = None
        assert people_changes.generation >= before + 2  # at the flush and at the commit
        assert prefetch.take(update) is None

        update = await fetch(3)
        async with db.transaction() as session:  # a transaction that changes nobody moves nothing
            await session.scalar(select(Member).where(Member.telegram_id == 8101))
        assert prefetch.take(update) is not None

        update = await fetch(4)
        monkeypatch.setattr(ActorPrefetch, "MAX_AGE", 0.0)
        assert prefetch.take(update) is None  # too old: another instance may have changed it since
    finally:
        await db.dispose()


async def test_group_minus_one_uses_the_reading_and_a_failing_one_loses_nothing(bot, monkeypatch):
    admin, liaison = bot.admin, bot.person(8101, "李梅")
    await greet(admin)
    await join(bot, liaison, "八仙镇")

    reads: list[str] = []
    real = context_module.current_actor

    async def counted(executor, person, admin_ids):
        reads.append(type(executor).__name__)
        return await real(executor, person, admin_ids)

    monkeypatch.setattr(context_module, "current_actor", counted)
    liaison.send("/rate")
    await expect(liaison, "八仙镇")
    assert reads == ["AsyncConnection"]  # only on the store's connection, none in group -1

    inbox = bot.app.update_queue
    calls: list[int] = []

    async def failing(connection, update):
        calls.append(update.update_id)
        raise RuntimeError("the reading failed")

    monkeypatch.setattr(inbox, "within_store", failing)
    reads.clear()
    liaison.send("/rate")
    await expect(liaison, "八仙镇")
    assert len(calls) == 1  # stored once; the failed reading is only logged
    assert reads == ["AsyncSession"]  # group -1 read for itself
