"""The county's 2019 Q1 notice, as letters: 47 valid letters assigned (towns 29 with 21 closed,
departments 18 with 14 closed), plus letters that must not count."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models.tables import Letter, Unit

TZ = ZoneInfo("Asia/Shanghai")
RECEIVED = dt.datetime(2019, 2, 10, 9, 0, tzinfo=TZ)
PLAN = (  # unit, assigned, closed, closed late
    ("八仙镇", 10, 5, 1), ("长安镇", 8, 6, 0), ("城关镇", 11, 10, 0),
    ("县农业农村局", 5, 3, 0), ("县住建局", 6, 4, 0), ("县公安局", 5, 5, 0), ("县教科局", 2, 2, 0),
)
TOPIC_COUNTS = (("扶贫", 15), ("医疗", 12), ("教育", 10), ("民生保障", 8), ("交通", 2))


def _letter(**values) -> Letter:
    base = dict(title="来信", content="", received_at=RECEIVED, due_estimated=False, extensions=0, tags=[])
    return Letter(**{**base, **values})


async def seed_notice(session) -> None:
    units = {u.name: u.id for u in (await session.scalars(select(Unit))).all()}
    number = 0
    for unit, count, closed, late in PLAN:
        for i in range(count):
            done = i < closed
            number += 1
            session.add(_letter(
                tags=[topic for topic, times in TOPIC_COUNTS if number <= times],
                status="done" if done else "accepted", unit_id=units[unit], assigned_at=RECEIVED,
                due_date=dt.date(2019, 2, 20), done_at=RECEIVED + dt.timedelta(days=3) if done else None,
                closed_on_time=(i >= late) if done else None, handling_workdays=2 if done else None,
            ))
    # Not counted: the next quarter, invalid, waiting for assignment, returned.
    session.add(_letter(received_at=dt.datetime(2019, 4, 1, 0, 5, tzinfo=TZ), status="done", unit_id=units["八仙镇"]))
    session.add(_letter(status="invalid", unit_id=units["八仙镇"], invalid_reason="重复"))
    session.add(_letter(status="new"))
    session.add(_letter(status="returned", unit_id=units["长安镇"], return_reason="不属于本镇"))


async def notice_database(database_url: str) -> None:
    """A migrated database with the default units and the notice's letters."""
    from bot.settings import DEFAULT_UNITS_FILE
    from models.db import Database
    from models.units import read_units_file, sync_units

    db = Database(database_url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            await sync_units(session, read_units_file(DEFAULT_UNITS_FILE))
        async with db.transaction() as session:
            await seed_notice(session)
    finally:
        await db.dispose()
