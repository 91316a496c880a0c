"""Engine, sessions and migrations.

SQLite is the embedded default: WAL so readers never wait for the writer, foreign keys on (SQLite
leaves them off), and a busy timeout so the CLI, the intake API and the bot can write side by side.
Write transactions start with BEGIN IMMEDIATE: a deferred transaction that read first and writes
later fails at once with "database is locked" when another writer got in between, busy timeout or
not; taking the write lock up front makes it wait its turn instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import socket
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from itertools import chain
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0008"
"""The newest migration's revision (tests/test_migrations.py holds it to Alembic's own head)."""
SQLITE_BUSY_TIMEOUT_MS = 15_000
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")  # TIMEZONE's default


def create_engine(url: str, **kwargs) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        from models.sqlite_driver import ONE_TRIP_DBAPI

        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, module=ONE_TRIP_DBAPI, **kwargs,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "connect", _came_back)
    event.listen(engine.sync_engine, "checkin", _came_back)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


# The database going away ---------------------------------------------------------------------
# PostgreSQL restarting, failing over or cut off. A pooled connection idle for a while is pinged
# before use and replaced if it died meanwhile (`_ping_if_idle`); what was running on one, or
# tries to connect while the server is down, fails.
# Where giving up would lose or repeat something (an update acknowledged to Telegram unstored, a
# sent message not recorded), the work is waited through instead: `until_reachable`.

PING_AFTER_IDLE = 2.0  # seconds
_IDLE_SINCE = "mailbox_idle_since"


def _came_back(_dbapi_connection, record) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """SQLAlchemy's pool_pre_ping, for connections idle PING_AFTER_IDLE or longer. Its ping is three
    round trips on asyncpg (BEGIN, ";", ROLLBACK), and pinging at every checkout put six of them
    on the path of every answer. A connection given back moments ago is as good as a ping says;
    if the server went away since all the same, the statement fails as one would in mid-work,
    SQLAlchemy drops the pool's connections, and the work is retried (`until_reachable`, and
    bot.inbox for updates)."""
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # the pool replaces this connection and checks out another
        raise DisconnectionError("a pooled connection did not answer its ping") from exc


RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0)  # seconds between tries; then the last, for as long as it takes
_T = TypeVar("_T")


@lru_cache(maxsize=1)
def _postgres_unreachable() -> tuple[type[BaseException], ...]:
    try:
        from asyncpg import exceptions
    except ImportError:  # an SQLite-only installation
        return ()
    # class 08 (connection exceptions), and the server shutting down or not yet accepting
    return (exceptions.PostgresConnectionError, exceptions.CannotConnectNowError,
            exceptions.AdminShutdownError, exceptions.CrashShutdownError)


def database_unreachable(error: BaseException) -> bool:
    """The database could not be reached, or dropped the connection, so the same work may succeed
    as it is once it is back. Not errors in what was asked (a constraint, a statement), nor
    SQLite's busy (its busy timeout has waited already), nor anyone else's network errors (a
    Telegram error caused by a refused connection is not the database's)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        # SQLAlchemy's error → the adapter's → the driver's
        return any(_cut_off(cause) for cause in (error.orig, getattr(error.orig, "__cause__", None)) if cause is not None)
    return _cut_off(error)  # connecting: the driver's error, as it is


_NETWORK_ERRNOS = frozenset({errno.ENETDOWN, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EHOSTUNREACH})


def _cut_off(error: BaseException) -> bool:
    # refused, reset, a connect that timed out, no such host, no route
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    if isinstance(error, OSError) and (
        error.errno in _NETWORK_ERRNOS
        or (error.errno is None and str(error).startswith("Multiple exceptions:"))  # asyncio: every address of the host refused
    ):
        return True
    return isinstance(error, _postgres_unreachable())


async def until_reachable(
    action: Callable[[], Awaitable[_T]], what: str, *, keep_trying: Callable[[], bool] = lambda: True,
    any_error: bool = False,
) -> _T:
    """`action()`, again from the start for as long as the database is unreachable (and
    `keep_trying()`); another error is raised at once, or with `any_error` retried too (logged
    with its traceback). `action` must be a whole unit of work: a transaction, all or nothing."""
    attempt = 0
    while True:
        try:
            return await action()
        except Exception as exc:
            unreachable = database_unreachable(exc)
            if not (unreachable or any_error) or not keep_trying():
                raise
            if attempt % 10 == 0:  # a line every ~15 s of trouble (an outage, a full disk), not one per try
                if unreachable:
                    log.warning("%s: the database is unreachable (%r); trying again until it is back", what, exc)
                else:
                    log.exception("%s failed; trying again", what)
        await asyncio.sleep(RETRY_PAUSES[min(attempt, len(RETRY_PAUSES) - 1)])
        attempt += 1


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:
    options = connection.get_execution_options()
    if options.get(AUTOCOMMIT, False):
        return  # each statement is its own transaction (Database.autocommit)
    connection.exec_driver_sql("BEGIN" if options.get(READONLY, False) else "BEGIN IMMEDIATE")


READONLY = "mailbox_readonly"
AUTOCOMMIT = "mailbox_autocommit"


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

    @asynccontextmanager
    async def single_read(self) -> AsyncIterator[AsyncSession]:
        """`reading` for a read of one statement, atomic by itself: no BEGIN and COMMIT around it
        (two trips to aiosqlite's thread, or two round trips to PostgreSQL, on the path of an
        answer). Two statements in it are two snapshots."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options={READONLY: True, **self._autocommit_options()})
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement commits by itself, for work that is one write (the
        inbox's store of an update)."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**self._autocommit_options())
            yield connection  # nothing to commit afterwards, so nothing after the writes can fail

    def _autocommit_options(self) -> dict[str, Any]:
        if self.engine.dialect.name == "sqlite":
            return {AUTOCOMMIT: True}  # see _sqlite_begin; the driver is in autocommit already
        return {"isolation_level": "AUTOCOMMIT"}

    async def reachable(self, keep_trying: Callable[[], bool] = lambda: True) -> bool:
        """Waits until the database answers (True), or `keep_trying()` says stop (False)."""

        async def ping() -> None:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")

        try:
            await until_reachable(ping, "waiting for the database", keep_trying=keep_trying)
        except Exception as exc:
            if database_unreachable(exc):
                return False
            raise
        return True

    async def migrate(self, then: Callable[[AsyncSession], Awaitable[None]] | None = None) -> None:
        """Bring the schema to the newest revision, and the rate tallies to this zone; then, in the
        same turn, `then(session)` (the rest of a start's writing: the units, backfills). Instances
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
                if then is not None:
                    async with self.transaction() as session:
                        await then(session)
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


# Bulk loads through the driver ----------------------------------------------------------------
# SQLAlchemy prepares every parameter of every row of an executemany on its own (type processors,
# key lookups): at a 100,000-letter import that is most of the time. `RowConverter` does that work
# once per distinct value instead, a column at a time, and hands the driver plain tuples.

_REMEMBERED = 50_000  # distinct values remembered per column and class
# Classes whose equal values SQLAlchemy's types store alike (not float: 0.0 == -0.0, yet JSON tells
# them apart), so a column of them is converted once per distinct value. Datetimes only when they
# share one zone: equal instants in two zones are equal, yet a plain DateTime stores their local
# times. (Equal times that differ only in `fold`, the repeated hour when clocks go back, are
# treated as one; nothing here makes such times.)
_BY_VALUE = frozenset({str, int, bool, dt.date, dt.datetime})
_NONE = type(None)
_ZONE = attrgetter("tzinfo")


class RowConverter:
    """Rows (mappings of column → Python value) into tuples of what the driver gets from SQLAlchemy
    for `columns` of `table` on `dialect`: each column's type does to a value what it does in any
    other statement (a UTC string for a datetime on SQLite, JSON text, 0/1 for a flag)."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect):
        self.columns = tuple(columns)
        self.processors: list[Callable[[Any], Any] | None] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.columns
        ]
        self._memos: list[dict[Any, dict[Any, Any]]] = [{} for _ in self.columns]
        self._getters = [itemgetter(name) for name in self.columns]

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple]:
        values = []
        for get, process, memos in zip(self._getters, self.processors, self._memos, strict=True):
            column = list(map(get, rows))
            values.append(column if process is None else self._convert(column, process, memos))
        return list(zip(*values, strict=True))

    @staticmethod
    def _convert(column: list[Any], process: Callable[[Any], Any], memos: dict[Any, dict[Any, Any]]) -> list[Any]:
        kinds = set(map(type, column)) - {_NONE}  # None equals only itself: it may share any memo
        kind = kinds.pop() if len(kinds) == 1 else _NONE
        if kinds:  # several classes
            return [process(value) for value in column]
        if kind is list:  # JSON lists of strings (tags): remembered by their items
            memo = memos.setdefault(list, {})
            converted = []
            for value in column:
                if value is not None and all(item.__class__ is str for item in value):
                    key = tuple(value)
                    stored = memo.get(key)
                    if stored is None:
                        if len(memo) >= _REMEMBERED:
                            memo.clear()
                        stored = memo[key] = process(value)
                    converted.append(stored)
                else:
                    converted.append(process(value))
            return converted
        if kind is not _NONE and kind not in _BY_VALUE:
            return [process(value) for value in column]
        key: Any = kind
        if kind is dt.datetime:
            zones = set(map(_ZONE, filter(None, column)))
            if len(zones) != 1:
                return [process(value) for value in column]
            key = (kind, zones.pop())
        memo = memos.setdefault(key, {})
        try:
            return list(map(memo.__getitem__, column))
        except KeyError:
            if len(memo) >= _REMEMBERED:
                memo.clear()
            for value in set(column).difference(memo):
                memo[value] = process(value)
            return list(map(memo.__getitem__, column))


_DRIVER_INSERTS: dict[tuple, str] = {}


def driver_insert_sql(table: Table, columns: Sequence[str], dialect: Dialect, unique_column: str | None = None) -> str:
    """The INSERT (… ON CONFLICT (unique_column) DO NOTHING) that `insert_converted` sends, in the
    dialect's own parameter style, parameters in `columns` order."""
    key = (table.name, tuple(columns), dialect.name, dialect.paramstyle, unique_column)
    sql = _DRIVER_INSERTS.get(key)
    if sql is None:
        statement = (pg_insert if dialect.name == "postgresql" else sqlite_insert)(table)
        if unique_column is not None:
            statement = statement.on_conflict_do_nothing(index_elements=[unique_column])
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        if compiled.positiontup is not None and list(compiled.positiontup) != list(columns):
            raise ValueError(f"{table.name}: columns {columns} are not in table order")
        sql = _DRIVER_INSERTS[key] = compiled.string
    return sql


async def insert_converted(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: list[tuple], unique_column: str | None = None,
) -> int:
    """Bulk INSERT of rows already converted (`RowConverter`), through the driver; with
    `unique_column`, rows whose value there is already stored are left out by the database's own
    index (ON CONFLICT DO NOTHING). Returns how many rows went in, or -1 when the driver does not
    say (asyncpg): then ask the table.

    On SQLite the rows go as multi-row INSERT … VALUES statements: SQLite runs each as one step,
    without Python's GIL, where an executemany takes it back for every row (and so crawls while
    another thread of the process computes)."""
    if not rows:
        return 0
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        sql = driver_insert_sql(table, columns, dialect, unique_column)
        await connection.exec_driver_sql(sql, rows)
        return -1
    per_statement = _sqlite_rows_per_statement(columns)
    count = 0
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        sql = _sqlite_values_sql(table, tuple(columns), dialect, unique_column, len(chunk))
        result = await connection.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
        count += result.rowcount
    return count


# SQLite's limit on the parameters of one statement (SQLITE_MAX_VARIABLE_NUMBER): 32766 since 3.32.
_SQLITE_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35)  # INSERT … RETURNING


def _sqlite_rows_per_statement(columns: Sequence[str]) -> int:
    return max(1, min(1000, _SQLITE_VARIABLES // len(columns)))


@lru_cache(maxsize=16)
def _sqlite_values_sql(
    table: Table, columns: tuple[str, ...], dialect: Dialect, unique_column: str | None, count: int, returning: str | None = None,
) -> str:
    quote = dialect.identifier_preparer.quote
    row = "(" + ", ".join("?" * len(columns)) + ")"
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES {', '.join([row] * count)}"
    if unique_column is not None:
        sql += f" ON CONFLICT ({quote(unique_column)}) DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {quote(returning)}"
    return sql


# SQLite straight through aiosqlite ------------------------------------------------------------
# aiosqlite runs the connection in a thread of its own. SQLAlchemy's cursor makes three round trips
# to it per statement (open, execute, close), each needing Python's lock on the way back; while this
# thread computes (an import reading its next rows) each round trip waits for that lock. The helpers
# below send a statement in one round trip (aiosqlite's execute_fetchall), on the session's own
# connection, so inside its transaction; SQLite runs the statement itself without the lock.


async def sqlite_driver(session: AsyncSession) -> Any:
    """The aiosqlite connection under the session (its transaction is the session's)."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def sqlite_run(driver: Any, sql: str, parameters: Sequence[Any]) -> list:
    """One statement, one round trip; driver errors come out as SQLAlchemy's, as from a session."""
    try:
        return list(await driver.execute_fetchall(sql, parameters))
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


async def sqlite_insert_returning(
    driver: Any, table: Table, columns: Sequence[str], rows: list[tuple], dialect: Dialect,
    unique_column: str | None = None, returning: str = "id",
) -> list:
    """`insert_converted` through the driver: multi-row INSERT … RETURNING statements, one round
    trip each. Returns the `returning` column of the rows that went in (with `unique_column`, rows
    whose value there is already stored are left out). Needs SQLITE_RETURNING."""
    per_statement = _sqlite_rows_per_statement(columns)
    stored: list = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        sql = _sqlite_values_sql(table, tuple(columns), dialect, unique_column, len(chunk), returning)
        stored.extend(row[0] for row in await sqlite_run(driver, sql, tuple(chain.from_iterable(chunk))))
    return stored


class DriverStatement:
    """A Core statement compiled once for a dialect with positional parameters (SQLite), for sending
    through the driver: `parameters` gives its parameters as SQLAlchemy would send them, the
    statement's own values and the ones given by name both processed by their types."""

    def __init__(self, statement: Any, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: parameters are not positional")
        self.sql = compiled.string
        self._names = list(compiled.positiontup)
        self._binds = {name: compiled.binds[name] for name in self._names}
        self._processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in self._binds.items()
        }

    def parameters(self, values: Mapping[str, Any]) -> tuple:
        parameters = []
        for name in self._names:
            value = values[name] if name in values else self._binds[name].effective_value
            process = self._processors[name]
            parameters.append(value if process is None else process(value))
        return tuple(parameters)


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(sync_connection) -> None:
    """Alembic's upgrade to head; skipped, with Alembic itself (a tenth of a second of imports at
    every start of the bot and every CLI verb), when the database already stands at HEAD."""
    if _revision(sync_connection) == HEAD:
        return
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = sync_connection
    command.upgrade(config, "head")


def _revision(sync_connection) -> str | None:
    """The revision the database stands at; None for a new database."""
    from sqlalchemy import inspect

    if not inspect(sync_connection).has_table("alembic_version"):
        return None
    return sync_connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
