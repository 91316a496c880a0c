"""The benchmark at a small size, so it never rots. It checks what the benchmark measures is right;
it never asserts a time."""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing

from sqlalchemy import func, select

from bench.generate import fill
from bench.run import measure, sweep_time
from bot.settings import DEFAULT_UNITS_FILE
from models.db import Database
from models.stats import Period, report
from models.tables import Letter
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_reachable


async def test_generator_and_statistics_agree(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/gen.db")
    today = dt.date(2026, 11, 30)
    await fill(db, DEFAULT_UNITS_FILE, 2000, today=today)
    async with db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Letter)) == 2000
        statuses = set((await session.scalars(select(Letter.status).distinct())).all())
        counted = await session.scalar(select(func.count()).select_from(Letter).where(Letter.status.in_(("assigned", "accepted", "done"))))
        result = await report(session, Period(dt.date(2000, 1, 1), today), db_tz(), today)
    await db.dispose()
    assert statuses == {"new", "assigned", "accepted", "done", "returned", "invalid"}
    assert result.total.assigned == counted


def db_tz():
    from bench.generate import TZ

    return TZ


async def test_sweep_sends_one_digest_per_unit(tmp_path):
    for units in (36, 400):
        # Three sweeps, the first two rolled back: each decides the same, one set of digests stays.
        _, decided, queued = await sweep_time(f"sqlite+aiosqlite:///{tmp_path}/s{units}.db", units, 300, repeat=3)
        assert decided == queued == min(units, 300)


async def test_the_whole_benchmark_runs_small(tmp_path):
    postgres = POSTGRES_ADMIN_URL if await _postgres_reachable() else None
    before = set(await _bench_databases()) if postgres else set()
    figures, notes = await measure(2000, 2, postgres, tmp_path)
    names = [f.name for f in figures]
    assert any(n.startswith("/rate 八仙镇 round trip") for n in names) and any(n.startswith("statistics query, all time") for n in names)
    assert any("import" in n for n in names) and any("closing by reply" in n for n in names) and any("RSS" in n for n in names)
    assert all(f.ours > 0 for f in figures)
    # The import beside the same baseline as its floor (the database writing what it stored) and
    # its ceiling (the command's start, then that writing).
    imported, floor, ceiling, driver, driver_ceiling = (next(f for f in figures if f.name.startswith(prefix)) for prefix in (
        "import through", "… the database alone writing what the import stored", "… the command's start, then that writing,",
        "… the same rows stored through the driver", "… the command's start, then that writing through the driver"))
    assert imported.baseline == floor.baseline == ceiling.baseline == driver.baseline == driver_ceiling.baseline
    assert floor.ours > ceiling.ours and driver.ours > driver_ceiling.ours
    # Both floors stored exactly what the command did.
    for copy in ("stored.db", "driver.db"):
        for table in ("letters", "letter_events", "letter_tallies"):
            assert _rows(tmp_path / copy, table) == _rows(tmp_path / "import.db", table) != []
    assert any("SEARCH letters" in note or "Scan" in note for note in notes)
    if postgres:  # settled after the load, measured, and its database dropped at the end
        assert any(n == "/rate 八仙镇 round trip (PostgreSQL)" for n in names)
        assert set(await _bench_databases()) <= before


def _rows(database, table: str) -> list[tuple]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()  # noqa: S608


async def _bench_databases() -> list[str]:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        return [row[0] for row in await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'")]
    finally:
        await connection.close()


async def test_the_load_test_runs_small():
    from bench.load import run_load

    load = await run_load(people=10, seconds=3)
    assert load.asked > 0 and load.answered == load.asked
    assert not load.errors and not load.closed_twice and not load.drift
    assert {"close by reply", "/rate", "import"} <= set(load.percentiles())


async def test_the_bulk_load_stores_what_sqlalchemy_stores(database_url):
    """The generator's fast load (converted rows, indexes rebuilt, no journal, COPY) gives the
    letters, indexes and tallies that plain inserts through SQLAlchemy give."""
    from sqlalchemy import delete, insert, text

    from bench.generate import COLUMNS, letter_rows
    from models import tallies
    from models.tables import LetterTally, Unit
    from models.units import read_topics

    today, count = dt.date(2026, 11, 30), 700
    kept = [c for c in COLUMNS if c not in ("created_at", "updated_at")]  # when the rows were made
    db = Database(database_url)

    async def stored() -> tuple[list, set]:
        async with db.reading() as session:
            connection = await session.connection()
            letters = [tuple(r) for r in (await connection.exec_driver_sql(
                f"SELECT {', '.join(kept)} FROM letters ORDER BY external_id")).all()]  # noqa: S608
            index_query = ("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'letters'" if db.engine.dialect.name == "sqlite"
                           else "SELECT indexname FROM pg_indexes WHERE tablename = 'letters'")
            indexes = set((await connection.exec_driver_sql(index_query)).scalars().all())
            assert await tallies.drift(session) == {}
        return letters, indexes

    try:
        await db.migrate()
        async with db.reading() as session:
            before = (await stored())[1]
        await fill(db, DEFAULT_UNITS_FILE, count, today=today, seed=3)
        fast, indexes = await stored()
        assert len(fast) == count and indexes == before
        if db.engine.dialect.name == "sqlite":
            async with db.reading() as session:
                assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"

        async with db.transaction() as session:
            await session.execute(delete(Letter))
            await session.execute(delete(LetterTally))
            unit_ids = list((await session.scalars(select(Unit.id).order_by(Unit.position))).all())
            for rows in letter_rows(unit_ids, list(read_topics(DEFAULT_UNITS_FILE)), count, today, 3):
                await session.execute(insert(Letter.__table__), rows)
                await tallies.add_rows(session, rows)
        general, _ = await stored()
    finally:
        await db.dispose()
    assert fast == general
    assert {row[kept.index("status")] for row in fast} == {"new", "assigned", "accepted", "done", "returned", "invalid"}
