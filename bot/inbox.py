"""No update lost, none handled twice: every update is stored (inbox_updates) before Telegram is
told we have it, and marked when its handlers are done.

Both ways of receiving go through `Application.update_queue.put`: the poller puts each update before
its next getUpdates (whose offset is what acknowledges them to Telegram), and the webhook server
puts it before answering 200. So the store happens in `InboxQueue.put`. `InboxApplication`
marks the update handled after PTB's process_update (which has run the handlers and, on failure,
the error handler that answered the person). At start, updates stored but never marked (the
process died in between) are handled again; on PostgreSQL only those older than a few minutes,
since a younger one may be in the hands of another instance right now.

The database going away (PostgreSQL restarting, down for a while) is waited out, never reported:
the store is tried until it succeeds (the poller asks Telegram for nothing more meanwhile, so
nothing unstored is acknowledged; a webhook post is answered only once it is stored); an update
whose handling the outage interrupted is handled again from the start once the database is back,
instead of telling the person it failed; and the handled mark is tried until it is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update  # `update` is the Telegram update here
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from telegram import Update
from telegram.ext import Application

from models.db import database_unreachable, until_reachable
from models.tables import InboxUpdate

log = logging.getLogger(__name__)
RERUNS = 5  # times an update is handled again after the database went away under it
IN_FLIGHT = dt.timedelta(minutes=5)  # PostgreSQL: younger unhandled updates may be another instance's
KEEP_HANDLED = dt.timedelta(days=2)  # long enough to recognise Telegram delivering one again


class InboxQueue(asyncio.Queue):
    """PTB's update queue, storing each update first. An update already stored (delivered twice)
    is not queued again."""

    application: Application | None = None
    # A read for each update, made on the connection that stored it, while it is at hand
    # (handlers.context.ActorPrefetch): `within_store(connection, update)`.
    within_store: Callable[[AsyncConnection, Update], Awaitable[None]] | None = None

    async def put(self, item) -> None:
        # Tried until stored, whatever the error: raising would end PTB's polling task for good
        # (its retry loop catches only Telegram's errors), and returning would let the poller
        # acknowledge an update we do not have.
        if isinstance(item, Update) and self.application is not None and not await until_reachable(
            lambda: self._store(item), f"storing update {item.update_id}", any_error=True,
        ):
            log.info("update %s arrived again; already taken", item.update_id)
            return
        await super().put(item)

    async def _store(self, item: Update) -> bool:
        services = self.application.bot_data["services"]
        insert = pg_insert if services.db.engine.dialect.name == "postgresql" else sqlite_insert
        # Core, one statement committing by itself: this is on every update's path.
        async with services.db.autocommit() as connection:
            stored = await connection.execute(
                insert(InboxUpdate).values(bot_id=self.application.bot.id, update_id=item.update_id,
                                           payload=item.to_dict(), received_at=services.now())
                .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
            )
            if stored.rowcount != 1:
                return False
            if self.within_store is not None:
                try:
                    await self.within_store(connection, item)
                except Exception:  # the update is stored; the reading was only a head start
                    log.debug("the reading alongside update %s failed", item.update_id, exc_info=True)
            return True


class InboxApplication(Application):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # update id → whether the database went away while it was handled; an update is here
        # while such an error may still be taken for an interruption (see process_error)
        self._interrupted: dict[int, bool] = {}

    async def process_update(self, update: object) -> None:
        if not (isinstance(update, Update) and isinstance(self.update_queue, InboxQueue)):
            await super().process_update(update)
            return
        services = self.bot_data["services"]
        key = update.update_id
        for attempt in itertools.count():
            if attempt < RERUNS:  # the last time, an error goes to the error handler as any other
                self._interrupted[key] = False
            try:
                await super().process_update(update)
            finally:
                interrupted = self._interrupted.pop(key, False)
            if not interrupted:
                break
            # Its unit of work was rolled back, so it is handled again, from the start, once the
            # database answers. (Two narrow exceptions: the connection breaking in the COMMIT
            # itself, when the rerun finds the change made and says so; and a handler that had
            # already spoken before the database went away, which speaks again. Handlers commit
            # before they speak, so that is a prompt or a progress note, never a false answer.)
            log.warning("update %s: the database went away while it was handled; handling it again once it is back", key)
            if not await services.db.reachable(lambda: self.running):
                log.warning("update %s stays stored unhandled: the bot is stopping; it is handled at the next start", key)
                return
        try:
            await until_reachable(lambda: self._mark_handled(update), f"marking update {key} handled")
        except Exception:
            # Raising here would end PTB's update fetcher, and with it all handling.
            log.exception("update %s was handled but could not be marked; it is handled again at the next start", key)

    async def process_error(self, update: object | None, error: Exception, job=None, coroutine=None) -> bool:
        if isinstance(update, Update) and update.update_id in self._interrupted and database_unreachable(error):
            # Not the person's doing, and no reason to tell them it failed: process_update
            # handles the update again. True stops the other handlers, as ApplicationHandlerStop.
            self._interrupted[update.update_id] = True
            return True
        return await super().process_error(update, error, job, coroutine)

    async def _mark_handled(self, update: Update) -> None:
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
