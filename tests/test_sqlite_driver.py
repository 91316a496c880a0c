"""models.sqlite_driver: a statement is one trip to aiosqlite's thread, and SQLAlchemy sees what it
saw through its own adapter: rows, rowcount, lastrowid, RETURNING, executemany, and errors as
SQLAlchemy's (the whole suite runs on it besides)."""

from __future__ import annotations

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from models.db import Database
from models.sqlite_driver import OneTripCursor

METADATA = MetaData()
THINGS = Table("things", METADATA, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield database
    await database.dispose()


async def test_statements_read_and_write_as_through_sqlalchemys_adapter(db):
    async with db.engine.begin() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)
        made = await connection.execute(insert(THINGS).values(name="路灯"))
        assert made.inserted_primary_key == (1,)  # lastrowid
        await connection.execute(insert(THINGS), [{"name": "井盖"}, {"name": "积水"}])  # executemany
        returned = (await connection.execute(insert(THINGS).values(name="噪音").returning(THINGS.c.id))).scalar_one()
        assert returned == 4
        changed = await connection.execute(update(THINGS).where(THINGS.c.id > 1).values(name=THINGS.c.name + "!"))
        assert changed.rowcount == 3
        rows = (await connection.execute(select(THINGS.c.name).order_by(THINGS.c.id))).scalars().all()
        assert rows == ["路灯", "井盖!", "积水!", "噪音!"]
        assert (await connection.execute(select(THINGS).where(THINGS.c.id == 99))).first() is None


async def test_errors_come_out_as_sqlalchemys_and_the_transaction_rolls_back(db):
    with pytest.raises(IntegrityError):
        async with db.engine.begin() as connection:
            await connection.execute(insert(THINGS).values(name="路灯"))
            await connection.execute(insert(THINGS).values(name="路灯"))
    with pytest.raises(OperationalError):
        async with db.engine.begin() as connection:
            await connection.execute(text("SELECT nothing FROM nowhere"))
    async with db.reading() as session:
        assert (await session.execute(select(THINGS))).all() == []


async def test_a_query_is_one_trip_to_aiosqlites_thread(db, monkeypatch):
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    async with db.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the connection is made and begun
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        assert (await connection.execute(select(THINGS.c.id).where(THINGS.c.name == "路灯"))).all() == []
        assert trips == ["_run"]


async def test_a_unit_of_work_that_opens_no_transaction_costs_no_trip_to_end(db, monkeypatch):
    """Database.autocommit and single_read: no BEGIN, and no COMMIT trip for the transaction never
    opened; what autocommit writes is stored at once."""
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    async with db.reading() as session:  # the pool holds a connection already
        await session.execute(text("SELECT 1"))
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with db.autocommit() as connection:
        await connection.execute(insert(THINGS).values(name="路灯"))
    assert trips == ["_run"]
    trips.clear()
    async with db.single_read() as session:
        assert (await session.execute(select(THINGS.c.name))).scalars().all() == ["路灯"]
    assert trips == ["_run"]
    monkeypatch.undo()
    async with db.engine.connect() as other:  # stored, seen from another connection
        assert (await other.execute(select(func.count()).select_from(THINGS))).scalar_one() == 1


async def test_autocommit_and_single_read_on_both_databases(database_url):
    """The same on PostgreSQL, where they run with isolation level AUTOCOMMIT."""
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)
        async with database.autocommit() as connection:
            assert (await connection.execute(insert(THINGS).values(name="路灯"))).rowcount == 1
            await connection.execute(insert(THINGS).values(name="井盖"))
        async with database.single_read() as session:
            names = (await session.execute(select(THINGS.c.name).order_by(THINGS.c.id))).scalars().all()
        assert names == ["路灯", "井盖"]
        async with database.transaction() as session:  # the pooled connection is back to transactions
            await session.execute(insert(THINGS).values(name="积水"))
        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                await session.execute(insert(THINGS).values(name="噪音"))
                raise RuntimeError("rolled back")
        async with database.reading() as session:
            assert (await session.execute(select(func.count()).select_from(THINGS))).scalar_one() == 3
    finally:
        async with database.engine.begin() as connection:
            await connection.run_sync(METADATA.drop_all)
        await database.dispose()
