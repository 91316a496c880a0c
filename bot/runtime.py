"""What every handler, job and API route shares: settings, the database, the rules, the units, and
the clock (a real one in service; the demo and tests may move time on)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.settings import Settings
from models.db import Database
from models.deadlines import DeadlinePolicy
from models.letters import Rules
from models.privacy import Privacy
from models.routing import UnitProfile
from models.unit_resolver import UnitResolver
from models.units import read_topics
from scheduler.workdays import WorkdayCalendar

if TYPE_CHECKING:
    from scheduler.delivery import Delivery

SERVICES_KEY = "services"


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rules_from(settings: Settings) -> Rules:
    deadlines = DeadlinePolicy(
        tz=settings.tz,
        handling_days=settings.handling_days.default, accept_days=settings.accept_days.default,
        handling_by_type=settings.handling_days.by_type, accept_by_type=settings.accept_days.by_type,
        calendar=WorkdayCalendar(),
    )
    return Rules(
        deadlines=deadlines, admin_ids=settings.admin_ids, privacy=Privacy(settings.privacy),
        topics=read_topics(settings.units_file),
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Callable[[], dt.datetime] = system_clock
    resolver: UnitResolver = field(default_factory=lambda: UnitResolver(()))
    unit_profiles: list[UnitProfile] = field(default_factory=list)
    bot_username: str = ""
    intake_url: str = ""
    delivery: Delivery | None = None
    rules: Rules = None  # type: ignore[assignment]
    privacy: Privacy = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.rules is None:
            self.rules = rules_from(self.settings)
        if self.privacy is None:
            self.privacy = self.rules.privacy

    def unit_rows(self) -> list[tuple]:
        """The active units as the statistics want them (id, name, kind, position, valid_from,
        valid_to)."""
        return [(u.id, u.name, u.kind, position, u.valid_from, u.valid_to) for position, u in enumerate(self.unit_profiles)]

    def now(self) -> dt.datetime:
        return self.clock()

    def local_now(self) -> dt.datetime:
        return self.clock().astimezone(self.settings.tz)

    def notify(self) -> None:
        """Something was queued: deliver it now rather than at the next poll."""
        if self.delivery is not None:
            self.delivery.wake()


async def prepare_database(services: Services, *, routing: bool = True) -> None:
    """Migrate, make the units follow UNITS_FILE, and build the resolver from them; with `routing`,
    also the units' profiles for suggestions (an import does not route). Here rather than in
    bot.app, so the CLI's import opens the database without loading Telegram and the handlers."""
    from models import tallies
    from models.holidays import follow_official_calendar, load_overrides
    from models.letters import fill_closing_figures
    from models.units import build_resolver, read_units_file, sync_units, unit_profiles

    specs = read_units_file(services.settings.units_file)

    async def follow_the_files(session) -> None:  # under the migration's lock: instances take turns
        await sync_units(session, specs)
        services.rules.deadlines.calendar.set_overrides(await load_overrides(session))
        # A chinesecalendar upgrade may know a year estimated deadlines were counted on.
        await follow_official_calendar(session, services.rules, services.now())
        if await fill_closing_figures(session, services.rules):
            await tallies.rebuild(session)

    await services.db.migrate(then=follow_the_files)
    await services.db.tune()
    async with services.db.reading() as session:
        services.resolver = await build_resolver(session)
        if routing:
            services.unit_profiles = await unit_profiles(session)
