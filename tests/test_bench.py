"""The benchmark at a small size, so it never rots. It checks what the benchmark measures is right;
it never asserts a time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bench.generate import fill
from bench.run import measure, sweep_time
from bot.settings import DEFAULT_UNITS_FILE
from models.db import Database
from models.stats import Period, report
from models.tables import Letter


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
        _, decided, queued = await sweep_time(f"sqlite+aiosqlite:///{tmp_path}/s{units}.db", units, 300)
        assert decided == queued == min(units, 300)


async def test_the_whole_benchmark_runs_small(tmp_path):
    figures, notes = await measure(2000, 2, None, tmp_path)
    names = [f.name for f in figures]
    assert any(n.startswith("/rate 八仙镇 round trip") for n in names) and any(n.startswith("statistics query, all time") for n in names)
    assert any("import" in n for n in names) and any("closing by reply" in n for n in names) and any("RSS" in n for n in names)
    assert all(f.ours > 0 for f in figures)
    assert any("SEARCH letters" in note or "Scan" in note for note in notes)


async def test_the_load_test_runs_small():
    from bench.load import run_load

    load = await run_load(people=10, seconds=3)
    assert load.asked > 0 and load.answered == load.asked
    assert not load.errors and not load.closed_twice and not load.drift
    assert {"close by reply", "/rate", "import"} <= set(load.percentiles())
