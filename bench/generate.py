"""A realistic county, or province, of letters: skewed volumes over the units, eight years, every
status, extensions, invalid letters and topics. Bulk inserts of plain rows, in one transaction."""

from __future__ import annotations

import datetime as dt
import random
from itertools import accumulate
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from models import tallies
from models.db import Database
from models.tables import Letter, Unit
from models.units import read_topics, read_units_file, sync_units

TZ = ZoneInfo("Asia/Shanghai")
YEARS = 8
BATCH = 20_000
STATUSES = (("done", 0.78), ("accepted", 0.07), ("assigned", 0.05), ("invalid", 0.05), ("returned", 0.02), ("new", 0.03))


async def prepare(db: Database, units_file) -> list[int]:
    await db.migrate()
    async with db.transaction() as session:
        await sync_units(session, read_units_file(units_file))
    async with db.reading() as session:
        return list((await session.scalars(select(Unit.id).order_by(Unit.position))).all())


async def fill(db: Database, units_file, letters: int, *, today: dt.date, seed: int = 7) -> None:
    """`letters` letters received over the YEARS years up to `today`."""
    unit_ids = await prepare(db, units_file)
    topics = list(read_topics(units_file))
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(unit_ids))]  # a few busy units, a long tail
    statuses, status_weights = zip(*STATUSES, strict=True)
    # cumulative weights once: choices() would add them up again for every letter
    status_cumulative, unit_cumulative = list(accumulate(status_weights)), list(accumulate(weights))
    start = dt.datetime.combine(today - dt.timedelta(days=365 * YEARS), dt.time(8), tzinfo=TZ)
    span = (dt.datetime.combine(today, dt.time(8), tzinfo=TZ) - start).total_seconds()
    now = dt.datetime.now(dt.UTC)
    rows = []
    async with db.transaction() as session:
        for number in range(letters):
            received = start + dt.timedelta(seconds=span * number / letters)
            status = rng.choices(statuses, cum_weights=status_cumulative)[0]
            unit = rng.choices(unit_ids, cum_weights=unit_cumulative)[0] if status != "new" else None
            assigned = received + dt.timedelta(hours=rng.randint(1, 48)) if unit else None
            due = (assigned + dt.timedelta(days=7)).date() if assigned else None
            extensions = rng.choices((0, 1, 2), cum_weights=(0.9, 0.98, 1.0))[0] if assigned else 0
            if due and extensions:
                due += dt.timedelta(days=3 * extensions)
            done = assigned + dt.timedelta(days=rng.randint(1, 12)) if status == "done" else None
            rows.append({
                "external_id": f"B{number}", "title": f"来信 {number}", "content": "", "received_at": received,
                "type": rng.choice(("咨询", "求助", "建议", "投诉", "举报", None)), "tags": rng.sample(topics, rng.randint(0, 2)),
                "status": status, "unit_id": unit, "assigned_at": assigned,
                "accepted_at": assigned + dt.timedelta(hours=5) if status in ("accepted", "done") else None,
                "done_at": done, "accept_due": assigned.date() + dt.timedelta(days=1) if assigned else None,
                "due_date": due, "due_estimated": False, "extensions": extensions,
                "reply": "已办理" if done else None, "handling_workdays": (done - assigned).days * 5 // 7 if done else None,
                "closed_on_time": (done.date() <= due) if done else None,
                "invalid_reason": "重复来信" if status == "invalid" else None,
                "return_reason": "不属于本单位" if status == "returned" else None,
                "created_at": now, "updated_at": now, "accepted_by": None, "closed_by": None, "sender_name": None, "sender_phone": None,
            })
            if len(rows) >= BATCH:
                await session.execute(insert(Letter.__table__), rows)
                await tallies.add_rows(session, rows)
                rows = []
        if rows:
            await session.execute(insert(Letter.__table__), rows)
            await tallies.add_rows(session, rows)
    await db.tune()
