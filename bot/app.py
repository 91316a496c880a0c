"""The application factory and its life cycle, shared by `python -m bot`, the tests and the demo."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

import handlers
from bot.inbox import InboxApplication, InboxQueue, replay_unhandled
from bot.intake import IntakeServer
from bot.runtime import SERVICES_KEY, Services, prepare_database, system_clock
from bot.settings import Settings
from handlers.context import PREFETCH_KEY, ActorPrefetch, BotContext
from handlers.menu import publish_default_menus, publish_member_menu
from locales import language_for
from models.db import Database
from models.people import actor_for, members_with_roles
from scheduler.delivery import Delivery
from scheduler.jobs import start_schedule

log = logging.getLogger(__name__)
POLL_TIMEOUT_SECONDS = 10


def build_application(
    settings: Settings, *, clock: Callable = system_clock, db: Database | None = None, rate_limited: bool = True
) -> Application:
    """`rate_limited=False` only for benchmarks that measure the bot's own capacity."""
    services = Services(settings=settings, db=db or Database(settings.database_url, settings.tz), clock=clock)
    inbox = InboxQueue()
    builder = (
        ApplicationBuilder()
        .application_class(InboxApplication)
        .update_queue(inbox)
        .token(settings.bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_file_base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                tzinfo=settings.tz,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .context_types(ContextTypes(context=BotContext))
    )
    if rate_limited:
        # Keeps under Telegram's limits, and retries 429s after their retry_after.
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if settings.telegram_proxy:
        builder = builder.proxy(settings.telegram_proxy).get_updates_proxy(settings.telegram_proxy)
    application = builder.build()
    inbox.application = application
    application.bot_data[SERVICES_KEY] = services
    prefetch = application.bot_data[PREFETCH_KEY] = ActorPrefetch(services)
    inbox.within_store = prefetch.fetch
    handlers.register(application)
    return application


def services_of(application: Application) -> Services:
    return application.bot_data[SERVICES_KEY]


async def _publish_menus(application: Application) -> None:
    services = services_of(application)
    settings = services.settings
    await publish_default_menus(application.bot, settings.language)
    async with services.db.transaction() as session:
        members = await members_with_roles(session)
        actors = [(m, await actor_for(session, m, m.telegram_id, settings.admin_ids)) for m in members]
    for member, actor in actors:
        if not actor.is_stranger:
            language = language_for(member.language, member.telegram_language, settings.language)
            await publish_member_menu(application.bot, actor, language)


@asynccontextmanager
async def running(application: Application) -> AsyncIterator[Application]:
    """Start everything in order, stop it in reverse. The database comes first, so a bad
    DATABASE_URL stops the bot before it talks to Telegram."""
    services = services_of(application)
    settings = services.settings
    intake: IntakeServer | None = None
    await prepare_database(services)
    try:
        await application.initialize()
        services.bot_username = application.bot.username
        await _publish_menus(application)
        await replay_unhandled(application)  # queued first, handled once the application starts
        if settings.webhook_url:
            await application.updater.start_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                # Telegram echoes this header on every call, so forged posts to the path are refused.
                secret_token=settings.webhook_secret_token,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await application.updater.start_polling(
                timeout=POLL_TIMEOUT_SECONDS, allowed_updates=Update.ALL_TYPES
            )
        await application.start()
        services.delivery = Delivery(application, services)
        await services.delivery.start()
        await start_schedule(application, services)
        if settings.intake_token:
            intake = IntakeServer(services)
            await intake.start()
            services.intake_url = f"http://{settings.intake_host}:{intake.port}"
        log.info("bot @%s is running", services.bot_username)
        yield application
    finally:
        if intake is not None:
            await intake.stop()
        if services.delivery is not None:
            await services.delivery.stop()
        if application.updater and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await services.db.dispose()


async def serve(settings: Settings) -> None:
    application = build_application(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(application):
        await stop.wait()
