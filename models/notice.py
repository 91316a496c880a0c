"""The quarterly notice (通报): the figures, the main topics, and which units handled letters
promptly and which lag, by rules stated once here (and in the README).

- Lagging (办理滞后): a unit with letters whose 办结率 is below the overall 办结率, or that has two or
  more overdue letters.
- Prompt (办理及时): a unit with letters that closed every one of them, each by its deadline.
Both lists name towns first, then departments, each in the units file's order.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
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
    """The topics most letters of the period were tagged with (only the tags column is read)."""
    begin, finish = period.bounds(tz)
    counts: Counter[str] = Counter()
    rows = await session.stream_scalars(
        select(Letter.tags).where(Letter.received_at >= begin, Letter.received_at < finish, Letter.status.in_(COUNTED))
    )
    async for tags in rows:
        counts.update(tags or [])
    return [topic for topic, _ in counts.most_common(limit)]


async def notice(session: AsyncSession, period: Period, tz: ZoneInfo, today: dt.date) -> Notice:
    result = await report(session, period, tz, today)
    prompt, lagging = judge(result)
    return Notice(result, await main_topics(session, period, tz), prompt, lagging)
