"""A realistic county, or province, of letters: skewed volumes over the units, eight years, every
status, extensions, invalid letters and topics.

Written for a fresh database, in one transaction, the fastest way each database takes rows in bulk:
the rows converted once as SQLAlchemy's column types convert them (`db.RowConverter`), the
letters' secondary indexes dropped for the load and built again after it (sorting a million keys
once costs less than a million B-tree inserts), SQLite through its own driver without a journal,
PostgreSQL by COPY. The rate tallies are summed in Python over the whole load and written once.
tests/test_bench.py checks the tallies against the letters (`tallies.drift`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
from collections.abc import Iterator
from itertools import accumulate
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.engine import Dialect

from models import tallies
from models.db import Database, RowConverter
from models.tables import Letter, LetterTally, Unit
from models.units import read_topics, read_units_file, sync_units

TZ = ZoneInfo("Asia/Shanghai")
YEARS = 8
BATCH = 20_000
STATUSES = (("done", 0.78), ("accepted", 0.07), ("assigned", 0.05), ("invalid", 0.05), ("returned", 0.02), ("new", 0.03))
TYPES = ("咨询", "求助", "建议", "投诉", "举报", None)

LETTERS = Letter.__table__
COLUMNS = tuple(column.name for column in LETTERS.c if column.name != "id")  # ids from the table


async def prepare(db: Database, units_file) -> list[int]:
    await db.migrate()
    async with db.transaction() as session:
        await sync_units(session, read_units_file(units_file))
    async with db.reading() as session:
        return list((await session.scalars(select(Unit.id).order_by(Unit.position))).all())


def letter_rows(unit_ids: list[int], topics: list[str], letters: int, today: dt.date, seed: int) -> Iterator[list[dict]]:
    """Batches of letters (dicts of their columns), received over the YEARS years up to `today`.
    The random draws are made a batch at a time (one `choices(k=…)` call instead of one per letter)."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(unit_ids))]  # a few busy units, a long tail
    statuses, status_weights = zip(*STATUSES, strict=True)
    status_cumulative, unit_cumulative = list(accumulate(status_weights)), list(accumulate(weights))
    start = dt.datetime.combine(today - dt.timedelta(days=365 * YEARS), dt.time(8), tzinfo=TZ)
    span = (dt.datetime.combine(today, dt.time(8), tzinfo=TZ) - start).total_seconds()
    now = dt.datetime.now(dt.UTC)
    hours, days = [dt.timedelta(hours=h) for h in range(49)], [dt.timedelta(days=d) for d in range(13)]
    week, day, five_hours = dt.timedelta(days=7), dt.timedelta(days=1), dt.timedelta(hours=5)
    extension_days = (None, dt.timedelta(days=3), dt.timedelta(days=6))
    for first in range(0, letters, BATCH):
        count = min(BATCH, letters - first)
        drawn = zip(
            rng.choices(statuses, cum_weights=status_cumulative, k=count),
            rng.choices(unit_ids, cum_weights=unit_cumulative, k=count),
            rng.choices(range(1, 49), k=count),  # hours until assigned
            rng.choices((0, 1, 2), cum_weights=(0.9, 0.98, 1.0), k=count),  # extensions
            rng.choices(range(1, 13), k=count),  # days until done
            rng.choices(TYPES, k=count),
            rng.choices((0, 1, 2), k=count),  # topics
            strict=True,
        )
        rows = []
        for number, (status, unit, after, extensions, took, kind, tagged) in enumerate(drawn, start=first):
            received = start + dt.timedelta(seconds=span * number / letters)
            tags = rng.sample(topics, tagged) if tagged else []
            if status == "new":
                unit = assigned = due = accepted = done = accept_due = None
                extensions = 0
            else:
                assigned = received + hours[after]
                due = (assigned + week).date()
                if extensions:
                    due += extension_days[extensions]
                accepted = assigned + five_hours if status in ("accepted", "done") else None
                done = assigned + days[took] if status == "done" else None
                accept_due = assigned.date() + day
            rows.append({
                "external_id": f"B{number}", "title": f"来信 {number}", "content": "", "received_at": received,
                "type": kind, "tags": tags, "status": status, "unit_id": unit, "assigned_at": assigned,
                "accepted_at": accepted, "done_at": done, "accept_due": accept_due,
                "due_date": due, "due_estimated": False, "extensions": extensions,
                "reply": "已办理" if done else None, "handling_workdays": took * 5 // 7 if done else None,
                "closed_on_time": (done.date() <= due) if done else None,
                "invalid_reason": "重复来信" if status == "invalid" else None,
                "return_reason": "不属于本单位" if status == "returned" else None,
                "created_at": now, "updated_at": now, "accepted_by": None, "closed_by": None, "sender_name": None, "sender_phone": None,
            })
        yield rows


