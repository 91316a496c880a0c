"""The running rate tallies: the same figures as counting the letters, kept by every kind of write,
rebuilt when TIMEZONE changes, and a divergence is caught."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bench.generate import TZ, fill
from bot.settings import DEFAULT_UNITS_FILE
from models import tallies
from models.db import Database
from models.stats import Period, _from_letters, _from_tallies, quarter_of
from models.tables import Bookkeeping, Letter, LetterStatus

TODAY = dt.date(2026, 11, 30)
UTC = ZoneInfo("UTC")


def test_a_letter_counts_once_it_is_assigned_and_open_letters_keep_their_deadline():
    received = dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC)  # 1 April in Beijing, still 31 March in UTC
    base = {"unit_id": 3, "received_at": received, "due_date": dt.date(2026, 4, 8), "closed_on_time": None, "handling_workdays": None}
    assert tallies.contribution({**base, "status": LetterStatus.NEW}, TZ) is None
    assert tallies.contribution({**base, "status": LetterStatus.RETURNED}, TZ) is None
    assert tallies.contribution({**base, "status": LetterStatus.ASSIGNED, "unit_id": None}, TZ) is None
    assert tallies.contribution({**base, "status": LetterStatus.ASSIGNED}, TZ) == (
        (dt.date(2026, 4, 1), 3, dt.date(2026, 4, 8)), (1, 0, 0, 1, 0, 0))
    assert tallies.contribution({**base, "status": LetterStatus.ASSIGNED}, UTC)[0][0] == dt.date(2026, 3, 31)
    done = {**base, "status": LetterStatus.DONE, "closed_on_time": True, "handling_workdays": 4}
    assert tallies.contribution(done, TZ) == ((dt.date(2026, 4, 1), 3, tallies.NO_DEADLINE), (1, 1, 1, 0, 4, 1))
    late = {**done, "closed_on_time": False, "handling_workdays": None}
    assert tallies.contribution(late, TZ)[1] == (1, 1, 0, 0, 0, 0)


async def test_tallies_give_the_same_figures_as_the_letters(database_url):
    db = Database(database_url, TZ)
    await fill(db, DEFAULT_UNITS_FILE, 3000, today=TODAY)
    periods = [quarter_of(TODAY), quarter_of(dt.date(2021, 2, 1)), Period(dt.date(2018, 1, 1), TODAY),
               Period(dt.date(2024, 5, 31), dt.date(2024, 6, 1)), Period(dt.date(2030, 1, 1), dt.date(2030, 3, 31))]
    async with db.reading() as session:
        assert await tallies.drift(session) == {}
        for period in periods:
            assert await _from_tallies(session, period, TODAY) == await _from_letters(session, period, TZ, TODAY), period
    await db.dispose()


async def test_orm_changes_and_deletes_keep_the_tallies_and_a_bypass_is_caught(database_url):
    db = Database(database_url, TZ)
    await fill(db, DEFAULT_UNITS_FILE, 400, today=TODAY)
    async with db.transaction() as session:
        letters = (await session.scalars(select(Letter).where(Letter.status.in_(tallies.COUNTED)).order_by(Letter.id).limit(6))).all()
        letters[0].status = LetterStatus.RETURNED
        letters[1].unit_id = letters[2].unit_id if letters[2].unit_id != letters[1].unit_id else letters[3].unit_id
        letters[2].due_date = dt.date(2020, 1, 1)
        letters[3].status, letters[3].closed_on_time, letters[3].handling_workdays = LetterStatus.DONE, True, 2
        letters[4].received_at = letters[4].received_at - dt.timedelta(days=400)
        await session.flush()
        letters[4].status = LetterStatus.INVALID  # a second flush in the same transaction
        await session.delete(letters[5])
    async with db.reading() as session:
        assert await tallies.drift(session) == {}
    async with db.transaction() as session:  # a write that goes around the ORM, as no code may
        await session.execute(update(Letter).where(Letter.id == letters[1].id).values(status=LetterStatus.NEW)
                              .execution_options(synchronize_session=False))
    async with db.reading() as session:
        off = await tallies.drift(session)
    await db.dispose()
    assert len(off) == 1
    (stored, expected), = off.values()
    assert stored[0] - (expected[0] if expected else 0) == 1  # the letter still counted, though it is new again


async def test_a_new_timezone_rebuilds_the_tallies(database_url):
    db = Database(database_url, TZ)
    await fill(db, DEFAULT_UNITS_FILE, 500, today=TODAY)
    await db.dispose()
    moved = Database(database_url, UTC)
    await moved.migrate()
    async with moved.reading() as session:
        assert (await session.get(Bookkeeping, tallies.ZONE_BOOKKEEPING_KEY)).value == "UTC"
        assert await tallies.drift(session) == {}
        period = quarter_of(dt.date(2025, 1, 1))
        assert await _from_tallies(session, period, TODAY) == await _from_letters(session, period, UTC, TODAY)
    await moved.dispose()
