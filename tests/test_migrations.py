"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from models.db import Database
from models.tables import Base


async def test_migrations_match_the_models_and_run_twice(database_url):
    db = Database(database_url)
    try:
        await db.migrate()
        await db.migrate()  # a restart migrates again: nothing to do, nothing breaks

        def differences(connection):
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)

        def tables(connection):
            return set(inspect(connection).get_table_names())

        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
            names = await connection.run_sync(tables)
        assert {"units", "members", "invitations", "unit_chats", "letters", "letter_events", "letter_messages"} <= names
    finally:
        await db.dispose()


async def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path):
    from sqlalchemy import text

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/nested/dir/mailbox.db")
    try:
        async with db.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000
        assert (tmp_path / "nested" / "dir" / "mailbox.db").exists()
    finally:
        await db.dispose()


async def test_datetimes_stay_aware(database_url):
    import datetime as dt

    import pytest

    from models.tables import Letter

    db = Database(database_url)
    try:
        await db.migrate()
        shanghai = dt.timezone(dt.timedelta(hours=8))
        async with db.transaction() as session:
            letter = Letter(title="t", received_at=dt.datetime(2019, 3, 5, 10, 0, tzinfo=shanghai))
            session.add(letter)
        async with db.transaction() as session:
            stored = await session.get(Letter, letter.id)
            assert stored.received_at == dt.datetime(2019, 3, 5, 2, 0, tzinfo=dt.UTC)
            assert stored.received_at.tzinfo is not None
        with pytest.raises(Exception, match="naive"):
            async with db.transaction() as session:
                session.add(Letter(title="t", received_at=dt.datetime(2019, 3, 5, 10, 0)))
    finally:
        await db.dispose()


def test_head_is_alembics_head():
    """models.db.HEAD lets a start skip Alembic; it must name the newest migration."""
    from alembic.script import ScriptDirectory

    from models.db import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


async def test_a_database_at_head_is_opened_without_alembic(database_url, tmp_path):
    """The second start finds the schema current and loads no Alembic; a new one still migrates."""
    db = Database(database_url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
    probe = (
        "import asyncio, json, sys\n"
        "from models.db import Database\n"
        "db = Database(sys.argv[1])\n"
        "async def main():\n"
        "    await db.migrate()\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('alembic'))))\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", probe, database_url], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    fresh = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    done = subprocess.run([sys.executable, "-c", probe, fresh], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "alembic" in json.loads(done.stdout.strip().splitlines()[-1])
