"""`python -m bot migrate-to URL`: copy everything from DATABASE_URL (usually the SQLite file) into
another database (usually PostgreSQL) that the bot migrates first. Stop the bot before, point
DATABASE_URL at the new database after. Rows keep their ids, so letter numbers people know stay
the same; PostgreSQL's id sequences are moved past them. One transaction on the target: a failed
copy leaves it empty."""

from __future__ import annotations

from sqlalchemy import Integer, func, insert, select, text

from locales import N_, Refusal
from models.db import Database
from models.tables import Base, Letter

CHUNK = 5_000


class MigrateError(Refusal):
    """Why nothing was copied, for the operator's terminal."""


async def migrate_to(source: Database, target_url: str) -> dict[str, int]:
    if target_url == source.url:
        raise MigrateError(N_("the target is the database in use"))
    target = Database(target_url, source.zone)
    copied: dict[str, int] = {}
    try:
        await target.migrate()
        async with target.transaction() as out:
            if await out.scalar(select(func.count()).select_from(Letter)):
                raise MigrateError(N_("the target already holds letters; give an empty database"))
            for table in Base.metadata.sorted_tables:  # parents before children
                await out.execute(table.delete())  # what migrating put there (the tally zone)
            async with source.reading() as into:
                for table in Base.metadata.sorted_tables:
                    copied[table.name] = 0
                    result = await into.stream(select(table).execution_options(yield_per=CHUNK))
                    async for rows in result.mappings().partitions(CHUNK):
                        await out.execute(insert(table), [dict(row) for row in rows])
                        copied[table.name] += len(rows)
            if target.engine.dialect.name == "postgresql":
                for table in Base.metadata.sorted_tables:
                    key = table.primary_key.columns.values()
                    if len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement is not False:
                        await out.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{key[0].name}'),"
                            f" coalesce((SELECT max({key[0].name}) FROM {table.name}), 0) + 1, false)"))  # noqa: S608 - our names
    finally:
        await target.dispose()
    return copied
