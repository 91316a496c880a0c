"""When the sweep runs: daily at REMINDER_TIME on working days (PTB's JobQueue), once at start if
that day's run was missed, and on demand (/remind, `python -m bot remind`)."""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import Application, ContextTypes

from bot.runtime import SERVICES_KEY, Services
from models.db import until_reachable
from models.holidays import load_overrides
from scheduler.sweep import SweepResult, claim_scheduled_run, sweep
from scheduler.workdays import WorkdayCalendar

log = logging.getLogger(__name__)
MISFIRE_GRACE_SECONDS = 3600
JOB_NAME = "daily-sweep"
DAILY_RETRY_SECONDS = 60


async def run_sweep(services: Services, *, automatic: bool) -> SweepResult:
    """On demand: the same ledger, so it never repeats what today's run already said."""
    async with services.db.transaction() as session:
        result = await sweep(session, services.rules, services.now(), escalate_after=services.settings.escalate_after, automatic=automatic)
    services.notify()
    return result


async def scheduled_sweep(services: Services, trigger: str) -> SweepResult | None:
    """The day's one scheduled run; None on days off or when it already ran."""
    now = services.now()
    today = services.rules.deadlines.local_date(now)
    async with services.db.transaction() as session:
        # Days an admin loaded since (`python -m bot holidays`, another process) decide today too;
        # the sweep takes them for the letters, in its turn (see sweep._take_turns).
        if not WorkdayCalendar(await load_overrides(session)).is_workday(today)[0]:
            return None
        if not await claim_scheduled_run(session, today, now, trigger):
            return None
        result = await sweep(session, services.rules, now, escalate_after=services.settings.escalate_after)
    services.notify()
    log.info("sweep (%s) for %s: %s digests, %s letters, %s escalated", trigger, today, result.digests, result.letters, result.escalated)
    return result


async def _daily(context: ContextTypes.DEFAULT_TYPE) -> None:
    # A database outage at nine must not cost the day's reminders: the run is one transaction, so
    # it is tried again until the database answers (or the bot stops). Any other failure (a file
    # locked by a long import, a full disk) is tried again a minute later, for the rest of the day.
    services = context.application.bot_data[SERVICES_KEY]
    day = services.local_now().date()
    while context.application.running and services.local_now().date() == day:
        try:
            await until_reachable(
                lambda: scheduled_sweep(services, "schedule"), "the daily sweep", keep_trying=lambda: context.application.running,
            )
            return
        except Exception:  # noqa: BLE001 (the day's reminders are still due, whatever it was)
            log.exception("the daily sweep failed; trying again in a minute")
        await asyncio.sleep(DAILY_RETRY_SECONDS)


async def start_schedule(application: Application, services: Services) -> None:
    settings = services.settings
    application.job_queue.run_daily(
        _daily, time=settings.reminder_time.replace(tzinfo=settings.tz), name=JOB_NAME,
        # Run even when the loop was busy at the minute (a large import, a paused VM): the
        # scheduler's own grace is one second, after which it skips the day. A day's sweep runs
        # once whenever it starts (SweepRun).
        job_kwargs={"misfire_grace_time": MISFIRE_GRACE_SECONDS, "coalesce": True},
    )
    if services.local_now().time() >= settings.reminder_time:
        await scheduled_sweep(services, "catch-up")
