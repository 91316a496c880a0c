"""Running tallies of the rates (table letter_tallies), so a quarter's figures are a sum over a few
thousand rows rather than over every letter of the quarter: `/rate` stays instant at a million
letters.

Every letter's contribution is a function of six of its columns (see `contribution`). The tallies
follow the letters inside the same transaction, by two routes:
- ORM changes: a flush listener on the sessions `Database` hands out compares each changed letter's
  old contribution with its new one, so no domain function has to remember to do it;
- bulk Core inserts (imports, the benchmark generator) call `add_rows` with the rows they wrote.

Days are local dates in one zone (TIMEZONE), recorded in `bookkeeping`; if the zone changes, the
tallies are rebuilt at start. `drift` recomputes everything from the letters: the tests run it
after every scenario, so a write path that forgets the tallies cannot go unnoticed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from models.tables import Bookkeeping, Letter, LetterStatus, LetterTally

ZONE_INFO_KEY = "tally_zone"  # in Session.info: the zone the session's tallies use
ZONE_BOOKKEEPING_KEY = "tally_zone"  # in the bookkeeping table: the zone the stored tallies use
NO_DEADLINE = dt.date(9999, 12, 31)  # closed letters (and open ones without one) are never overdue
COUNTS = ("assigned", "done", "on_time", "open", "workdays_sum", "workdays_count")
SOURCE_COLUMNS = ("unit_id", "received_at", "status", "due_date", "closed_on_time", "handling_workdays")
OPEN = (LetterStatus.ASSIGNED, LetterStatus.ACCEPTED)
COUNTED = (*OPEN, LetterStatus.DONE)

Key = tuple[dt.date, int, dt.date]  # day, unit, deadline
Counts = tuple[int, int, int, int, int, int]


def contribution(values: Mapping, zone: ZoneInfo) -> tuple[Key, Counts] | None:
    """What one letter adds to the tallies; None for letters in no rate (see models.stats)."""
    status, unit_id = values["status"], values["unit_id"]
    if unit_id is None or status not in COUNTED:
        return None
    is_open, is_done = status in OPEN, status == LetterStatus.DONE
    workdays = values["handling_workdays"] if is_done else None
    key = (values["received_at"].astimezone(zone).date(), unit_id, (values["due_date"] or NO_DEADLINE) if is_open else NO_DEADLINE)
    return key, (1, int(is_done), int(is_done and values["closed_on_time"] is True), int(is_open),
                 workdays or 0, int(workdays is not None))


class Changes:
    """Summed differences per key, written in one statement (keys sorted, so two PostgreSQL
    transactions touching the same rows lock them in the same order and cannot deadlock)."""

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self.sums: dict[Key, list[int]] = defaultdict(lambda: [0] * len(COUNTS))

    def add(self, values: Mapping | None, sign: int = 1) -> None:
        found = contribution(values, self.zone) if values is not None else None
        if found is not None:
            total = self.sums[found[0]]
            for i, count in enumerate(found[1]):
                total[i] += sign * count

    def add_many(self, rows: Iterable[Mapping]) -> None:
        """`add` for each of many rows (dicts with at least SOURCE_COLUMNS): each distinct set of
        their source values is worked out once (a bulk load repeats the same few), rows in no rate
        passed over first."""
        repeated = Counter(map(_source, filter(_counted, rows)))
        for values, times in repeated.items():
            key, counts = contribution(dict(zip(SOURCE_COLUMNS, values, strict=True)), self.zone)  # type: ignore[misc]
            total = self.sums[key]
            for i, count in enumerate(counts):
                total[i] += times * count

    def rows(self) -> list[dict]:
        return _rows(self.sums.items())


_source = itemgetter(*SOURCE_COLUMNS)


def _counted(row: Mapping) -> bool:
    return row["unit_id"] is not None and row["status"] in COUNTED


def _rows(sums) -> list[dict]:
    """Table rows from (key, counts) pairs, in key order, leaving out all-zero counts."""
    return [
        {"day": day, "unit_id": unit_id, "due_date": due, **dict(zip(COUNTS, counts, strict=True))}
        for (day, unit_id, due), counts in sorted(sums) if any(counts)
    ]


def upsert(dialect_name: str, rows: list[dict]):
    """INSERT … ON CONFLICT DO UPDATE adding the counts: the same on SQLite and PostgreSQL."""
    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    statement = insert(LetterTally.__table__)
    return statement.on_conflict_do_update(
        index_elements=["day", "unit_id", "due_date"],
        set_={name: LetterTally.__table__.c[name] + statement.excluded[name] for name in COUNTS},
    ), rows


async def add_rows(session: AsyncSession, rows: Iterable[Mapping]) -> None:
    """After a bulk insert of letter rows (dicts with at least SOURCE_COLUMNS)."""
    changes = Changes(session.info[ZONE_INFO_KEY])
    changes.add_many(rows)
    if written := changes.rows():
        await session.execute(*upsert(session.bind.dialect.name, written))


def _values_before(letter: Letter) -> dict | None:
    state = inspect(letter)
    if state.pending:
        return None
    before = {}
    for name in SOURCE_COLUMNS:
        history = state.attrs[name].history
        # active_history on these columns loads the old value before it is replaced
        before[name] = history.deleted[0] if history.deleted else getattr(letter, name)
    return before


def _values_after(letter: Letter) -> dict:
    return {name: getattr(letter, name) for name in SOURCE_COLUMNS}


def follow_flush(session: Session, _flush_context) -> None:
    """after_flush: the session's new/dirty/deleted and the attribute histories still show what the
    flush wrote."""
    zone = session.info.get(ZONE_INFO_KEY)
    if zone is None:
        return
    changes = Changes(zone)
    for letter in session.new:
        if isinstance(letter, Letter):
            changes.add(_values_after(letter))
    for letter in session.dirty:
        if isinstance(letter, Letter) and session.is_modified(letter, include_collections=False):
            changes.add(_values_before(letter), -1)
            changes.add(_values_after(letter))
    for letter in session.deleted:
        if isinstance(letter, Letter):
            changes.add(_values_before(letter), -1)
    if written := changes.rows():
        session.connection().execute(*upsert(session.bind.dialect.name, written))


class TallyingSession(Session):
    """The sync session behind every AsyncSession that Database hands out."""


event.listen(TallyingSession, "after_flush", follow_flush)


async def from_letters(session: AsyncSession, zone: ZoneInfo) -> dict[Key, Counts]:
    """The tallies as they should be, recomputed from every letter (streamed, not loaded at once)."""
    changes = Changes(zone)
    columns = [getattr(Letter, name) for name in SOURCE_COLUMNS]
    query = select(*columns).where(Letter.unit_id.is_not(None), Letter.status.in_(COUNTED))
    async for row in await session.stream(query.execution_options(yield_per=20_000)):
        changes.add(dict(zip(SOURCE_COLUMNS, row, strict=True)))
    return {key: tuple(counts) for key, counts in changes.sums.items() if any(counts)}


async def stored(session: AsyncSession) -> dict[Key, Counts]:
    columns = [getattr(LetterTally, name) for name in COUNTS]
    rows = await session.execute(select(LetterTally.day, LetterTally.unit_id, LetterTally.due_date, *columns))
    return {(day, unit_id, due): tuple(counts) for day, unit_id, due, *counts in rows if any(counts)}


async def drift(session: AsyncSession) -> dict[Key, tuple[Counts | None, Counts | None]]:
    """Keys where the stored tallies differ from the letters: (stored, expected). Empty is good."""
    expected = await from_letters(session, session.info[ZONE_INFO_KEY])
    actual = await stored(session)
    return {key: (actual.get(key), expected.get(key))
            for key in expected.keys() | actual.keys() if actual.get(key) != expected.get(key)}


async def rebuild_if_zone_changed(session: AsyncSession) -> bool:
    """At start: tallies built in another zone (or never built) are rebuilt from the letters."""
    zone: ZoneInfo = session.info[ZONE_INFO_KEY]
    recorded = await session.get(Bookkeeping, ZONE_BOOKKEEPING_KEY)
    if recorded is not None and recorded.value == zone.key:
        return False
    await rebuild(session)
    return True


async def rebuild(session: AsyncSession) -> None:
    """The tallies, all of them from the letters, in the session's zone."""
    zone: ZoneInfo = session.info[ZONE_INFO_KEY]
    recorded = await session.get(Bookkeeping, ZONE_BOOKKEEPING_KEY)
    await session.execute(delete(LetterTally))
    expected = await from_letters(session, zone)
    rows = _rows(expected.items())
    for start in range(0, len(rows), 10_000):
        await session.execute(*upsert(session.bind.dialect.name, rows[start:start + 10_000]))
    if recorded is None:
        session.add(Bookkeeping(key=ZONE_BOOKKEEPING_KEY, value=zone.key))
    else:
        recorded.value = zone.key
