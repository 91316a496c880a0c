"""Engine, sessions and migrations.

SQLite is the embedded default: WAL so readers never wait for the writer, foreign keys on (SQLite
leaves them off), and a busy timeout so the CLI, the intake API and the bot can write side by side.
Write transactions start with BEGIN IMMEDIATE: a deferred transaction that read first and writes
later fails at once with "database is locked" when another writer got in between, busy timeout or
not; taking the write lock up front makes it wait its turn instead.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")  # TIMEZONE's default


def create_engine(url: str, **kwargs) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:
    readonly = connection.get_execution_options().get(READONLY, False)
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


READONLY = "mailbox_readonly"


MIGRATION_LOCK_KEY = 0x6D61696C  # "mail": the advisory lock instances migrate under
_process_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _process_lock() -> asyncio.Lock:
    """One lock per event loop (an asyncio.Lock belongs to the loop it first waited on)."""
    loop = asyncio.get_running_loop()
    if loop not in _process_locks:
        _process_locks[loop] = asyncio.Lock()
    return _process_locks[loop]


class Database:
    """One engine and its session factory; `transaction()` is the one unit of work per update."""

    def __init__(self, url: str, zone: ZoneInfo = DEFAULT_ZONE, **engine_kwargs):
        from models.tallies import ZONE_INFO_KEY, TallyingSession

        self.url = url
        self.zone = zone  # TIMEZONE: the days the rate tallies are kept in
        self.engine = create_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=TallyingSession, info={ZONE_INFO_KEY: zone},
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work that may write; committed on leaving, rolled back on an exception."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work: on SQLite it takes no write lock, so it never queues behind
        writers."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options={READONLY: True})
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest revision, and the rate tallies to this zone. Instances
        starting together take turns: on PostgreSQL under an advisory lock (other processes), and
        always under a lock of this process (Alembic's context is global to the process)."""
        from models.tallies import rebuild_if_zone_changed

        postgres = self.engine.dialect.name == "postgresql"
        async with _process_lock(), self.engine.connect() as guard:
            if postgres:
                await guard.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                await guard.commit()
            try:
                async with self.engine.begin() as connection:
                    await connection.run_sync(_upgrade)
                async with self.transaction() as session:
                    await rebuild_if_zone_changed(session)
            finally:
                if postgres:
                    await guard.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    await guard.commit()

    async def tune(self) -> None:
        """Refresh SQLite's table statistics (sampled, so it takes milliseconds even at a million
        letters): without them its planner takes the status index for the rates query and reads
        every letter instead of one quarter. PostgreSQL's autovacuum does this by itself."""
        if self.engine.dialect.name != "sqlite":
            return
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


async def reserve_ids(session: AsyncSession, table: str, count: int) -> list[int]:
    """Primary keys for a bulk insert, so it can run as one multi-row INSERT without RETURNING
    (which SQLAlchemy must send row by row when the order of the ids matters). On PostgreSQL
    they come from the table's sequence; on SQLite the write transaction (BEGIN IMMEDIATE) holds
    the only write lock, so max(id) cannot move under us."""
    if count <= 0:
        return []
    if session.bind.dialect.name == "postgresql":
        rows = await session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table, "count": count},
        )
        return [row[0] for row in rows]
    start = await session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))  # noqa: S608 - table names are ours
    return list(range(start + 1, start + 1 + count))


async def insert_new(session: AsyncSession, table: Table, rows: list[dict], unique_column: str) -> set[int]:
    """Bulk INSERT … ON CONFLICT DO NOTHING: rows whose `unique_column` value is already stored are
    left out, by the database's own index. Returns the ids of the rows that went in."""
    if not rows:
        return set()
    dialect = session.bind.dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    statement = statement.on_conflict_do_nothing(index_elements=[unique_column]).returning(table.c.id)
    return set((await session.scalars(statement, rows)).all())


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(sync_connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_connection
    command.upgrade(config, "head")