async def fill(db: Database, units_file, letters: int, *, today: dt.date, seed: int = 7) -> None:
    """`letters` letters received over the YEARS years up to `today`, into a database that has none."""
    unit_ids = await prepare(db, units_file)
    topics = list(read_topics(units_file))
    counts = tallies.Changes(db.zone)

    def counted() -> Iterator[list[dict]]:
        for rows in letter_rows(unit_ids, topics, letters, today, seed):
            counts.add_many(rows)
            yield rows

    if db.engine.dialect.name == "sqlite":
        await db.engine.dispose()  # its connections closed, the load may leave WAL (see _sqlite_load)
        await asyncio.to_thread(_sqlite_load, db.engine.url.database, db.engine.dialect, counted(), counts)
    else:
        await _load_postgres(db, counted(), counts)
    await db.tune()


# On SQLite the letters' own times (all different) are formatted here, the rest converted by the
# column types once per distinct value; test_bench pins the result to the column types' own.
TIMES = ("received_at", "assigned_at", "accepted_at", "done_at")
SQLITE_COLUMNS = (*(name for name in COLUMNS if name not in TIMES), *TIMES)


def sqlite_rows(converter: RowConverter, rows: list[dict]) -> list[tuple]:
    """Rows as sqlite3 gets them from SQLAlchemy, in SQLITE_COLUMNS order (`converter` is for the
    columns before TIMES)."""
    times = [[None if value is None else _utc_text(value) for value in map(itemgetter(name), rows)] for name in TIMES]
    return [others + own for others, own in zip(converter.rows(rows), zip(*times, strict=True), strict=True)]


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_load(path: str, dialect: Dialect, batches: Iterator[list[dict]], counts: tallies.Changes) -> None:
    """Through sqlite3 itself, on a connection of its own: with the engine's connections closed the
    database can leave WAL for the load (no journal, no syncing: a fresh file, which a failed load
    leaves useless anyway) and return to it after."""
    converter = RowConverter(LETTERS, SQLITE_COLUMNS[:-len(TIMES)], dialect)
    insert = f"INSERT INTO letters ({', '.join(SQLITE_COLUMNS)}) VALUES ({', '.join('?' * len(SQLITE_COLUMNS))})"  # noqa: S608
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MB: the index builds sort in memory
        connection.execute("BEGIN IMMEDIATE")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'letters' AND sql IS NOT NULL").fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for rows in batches:
            connection.executemany(insert, sqlite_rows(converter, rows))
        for _, sql in indexes:
            connection.execute(sql)
        statement, rows = tallies.upsert(dialect.name, counts.rows())
        if rows:
            compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
            order = list(compiled.positiontup)
            connection.executemany(compiled.string, RowConverter(LetterTally.__table__, order, dialect).rows(rows))
        connection.execute("COMMIT")
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()


async def _load_postgres(db: Database, batches: Iterator[list[dict]], counts: tallies.Changes) -> None:
    converter = RowConverter(LETTERS, COLUMNS, db.engine.dialect)
    async with db.transaction() as session:
        connection = await session.connection()
        # Indexes that stand alone (not a primary key's or a unique constraint's).
        indexes = (await connection.execute(text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename = 'letters'"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"))).all()
        for name, _ in indexes:
            await connection.execute(text(f'DROP INDEX "{name}"'))
        driver = (await connection.get_raw_connection()).driver_connection
        for rows in batches:
            await driver.copy_records_to_table("letters", records=converter.rows(rows), columns=COLUMNS)
        for _, sql in indexes:
            await connection.execute(text(sql))
        rows = counts.rows()
        for start in range(0, len(rows), BATCH):
            await session.execute(*tallies.upsert("postgresql", rows[start:start + BATCH]))
