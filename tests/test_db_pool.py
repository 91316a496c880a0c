"""PostgreSQL's pooled connections: one idle past PING_AFTER_IDLE is pinged and, dead, replaced
before use; one given back moments ago is used without a ping, and if the server dropped it all
the same, the statement fails as the database going away (so the work is retried) and the next
one runs on a new connection."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

import models.db as db_module
from models.db import Database, database_unreachable
from tests.conftest import POSTGRES_ADMIN_URL


async def _backend_pid(db: Database) -> int:
    async with db.engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _terminate(pid: int) -> None:
    """From outside the pool, as the server itself would drop it."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
        while await connection.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            await asyncio.sleep(0.01)
    finally:
        await connection.close()


async def test_idle_connections_are_pinged_and_fresh_ones_are_not(database_url, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop a connection")
    db = Database(database_url, pool_size=1, max_overflow=1)
    try:
        # Idle past the limit: pinged, found dead, replaced; the work never sees it.
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
        first = await _backend_pid(db)
        await _terminate(first)
        assert await _backend_pid(db) != first

        # Given back moments ago: no ping; dropped all the same, the statement fails as the
        # database going away, and the next one gets a new connection.
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 3600.0)
        used = await _backend_pid(db)
        await _terminate(used)
        with pytest.raises(Exception) as failure:
            await _backend_pid(db)
        assert database_unreachable(failure.value)
        assert await _backend_pid(db) != used
    finally:
        await db.dispose()
