"""Importing a CSV or XLSX file of letters: all or nothing.

One streaming pass, so a 100,000-row file never sits in memory: rows are validated and inserted in
batches inside a savepoint; the first bad row stops the inserting (the reading goes on, to report
every bad row) and rolls the savepoint back, so a refused file leaves no trace. Rows whose external
id is already stored are skipped and counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import tallies
from models.db import insert_new, reserve_ids
from models.letter_file import LetterFileError, RowProblem, read_letter_file
from models.letter_input import LetterRecord
from models.letters import Origin, Rules, event_values, history_events, letter_values
from models.outbox import Kind, admin_chat_ids, enqueue, unit_chat_ids
from models.tables import Letter, LetterEvent
from models.unit_resolver import UnitResolver

BATCH = 1000


@dataclass
class ImportReport:
    file_name: str
    imported: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    file_error: LetterFileError | None = None

    @property
    def rejected(self) -> int:
        """Bad rows (a row with three bad cells counts once)."""
        return len({p.line for p in self.problems})

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.problems


async def import_file(
    session: AsyncSession, rules: Rules, path: Path, origin: Origin, now: dt.datetime, *,
    tz: dt.tzinfo, resolver: UnitResolver, display_name: str | None = None,
) -> ImportReport:
    """Validate the whole file, then store it; on any bad row, store nothing. The caller owns the
    transaction: one summary for the other admins is queued in it, together with the letters."""
    report = ImportReport(display_name or path.name)
    savepoint = await session.begin_nested()
    batch: list[LetterRecord] = []
    try:
        for row in read_letter_file(path, tz=tz, resolver=resolver, now=now):
            if row.problems:
                report.problems.extend(row.problems)
                batch = []
            elif not report.problems:
                batch.append(row.record)
                if len(batch) >= BATCH:
                    await _store(session, rules, batch, origin, now, report)
                    batch = []
        if batch and not report.problems:
            await _store(session, rules, batch, origin, now, report)
    except LetterFileError as exc:
        report.file_error = exc
    if not report.ok:
        await savepoint.rollback()
        report.imported = report.skipped = 0
        return report
    await savepoint.commit()
    if report.imported or report.skipped:
        others = [a for a in await admin_chat_ids(session, rules.admin_ids) if a != origin.actor_id]
        enqueue(
            session, others, Kind.IMPORT_SUMMARY,
            payload={"file": report.file_name, "imported": report.imported, "skipped": report.skipped},
        )
    return report


async def _store(session: AsyncSession, rules: Rules, records: list[LetterRecord], origin: Origin, now: dt.datetime, report: ImportReport) -> None:
    ids = await reserve_ids(session, Letter.__tablename__, len(records))
    rows = [{**letter_values(rules, record, now), "id": letter_id} for letter_id, record in zip(ids, records, strict=True)]
    # Letters already stored (same external id) are skipped by the unique index itself: a lookup
    # first would scan a table whose statistics do not know about this import's own rows.
    inserted = await insert_new(session, Letter.__table__, rows, "external_id")
    await tallies.add_rows(session, (row for row in rows if row["id"] in inserted))
    fresh = [(letter_id, record) for letter_id, record in zip(ids, records, strict=True) if letter_id in inserted]
    report.skipped += len(records) - len(fresh)
    report.imported += len(fresh)
    source = {"source": report.file_name}
    events = [
        event_values(letter_id, origin, action, at, from_status, to_status, source if action == "received" else {})
        for letter_id, record in fresh
        for action, at, from_status, to_status in history_events(record, now)
    ]
    if events:
        await session.execute(insert(LetterEvent.__table__), events)
    # Letters assigned by the import itself are news to their units; history is not.
    for letter_id, record in fresh:
        if record.assigned_on_arrival:
            enqueue(session, await unit_chat_ids(session, record.unit_id), Kind.LETTER_CARD, letter_id=letter_id)
