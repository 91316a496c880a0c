"""The quarterly notice (通报): the figures, the main topics, and which units handled letters
promptly and which lag, by rules stated once here (and in the README).

- Lagging (办理滞后): a unit with letters whose 办结率 is below the overall 办结率, or that has two or
  more overdue letters.
- Prompt (办理及时): a unit with letters that closed every one of them, each by its deadline.
Both lists name towns first, then departments, each in the units file's order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from models.stats import COUNTED, Period, Report, UnitFigures, report
from models.tables import Letter, UnitKind

MAIN_TOPICS = 4
LAGGING_OVERDUE = 2


@dataclass(frozen=True)
class Notice:
    report: Report
    topics: list[str]
    prompt: list[str]
    lagging: list[str]


def _in_notice_order(units: list[UnitFigures]) -> list[str]:
    towns_first = sorted(units, key=lambda u: (u.kind != UnitKind.TOWN, u.position))
    return [u.name for u in towns_first]


def judge(result: Report) -> tuple[list[str], list[str]]:
    overall = result.total.rate
    with_letters = [u for u in result.units if u.figures.assigned]
    lagging = [
        u for u in with_letters
        if (overall is not None and u.figures.rate < overall) or u.figures.overdue >= LAGGING_OVERDUE
    ]
    prompt = [u for u in with_letters if u.figures.done == u.figures.assigned == u.figures.on_time]
    return _in_notice_order(prompt), _in_notice_order(lagging)


async def main_topics(session: AsyncSession, period: Period, tz: ZoneInfo, limit: int = MAIN_TOPICS) -> list[str]:
    """The topics most letters of the period were tagged with, counted by the database (a quarter
    of a province is tens of thousands of letters); of topics as frequent, the one met first in
    order of receipt comes first."""
    begin, finish = period.bounds(tz)
    # A letter's tags as rows: a function in FROM may read the table before it, on both databases.
    each = func.json_array_elements_text if session.bind.dialect.name == "postgresql" else func.json_each
    tags = each(Letter.tags).table_valued("value").alias("tag")  # both name their column "value"
    topic, letters = tags.c.value, func.count()
    rows = await session.execute(
        select(topic, letters)
        .select_from(Letter.__table__.join(tags, true()))
        .where(Letter.received_at >= begin, Letter.received_at < finish, Letter.status.in_(COUNTED))
        .group_by(topic)
        .order_by(letters.desc(), func.min(Letter.received_at), func.min(Letter.id))
        .limit(limit)
    )
    return [name for name, _ in rows.all()]


async def notice(session: AsyncSession, period: Period, tz: ZoneInfo, today: dt.date) -> Notice:
    result = await report(session, period, tz, today)
    prompt, lagging = judge(result)
    return Notice(result, await main_topics(session, period, tz), prompt, lagging)
