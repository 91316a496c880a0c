"""What every handler, job and API route shares: settings, the database, the unit resolver, and
the clock (a real one in service; the demo and tests may move time on)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.settings import Settings
from models.db import Database
from models.unit_resolver import UnitResolver

SERVICES_KEY = "services"


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Callable[[], dt.datetime] = system_clock
    resolver: UnitResolver = field(default_factory=lambda: UnitResolver(()))
    bot_username: str = ""

    def now(self) -> dt.datetime:
        return self.clock()

    def local_now(self) -> dt.datetime:
        return self.clock().astimezone(self.settings.tz)
