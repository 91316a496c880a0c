"""models.sqlite_driver: a statement is one trip to aiosqlite's thread, and SQLAlchemy sees what it
saw through its own adapter: rows, rowcount, lastrowid, RETURNING, executemany, and errors as
SQLAlchemy's (the whole suite runs on it besides)."""

from __future__ import annotations

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
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
