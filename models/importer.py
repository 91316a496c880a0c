"""Importing a CSV or XLSX file of letters: all or nothing.

One streaming pass, so a 100,000-row file never sits in memory: rows are validated and inserted in
batches inside a savepoint; the first bad row stops the inserting (the reading goes on, to report
every bad row) and rolls the savepoint back, so a refused file leaves no trace. Rows whose external
id is already stored are skipped and counted.

The inserting is the bulk path: at 100,000 letters SQLAlchemy's handling of each parameter of each
row would be most of the time, so `_Writer` does that work once per distinct value instead and
hands the driver plain tuples.
- A letter's columns are those of `letters.letter_values` (`LetterRows`), with the work that depends
  only on the times (deadlines, working days) done once per distinct time, and the topics found
  with one regular expression per topic instead of a substring search per keyword.
- The values are converted as SQLAlchemy's column types convert them on this database
  (`db.RowConverter`), once per distinct value, and sent in multi-row statements.
- A letter's history (`letters.history_events`) is copied from the stored letters by one
  INSERT … SELECT per batch (`_events_statement`), rather than sent row by row.
- The database writes a batch while the next one is read and checked (`_Writer`).
tests/test_import_fast.py pins all of it against the general functions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import re
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Integer,
    and_,
    any_,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from models import tallies
from models.db import (
    DriverStatement,
    RowConverter,
    _sqlite_rows_per_statement,
    _sqlite_values_sql,
    insert_converted,
    reserve_ids,
    sqlite_driver,
)
from models.letter_file import LetterFileError, RowProblem, read_letter_file
from models.letter_input import LetterRecord
from models.letters import WAITING_STATUSES, Origin, Rules
from models.outbox import Kind, admin_chat_ids, enqueue, unit_chat_ids
from models.tables import Letter, LetterEvent, LetterStatus, Unit
from models.unit_resolver import UnitResolver

if TYPE_CHECKING:
    from locales import Translator

BATCH = 2000
_PAUSE_EVERY = 128  # rows read between turns of the event loop while a batch is being written
# While importing, a thread that wants Python's lock gets it within this many seconds (default 5 ms):
# aiosqlite's thread needs it briefly around every statement, and would otherwise wait for the
# reading to let go of it (see _Writer).
_SWITCH_INTERVAL = 0.0005
_REMEMBERED = 50_000  # distinct times (or pairs of them) whose deadlines an import keeps at hand

LETTERS = Letter.__table__
EVENTS = LetterEvent.__table__
UNITS = Unit.__table__
COLUMNS = tuple(column.name for column in LETTERS.c)
"""The columns the import writes: all of them, in table order."""

_WAITING = frozenset(status.value for status in WAITING_STATUSES)
WAITING_LISTED = 30  # numbers of letters waiting for assignment named in the answer; more are counted


@dataclass
class ImportReport:
    file_name: str
    imported: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    file_error: LetterFileError | None = None
    # Imported letters that wait for assignment (待交办, 已退回): imports send no card for them, so
    # the answer names them for /assign. `waiting` holds the first WAITING_LISTED numbers.
    waiting: list[int] = field(default_factory=list)
    waiting_count: int = 0

    @property
    def rejected(self) -> int:
        """Bad rows (a row with three bad cells counts once)."""
        return len({p.line for p in self.problems})

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.problems


def report_lines(report: ImportReport, t: Translator) -> list[str]:
    """The answer to an import, as plain lines (the CLI prints them; chat escapes them, see
    handlers.imports)."""
    if report.file_error is not None:
        error = report.file_error
        return [t("{file} was not imported: {reason}.", file=report.file_name, reason=t(error.message, **error.values))]
    if report.problems:
        lines = [t(
            "{file} was not imported: {rejected} rows have problems, so nothing was stored. Correct them and send the file again.",
            file=report.file_name, rejected=report.rejected,
        )]
        lines += [problem_line(p, t) for p in report.problems]
        return lines
    lines = [t(
        "{file}: {imported} letters imported, {skipped} already known and skipped, 0 rows rejected.",
        file=report.file_name, imported=report.imported, skipped=report.skipped,
    )]
    if report.waiting_count:
        numbers = " ".join(f"#{letter_id}" for letter_id in report.waiting)
        if report.waiting_count > len(report.waiting):
            numbers = t("{numbers} and {more} more", numbers=numbers, more=report.waiting_count - len(report.waiting))
        lines.append(t(
            "{count} of them wait for assignment: {numbers}. Send /assign and a number to assign one; the bot suggests units.",
            count=report.waiting_count, numbers=numbers,
        ))
    return lines


def problem_line(problem, t: Translator) -> str:
    return t("line {line}, {column}: {reason}", line=problem.line, column=problem.column, reason=t(problem.message, **problem.values))


async def import_file(
    session: AsyncSession, rules: Rules, path: Path, origin: Origin, now: dt.datetime, *,
    tz: dt.tzinfo, resolver: UnitResolver, display_name: str | None = None,
) -> ImportReport:
    """Validate the whole file, then store it; on any bad row, store nothing. The caller owns the
    transaction: one summary for the other admins is queued in it, together with the letters."""
    report = ImportReport(display_name or path.name)
    # No cyclic garbage collection while importing: the rows make no reference cycles (they are
    # freed batch by batch as usual), yet their millions of allocations would set off collection
    # after collection, each walking the objects the import keeps and, now and then, all the
    # process's (the bot's hundreds of thousands). Cycles made elsewhere meanwhile are collected
    # once the import is over.
    collecting = gc.isenabled()
    gc.disable()
    switching = sys.getswitchinterval()
    sys.setswitchinterval(min(switching, _SWITCH_INTERVAL))
    try:
        return await _import(session, rules, path, origin, now, tz=tz, resolver=resolver, report=report)
    finally:
        sys.setswitchinterval(switching)
        if collecting:
            gc.enable()


async def _import(
    session: AsyncSession, rules: Rules, path: Path, origin: Origin, now: dt.datetime, *,
    tz: dt.tzinfo, resolver: UnitResolver, report: ImportReport,
) -> ImportReport:
    savepoint = await session.begin_nested()
    writer = _Writer(session, rules, origin, now, report)
    batch: list[LetterRecord] = []
    try:
        try:
            for count, row in enumerate(read_letter_file(path, tz=tz, resolver=resolver, now=now)):
                if not count % _PAUSE_EVERY and writer.busy:
                    await writer.pause()
                if row.problems:
                    report.problems.extend(row.problems)
                    batch = []
                elif not report.problems:
                    batch.append(row.record)
                    if len(batch) >= BATCH:
                        await writer.store(batch)
                        batch = []
            if batch and not report.problems:
                await writer.store(batch)
        finally:
            await writer.settle()
    except LetterFileError as exc:
        report.file_error = exc
    if not report.ok:
        await savepoint.rollback()
        report.imported = report.skipped = report.waiting_count = 0
        report.waiting = []
        return report
    await savepoint.commit()
    if report.imported or report.skipped:
        others = [a for a in await admin_chat_ids(session, rules.admin_ids) if a != origin.actor_id]
        enqueue(
            session, others, Kind.IMPORT_SUMMARY,
            payload={"file": report.file_name, "imported": report.imported, "skipped": report.skipped},
        )
    return report


class _Writer:
    """Stores validated letters in batches, for one import, in few and large statements (multi-row
    INSERTs, one INSERT … SELECT for the events). A batch's statements run in the background while
    the next batch is read and checked (the reading lets the event loop run now and then, see
    `pause`); nothing else touches the session meanwhile. `settle` waits for them and then does, in
    the foreground, what needs the session: the rate tallies, the counts, the units' cards.

    PostgreSQL works in a process of its own. SQLite works in aiosqlite's thread, which needs
    Python's lock for every call it takes, every statement it binds and every step it returns
    from, while this thread, busy reading, holds the lock but for a moment now and then (see
    _SWITCH_INTERVAL). So on SQLite a whole batch is one call in that thread (`_write_sqlite`):
    its few statements and nothing else, no rows coming back (an INSERT … RETURNING hands back
    each row by a step of its own); SQLite runs each statement without the lock, side by side
    with the reading."""

    def __init__(self, session: AsyncSession, rules: Rules, origin: Origin, now: dt.datetime, report: ImportReport):
        self.session, self.origin, self.now, self.report = session, origin, now, report
        self.rows = LetterRows(rules, now)
        self.dialect = session.bind.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.converter = RowConverter(LETTERS, COLUMNS, self.dialect)
        self.unit_chats: dict[int, list[int]] = {}
        self._among = (
            LETTERS.c.id.between(bindparam("first", type_=Integer), bindparam("last", type_=Integer)) if self.sqlite
            # PostgreSQL's sequence may interleave other transactions' ids with a batch's.
            else LETTERS.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))
        )
        self._events: Any = _events_statement(self._among, origin, now, report.file_name, self.dialect)
        self._driver: Any = None  # SQLite: the aiosqlite connection under the session
        self._next_id: int | None = None  # SQLite: the next free id (see _reserve)
        self._pending: asyncio.Future | None = None
        self._stored_before: int | None = None  # the highest letter id before this import
        self._batch: tuple[list[int], list[dict[str, Any]], list[LetterRecord]] | None = None

    @property
    def busy(self) -> bool:
        return self._pending is not None and not self._pending.done()

    async def pause(self) -> None:
        """A turn of the event loop: asyncpg's writing goes on, the bot answers others meanwhile."""
        await asyncio.sleep(0)

    async def store(self, records: list[LetterRecord]) -> None:
        await self.settle()
        records = await self._not_stored_without_ids(records)
        if not records:
            return
        if self.sqlite and self._driver is None:
            self._driver = await sqlite_driver(self.session)
            if self._driver is not None:
                self._events = DriverStatement(self._events, self.dialect)
        ids = await self._reserve(len(records))
        rows = [self.rows.values(letter_id, record) for letter_id, record in zip(ids, records, strict=True)]
        self._batch = (ids, rows, records)
        self._pending = asyncio.ensure_future(self._write(ids, self.converter.rows(rows)))
        await self.pause()

    async def _not_stored_without_ids(self, records: list[LetterRecord]) -> list[LetterRecord]:
        """Letters without the website's number are known by their time, title and text: a file
        without 编号 sent twice stores its letters once. Only letters stored before this import
        count, so two such rows of one file are stored as the file has them, wherever its batches
        end. (Those with a number are skipped by the unique index, see `_write`.)"""
        if self._stored_before is None:  # the first batch: nothing of this import is stored yet
            self._stored_before = await self.session.scalar(select(func.max(LETTERS.c.id))) or 0
        anonymous = {record.received_at for record in records if record.external_id is None}
        if not anonymous:
            return records
        stored = set((await self.session.execute(
            select(LETTERS.c.received_at, LETTERS.c.title, LETTERS.c.content).where(
                LETTERS.c.external_id.is_(None), LETTERS.c.received_at.in_(sorted(anonymous)), LETTERS.c.id <= self._stored_before,
            )
        )).all())
        kept = [r for r in records if r.external_id is not None or (r.received_at, r.title, r.content) not in stored]
        self.report.skipped += len(records) - len(kept)
        return kept

    async def _reserve(self, count: int) -> list[int]:
        """`db.reserve_ids`. On SQLite that is max(id) + 1 on: this transaction holds the only write
        lock, so after the first batch it is known here without asking (see settle)."""
        if self._next_id is None:
            return await reserve_ids(self.session, LETTERS.name, count)
        return list(range(self._next_id, self._next_id + count))

    async def _write(self, ids: list[int], stored: list[tuple]) -> list[int]:
        """In the background: the letters, then their events. Returns the ids that went in.
        Letters already stored (same external id) are skipped by the unique index itself: a lookup
        first would scan a table whose statistics do not know about this import's own rows."""
        if self._driver is not None:
            per_statement = _sqlite_rows_per_statement(COLUMNS)
            statements = [
                (_sqlite_values_sql(LETTERS, COLUMNS, self.dialect, "external_id", len(chunk)), chunk)
                for chunk in (stored[start:start + per_statement] for start in range(0, len(stored), per_statement))
            ]
            events = (self._events.sql, self._events.parameters(self._among_values(ids)))
            inserted = await _in_sqlite_thread(self._driver, _write_sqlite, statements, ids, events)
            return ids if inserted is None else inserted
        count = await insert_converted(self.session, LETTERS, COLUMNS, stored, "external_id")
        connection = await self.session.connection()
        if count == len(ids):
            inserted = ids
        else:
            inserted = sorted((await connection.scalars(select(LETTERS.c.id).where(self._among), self._among_values(ids))).all())
        if inserted:
            await connection.execute(self._events, self._among_values(ids))
        return inserted

    def _among_values(self, ids: list[int]) -> dict[str, Any]:
        return {"first": ids[0], "last": ids[-1]} if self.sqlite else {"ids": ids}

    async def settle(self) -> None:
        """Wait until the last batch is written (raising what writing it raised), then account for
        the letters it stored."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        inserted = await pending
        ids, rows, records = self._batch
        self._batch = None
        if len(inserted) != len(ids):
            kept = set(inserted)
            rows = [row for row in rows if row["id"] in kept]
            records = [record for letter_id, record in zip(ids, records, strict=True) if letter_id in kept]
        # `rows`: the letters this batch stored, as dicts of their columns (Python values).
        await tallies.add_rows(self.session, rows)
        self.report.skipped += len(ids) - len(rows)
        self.report.imported += len(rows)
        for row, record in zip(rows, records, strict=True):
            if row["status"] in _WAITING:
                self.report.waiting_count += 1
                if len(self.report.waiting) < WAITING_LISTED:
                    self.report.waiting.append(row["id"])
            # Letters assigned by the import itself are news to their units; history is not.
            if record.assigned_on_arrival:
                enqueue(self.session, await self._unit_chats(record.unit_id), Kind.LETTER_CARD, letter_id=row["id"])
        if self.sqlite:
            self._next_id = rows[-1]["id"] + 1 if rows else ids[0]

    async def _unit_chats(self, unit_id: int) -> list[int]:
        chats = self.unit_chats.get(unit_id)
        if chats is None:
            chats = self.unit_chats[unit_id] = list(await unit_chat_ids(self.session, unit_id))
        return chats


async def _in_sqlite_thread(driver: Any, work, *args) -> Any:
    """`work(connection, *args)` in aiosqlite's thread, on the sqlite3 connection under `driver`, as
    one call (aiosqlite runs each of its own calls the same way; `_execute` is how it queues one,
    as SQLAlchemy's adapter queues its own). Driver errors come out as SQLAlchemy's, as from a
    session."""
    try:
        return await driver._execute(work, driver._conn, *args)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(getattr(work, "__name__", ""), None, exc, sqlite3.Error) from exc


def _write_sqlite(connection: sqlite3.Connection, statements: list[tuple[str, list[tuple]]], ids: list[int], events: tuple[str, tuple]) -> list[int] | None:
    """In aiosqlite's thread: a batch's letters (multi-row INSERTs that leave out stored external
    ids), then their events. Returns the ids that went in, or None for all of them."""
    before = connection.total_changes
    for sql, rows in statements:
        connection.execute(sql, tuple(chain.from_iterable(rows)))
    inserted = None
    if connection.total_changes - before != len(ids):  # some were stored already
        inserted = [row[0] for row in connection.execute(
            "SELECT id FROM letters WHERE id BETWEEN ? AND ? ORDER BY id", (ids[0], ids[-1]))]
    if inserted is None or inserted:
        connection.execute(*events)
    return inserted


# `letters.history_events`, as rows to join with the letters: (order, action, to status, which letters).
# The other columns (when, from which status) are worked out in `_events_statement`.
_HISTORY = (
    (1, "received", LetterStatus.NEW, None),
    (2, "assigned", LetterStatus.ASSIGNED, LETTERS.c.assigned_at.is_not(None)),
    (3, "accepted", LetterStatus.ACCEPTED, LETTERS.c.accepted_at.is_not(None)),
    (4, "done", LetterStatus.DONE, LETTERS.c.done_at.is_not(None)),
    (5, "returned", LetterStatus.RETURNED, LETTERS.c.status == LetterStatus.RETURNED.value),
    (6, "invalidated", LetterStatus.INVALID, LETTERS.c.status == LetterStatus.INVALID.value),
)


def _events_statement(among, origin: Origin, now: dt.datetime, file_name: str, dialect: Dialect):
    """INSERT INTO letter_events … SELECT: each stored letter (`among`) joined with the kinds of
    event its columns call for, in letter order and then in `history_events` order, so the events
    get their ids as if inserted letter by letter. One statement per batch: the database does it
    in one go, while the next rows are read."""
    e, letter = EVENTS.c, LETTERS.c
    kinds = union_all(*(
        select(literal(order, Integer).label("n"), literal(action, e.action.type).label("action"),
               literal(to_status.value, e.to_status.type).label("to_status"))
        for order, action, to_status, _ in _HISTORY
    )).subquery("kinds")
    n = kinds.c.n
    new, assigned, accepted = (literal(s.value, e.from_status.type) for s in (LetterStatus.NEW, LetterStatus.ASSIGNED, LetterStatus.ACCEPTED))
    after_assignment = case((letter.accepted_at.is_not(None), accepted), else_=assigned)
    moment = literal(now, e.at.type)
    query = (
        select(
            letter.id,
            case((n == 2, letter.assigned_at), (n == 3, letter.accepted_at), (n == 4, letter.done_at), else_=moment),
            literal(origin.actor_id, e.actor_id.type), literal(origin.kind, e.actor_kind.type),
            literal(origin.chat_id, e.chat_id.type), kinds.c.action,
            case(
                (n == 2, new), (n == 3, assigned), (or_(n == 4, n == 5), after_assignment),
                (n == 6, case((letter.assigned_at.is_not(None), assigned), else_=new)),
                else_=literal(None, e.from_status.type),
            ),
            kinds.c.to_status,
            case(
                (n == 1, literal({"source": file_name}, e.detail.type)),
                (n == 2, _json_object(dialect, "unit", select(UNITS.c.name).where(UNITS.c.id == letter.unit_id).scalar_subquery())),
                (n == 6, _json_object(dialect, "reason", letter.invalid_reason)),
                else_=literal({}, e.detail.type),
            ),
        )
        .select_from(LETTERS.join(kinds, or_(*(n == order if which is None else and_(n == order, which) for order, _, _, which in _HISTORY))))
        .where(among)
        .order_by(letter.id, n)
    )
    columns = ["letter_id", "at", "actor_id", "actor_kind", "chat_id", "action", "from_status", "to_status", "detail"]
    return insert(EVENTS).from_select(columns, query)


def _json_object(dialect: Dialect, key: str, value):
    """{key: value} built by the database, as `history_events` details it (the key is a constant
    of ours, written into the SQL)."""
    build = func.json_build_object if dialect.name == "postgresql" else func.json_object
    return build(literal_column(f"'{key}'"), value, type_=EVENTS.c.detail.type)


class LetterRows:
    """A new letter's columns, as `letters.letter_values` gives them (with its id), for many letters:
    what depends only on the times (deadlines, working days, on time) is worked out once per
    distinct value, and the topics by one regular expression each."""

    def __init__(self, rules: Rules, now: dt.datetime):
        self.deadlines = rules.deadlines
        self.now = now
        self.topics = TopicFinder(rules.topics)
        self._due: dict[tuple[dt.datetime, str | None], tuple[dt.date, dt.date, bool]] = {}
        self._workdays: dict[tuple[dt.datetime, dt.datetime | None], int | None] = {}
        self._on_time: dict[tuple[dt.datetime | None, dt.date], bool | None] = {}

    def values(self, letter_id: int, record: LetterRecord) -> dict[str, Any]:
        now = self.now
        assigned_at, done_at = record.assigned_at, record.done_at
        accept_due = due_date = handling_workdays = closed_on_time = None
        due_estimated = False
        if assigned_at is not None:
            key = (assigned_at, record.type)
            found = self._due.get(key)
            if found is None:
                deadlines = self.deadlines.for_assignment(assigned_at, record.type)
                found = _keep(self._due, key, (deadlines.accept_due, deadlines.due_date, deadlines.estimated))
            accept_due, due_date, due_estimated = found
            span = (assigned_at, done_at)
            handling_workdays = self._workdays.get(span, span)
            if handling_workdays is span:
                handling_workdays = _keep(self._workdays, span, self.deadlines.workdays_to_close(assigned_at, done_at))
            closing = (done_at, due_date)
            closed_on_time = self._on_time.get(closing, closing)
            if closed_on_time is closing:
                closed_on_time = _keep(self._on_time, closing, self.deadlines.on_time(done_at, due_date))
        return {
            "external_id": record.external_id, "title": record.title, "content": record.content,
            "sender_name": record.sender_name, "sender_phone": record.sender_phone, "received_at": record.received_at,
            # `_value_` is what `.value` returns, without the enum property's cost on every row.
            "type": record.type, "tags": self.topics(record.title, record.content), "status": record.status._value_,
            "unit_id": record.unit_id, "assigned_at": assigned_at, "accepted_at": record.accepted_at, "done_at": done_at,
            "reply": record.reply, "invalid_reason": record.invalid_reason, "created_at": now, "updated_at": now,
            "accept_due": accept_due, "due_date": due_date, "due_estimated": due_estimated, "extensions": 0,
            "accepted_by": None, "closed_by": None, "return_reason": None, "handling_workdays": handling_workdays,
            "closed_on_time": closed_on_time, "id": letter_id,
        }


def _keep(memo: dict, key: object, value: object) -> Any:
    if len(memo) >= _REMEMBERED:
        memo.clear()
    memo[key] = value
    return value


class TopicFinder:
    """`units.topics_of(f"{title}\\n{content}", topics)`, with one regular expression per topic (any
    of its keywords, as plain text) and one for all of them to pass over letters of no topic."""

    def __init__(self, topics: Mapping[str, tuple[str, ...]]):
        self.patterns = [(topic, _any_of(keywords)) for topic, keywords in topics.items() if keywords]
        self.any = _any_of([keyword for _, keywords in topics.items() for keyword in keywords]) if self.patterns else None

    def __call__(self, title: str, content: str) -> list[str]:
        if self.any is None:
            return []
        text = f"{title}\n{content}"
        if self.any.search(text) is None:
            return []
        return [topic for topic, pattern in self.patterns if pattern.search(text)]


def _any_of(keywords) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(keyword) for keyword in keywords))
