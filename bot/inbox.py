"""No update lost, none handled twice: every update is stored (inbox_updates) before Telegram is
told we have it, and marked when its handlers are done.

Both ways of receiving go through `Application.update_queue.put`: the poller puts each update before
its next getUpdates (whose offset is what acknowledges them to Telegram), and the webhook server
puts it before answering 200. So the store happens in `InboxQueue.put`. `InboxApplication`
marks the update handled after PTB's process_update (which has run the handlers and, on failure,
the error handler that answered the person). At start, updates stored but never marked (the
process died in between) are handled again; on PostgreSQL only those older than a few minutes,
since a younger one may be in the hands of another instance right now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update  # `update` is the Telegram update here
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from telegram import Update
from telegram.ext import Application

from models.tables import InboxUpdate

log = logging.getLogger(__name__)
IN_FLIGHT = dt.timedelta(minutes=5)  # PostgreSQL: younger unhandled updates may be another instance's
KEEP_HANDLED = dt.timedelta(days=2)  # long enough to recognise Telegram delivering one again


class InboxQueue(asyncio.Queue):
    """PTB's update queue, storing each update first. An update already stored (delivered twice)
    is not queued again."""

    application: Application | None = None

    async def put(self, item) -> None:
        if isinstance(item, Update) and self.application is not None and not await self._store(item):
            log.info("update %s arrived again; already taken", item.update_id)
            return
        await super().put(item)

    async def _store(self, item: Update) -> bool:
        services = self.application.bot_data["services"]
        insert = pg_insert if services.db.engine.dialect.name == "postgresql" else sqlite_insert
        async with services.db.engine.begin() as connection:  # Core: this is on every update's path
            stored = await connection.execute(
                insert(InboxUpdate).values(bot_id=self.application.bot.id, update_id=item.update_id,
                                           payload=item.to_dict(), received_at=services.now())
                .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
            )
            return stored.rowcount == 1


class InboxApplication(Application):
    async def process_update(self, update: object) -> None:
        await super().process_update(update)
        if isinstance(update, Update) and isinstance(self.update_queue, InboxQueue):
            services = self.bot_data["services"]
            now = services.now()
            async with services.db.engine.begin() as connection:
                if connection.dialect.name == "postgresql":  # losing this mark in a server crash only replays the update
                    await connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                await connection.execute(sql_update(InboxUpdate).where(
                    InboxUpdate.bot_id == self.bot.id, InboxUpdate.update_id == update.update_id).values(handled_at=now))
                if update.update_id % PRUNE_EVERY == 0:
                    await connection.execute(forget_old(now))


PRUNE_EVERY = 500  # updates


def forget_old(now: dt.datetime):
    return delete(InboxUpdate).where(InboxUpdate.handled_at < now - KEEP_HANDLED)


async def replay_unhandled(application: Application) -> int:
    """At start: the updates a dead process stored but never finished, in order; and old handled
    ones forgotten."""
    services = application.bot_data["services"]
    now = services.now()
    async with services.db.transaction() as session:
        await session.execute(forget_old(now))
        query = (select(InboxUpdate.payload)
                 .where(InboxUpdate.bot_id == application.bot.id, InboxUpdate.handled_at.is_(None))
                 .order_by(InboxUpdate.update_id))
        if services.db.engine.dialect.name == "postgresql":
            query = query.where(InboxUpdate.received_at < now - IN_FLIGHT)
        payloads = (await session.scalars(query)).all()
    for payload in payloads:
        # straight to the processing side of the queue: these are stored already
        await asyncio.Queue.put(application.update_queue, Update.de_json(payload, application.bot))
    if payloads:
        log.warning("handling %s updates again that a previous run received but did not finish", len(payloads))
    return len(payloads)
