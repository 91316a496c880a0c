"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from models.db import Database
from models.stats import quarter_of
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


async def test_letters_closed_before_revision_0004_get_their_closing_figures(database_url):
    """0004 added each letter's working days to close and whether it was on time, empty for the
    letters closed before it; the first start on the new code fills them, and the rates count them."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from bot.runtime import Services, prepare_database
    from bot.settings import Settings
    from models.db import alembic_config
    from models.stats import report
    from models.tables import Letter

    db = Database(database_url)

    def to_0003(sync_connection):
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        command.upgrade(config, "0003")

    async with db.engine.begin() as connection:
        await connection.run_sync(to_0003)
        await connection.execute(text(
            "INSERT INTO units (name, kind, aliases, keywords, places, position, active) VALUES ('八仙镇', 'town', '[]', '[]', '[]', 0, true)"))
        await connection.execute(text(
            "INSERT INTO letters (external_id, title, content, received_at, tags, status, unit_id, assigned_at, done_at,"
            " accept_due, due_date, due_estimated, extensions, reply, created_at, updated_at) VALUES ('X1', 't', 'c',"
            " :received, '[]', 'done', (SELECT id FROM units WHERE name = '八仙镇'), :assigned, :done, :accept, :due, false, 0, 'ok',"
            " :received, :received)"),
            {"received": dt.datetime(2026, 10, 9, 2), "assigned": dt.datetime(2026, 10, 9, 3), "done": dt.datetime(2026, 10, 12, 2),
             "accept": dt.date(2026, 10, 10), "due": dt.date(2026, 10, 15)})
    await db.dispose()
    services, other = (Services(settings=Settings(bot_token="123:" + "a" * 30, database_url=database_url), db=Database(database_url)) for _ in range(2))
    try:
        await asyncio.gather(prepare_database(services), prepare_database(other))  # two instances starting together
        async with services.db.reading() as session:
            letter = await session.scalar(select(Letter).where(Letter.external_id == "X1"))
            took = services.rules.deadlines.workdays_to_close(letter.assigned_at, letter.done_at)
            assert took is not None and (letter.handling_workdays, letter.closed_on_time) == (took, True)
            figures = (await report(session, quarter_of(dt.date(2026, 10, 1)), services.settings.tz, dt.date(2026, 11, 30))).total
        assert (figures.done, figures.on_time, figures.average_workdays) == (1, 1, Decimal(took))
        await prepare_database(services)  # the next start finds them filled
    finally:
        await services.db.dispose()
        await other.db.dispose()
