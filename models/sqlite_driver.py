"""aiosqlite as SQLAlchemy drives it, with one trip to aiosqlite's thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips for a query (make a cursor, execute, fetch the rows,
close the cursor), each a hand-over to aiosqlite's thread and back through the event loop. An
indexed lookup takes SQLite a few microseconds; the trips take a tenth of a millisecond each, and a
bot answer is several statements. Here a statement is one trip: a function run in aiosqlite's
thread makes the sqlite3 cursor, executes, and fetches every row, as SQLAlchemy's adapter fetches
them all anyway. What SQLAlchemy reads of the cursor afterwards (description, rowcount, lastrowid)
are plain attributes of the finished sqlite3 cursor, readable from any thread. Everything else
(connections, transactions, errors, server-side cursors) is SQLAlchemy's adapter, unchanged;
`create_engine(…, module=ONE_TRIP_DBAPI)` puts it in place. SQLAlchemy is pinned in pyproject.toml,
and the whole test suite runs on it.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT


class _BeforeTheFirstStatement:
    """What SQLAlchemy may read of a cursor that has run nothing yet."""

    description = None
    rowcount = -1
    lastrowid = None
    arraysize = 1


_NOTHING_RUN = _BeforeTheFirstStatement()


def _run(connection: sqlite3.Connection, operation: str, parameters: Any) -> tuple[sqlite3.Cursor, list | None]:
    """In aiosqlite's thread: the whole statement, rows and all."""
    cursor = connection.cursor()
    cursor.execute(operation, () if parameters is None else parameters)
    return cursor, (cursor.fetchall() if cursor.description else None)


def _run_many(connection: sqlite3.Connection, operation: str, parameters: Any) -> sqlite3.Cursor:
    cursor = connection.cursor()
    cursor.executemany(operation, parameters)
    return cursor


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection):
        # No cursor is made here (SQLAlchemy's adapter makes one, a trip of its own): _run makes it.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _NOTHING_RUN
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        async with self._adapt_connection._execute_mutex:
            self._cursor, rows = await self._connection._execute(_run, self._connection._conn, operation, parameters)
            if rows is not None:
                self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        async with self._adapt_connection._execute_mutex:
            self._cursor = await self._connection._execute(_run_many, self._connection._conn, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement ran to its end in its one trip."""

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    # Outside a transaction sqlite3's commit and rollback do nothing; sqlite3 says whether one is
    # open without a trip to the thread, so ending a unit of work that opened none costs none, and
    # so does the pool's rollback of a connection given back (a unit of work has ended its own).

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def _in_transaction(self) -> bool:
        connection = self._connection._connection
        return connection is None or connection.in_transaction  # closed: let the adapter say so


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneTripConnection  # the same adapter, with the one-trip cursor
        return connection


ONE_TRIP_DBAPI = OneTripDBAPI(aiosqlite, sqlite3)
