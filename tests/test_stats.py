"""The rates an official notice prints, from the letters themselves, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from models.db import Database
from models.stats import Period, percent, quarter_of, report
from tests.notice_data import notice_database

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("part", "whole", "expected"), [(35, 47, "74.5"), (21, 29, "72.4"), (14, 18, "77.8"), (1, 16, "6.3"), (0, 3, "0.0"), (3, 3, "100.0")])
def test_percent_rounds_half_up(part, whole, expected):
    assert percent(part, whole) == Decimal(expected)


def test_no_letters_no_rate():
    assert percent(0, 0) is None


def test_quarters():
    assert quarter_of(dt.date(2019, 2, 14)) == Period(dt.date(2019, 1, 1), dt.date(2019, 3, 31))
    assert quarter_of(dt.date(2019, 12, 31)) == Period(dt.date(2019, 10, 1), dt.date(2019, 12, 31))


async def test_the_2019_q1_notice(database_url):
    await notice_database(database_url)
    db = Database(database_url)
    try:
        async with db.reading() as session:
            result = await report(session, Period(dt.date(2019, 1, 1), dt.date(2019, 3, 31)), TZ, dt.date(2019, 4, 10))
    finally:
        await db.dispose()
    assert (result.total.assigned, result.total.done, result.total.rate) == (47, 35, Decimal("74.5"))
    assert (result.towns.assigned, result.towns.done, result.towns.rate) == (29, 21, Decimal("72.4"))
    assert (result.departments.assigned, result.departments.done, result.departments.rate) == (18, 14, Decimal("77.8"))
    baxian = next(u for u in result.units if u.name == "八仙镇").figures
    assert (baxian.assigned, baxian.done, baxian.on_time, baxian.open, baxian.overdue) == (10, 5, 4, 5, 5)
    assert baxian.on_time_rate == Decimal("40.0") and baxian.average_workdays == Decimal("2.0")
    assert [u.name for u in result.ranked()][:3] == ["八仙镇", "县农业农村局", "县住建局"]
    assert next(u for u in result.units if u.name == "西河镇").figures.rate is None
