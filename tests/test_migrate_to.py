"""`python -m bot migrate-to URL`: from the SQLite file to an empty PostgreSQL database, every row
with its id, the same figures, and new letters numbered after the old ones."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select

from bot.migrate_to import MigrateError, migrate_to
from models import tallies
from models.db import Database
from models.stats import Period, report
from models.tables import Base, Letter
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_reachable
from tests.notice_data import TZ, notice_database

ROOT = Path(__file__).resolve().parent.parent
Q1 = Period(dt.date(2019, 1, 1), dt.date(2019, 3, 31))


async def empty_postgres() -> str:
    if not await _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required under CI")
        pytest.skip("PostgreSQL not reachable")
    name = f"moved_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


async def table_counts(db: Database) -> dict[str, int]:
    async with db.reading() as session:
        return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


async def test_the_sqlite_file_moves_to_postgresql_whole(tmp_path):
    source_url = f"sqlite+aiosqlite:///{tmp_path}/mailbox.db"
    await notice_database(source_url)
    target_url = await empty_postgres()
    source = Database(source_url)
    copied = await migrate_to(source, target_url)
    with pytest.raises(MigrateError):  # never over letters already there
        await migrate_to(source, target_url)
    before = await table_counts(source)
    async with source.reading() as session:
        old = await report(session, Q1, TZ, dt.date(2019, 6, 1))
        last_id = await session.scalar(select(func.max(Letter.id)))
    await source.dispose()

    target = Database(target_url)
    assert await table_counts(target) == before and copied == before
    async with target.reading() as session:
        moved = await report(session, Q1, TZ, dt.date(2019, 6, 1))
        assert await tallies.drift(session) == {}
    assert (moved.total.assigned, moved.total.done, moved.total.rate) == (47, 35, old.total.rate)
    assert moved == old
    async with target.transaction() as session:  # the sequences moved past the copied ids
        letter = Letter(title="迁移后的新来信", content="", received_at=dt.datetime.now(dt.UTC), tags=[])
        session.add(letter)
    assert letter.id == last_id + 1
    await target.dispose()


def test_the_verb(tmp_path):
    database = tmp_path / "mailbox.db"
    env = {**os.environ, "BOT_TOKEN": "123:" + "a" * 30, "DATABASE_URL": f"sqlite+aiosqlite:///{database}", "LANGUAGE": "zh_CN"}
    done = subprocess.run([sys.executable, "-m", "bot", "migrate-to", f"sqlite+aiosqlite:///{database}"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 3 and done.stderr.startswith("未复制任何数据"), done.stderr
    target = tmp_path / "copy.db"
    done = subprocess.run([sys.executable, "-m", "bot", "migrate-to", f"sqlite+aiosqlite:///{target}"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "units\t" in done.stdout and "复制完成" in done.stdout
    done = subprocess.run([sys.executable, "-m", "bot", "migrate-to", "mysql://u:p@h/x"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "不是机器人可用的数据库地址" in done.stderr and "Traceback" not in done.stderr, done.stderr
