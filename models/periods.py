"""Periods as people type them: 2019Q1, 2019-03, 2019, 2019-01-01..2019-03-31, 2019年第一季度,
2019年3月, 2019年, 本季度, 上季度, 本月, 上月, 今年, 去年. Nothing typed: the current quarter."""

from __future__ import annotations

import datetime as dt
import re

from locales import N_, Translator
from models.stats import Period, quarter_of

CHINESE_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
EXAMPLES = "2019Q1, 2019-03, 2019, 2019-01-01..2019-03-31, 2019年第一季度, 2019年3月, 本季度, 上季度, 本月, 今年"


class PeriodError(ValueError):
    message = N_("“{text}” is not a period I know. Examples: {examples}")


def _month(year: int, month: int) -> Period:
    start = dt.date(year, month, 1)
    following = dt.date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return Period(start, following - dt.timedelta(days=1))


def _quarter(year: int, quarter: int) -> Period:
    return quarter_of(dt.date(year, 3 * quarter - 2, 1))


def _year(year: int) -> Period:
    return Period(dt.date(year, 1, 1), dt.date(year, 12, 31))


# A period's bounds are local midnights that must exist in UTC too (the first and the last day of
# the calendar do not): the statistics query letters between them.
FIRST_DAY, LAST_DAY = dt.date.min + dt.timedelta(days=1), dt.date.max - dt.timedelta(days=1)


def parse_period(text: str | None, today: dt.date) -> Period:
    period = _parse(text, today)
    if not FIRST_DAY <= period.start <= period.end <= LAST_DAY:
        raise PeriodError((text or "").strip())
    return period


def split_period(text: str, today: dt.date) -> tuple[str, Period]:
    """What names the unit or group, and the period: `八仙镇 2019Q1`, `2019年第一季度 八仙镇`,
    `城关镇2019Q1`, `镇 本月`; without a period, the current quarter. Unit names hold no digits, so
    text with a digit that is no period is a mistyped one: PeriodError, never the current quarter
    in its place."""
    words = text.split()
    for cut in range(len(words)):  # the period last, the longest first
        try:
            return " ".join(words[:cut]), parse_period(" ".join(words[cut:]), today)
        except PeriodError:
            continue
    for cut in range(len(words) - 1, 0, -1):  # or first
        try:
            return " ".join(words[cut:]), parse_period(" ".join(words[:cut]), today)
        except PeriodError:
            continue
    digit = re.search(r"\d", text)
    if digit is None:
        return text.strip(), parse_period("", today)
    if digit.start() > 0:  # no space before it
        try:
            return text[:digit.start()].strip(), parse_period(text[digit.start():], today)
        except PeriodError:
            pass
    raise PeriodError(" ".join(word for word in words if re.search(r"\d", word)))


def _parse(text: str | None, today: dt.date) -> Period:
    raw = (text or "").strip()
    value = re.sub(r"\s+", "", raw).upper()
    if not value or value in ("本季度", "本季", "THISQUARTER"):
        return quarter_of(today)
    if value in ("上季度", "上季", "LASTQUARTER"):
        return quarter_of(quarter_of(today).start - dt.timedelta(days=1))
    if value in ("本月", "THISMONTH"):
        return _month(today.year, today.month)
    if value in ("上月", "上个月", "LASTMONTH"):
        previous = today.replace(day=1) - dt.timedelta(days=1)
        return _month(previous.year, previous.month)
    if value in ("今年", "本年", "THISYEAR"):
        return _year(today.year)
    if value in ("去年", "上年", "LASTYEAR"):
        return _year(today.year - 1)
    try:
        if match := re.fullmatch(r"(\d{4})-?Q([1-4])", value):
            return _quarter(int(match[1]), int(match[2]))
        if match := re.fullmatch(r"(\d{4})年?第?([一二三四1-4])季度?", value):
            return _quarter(int(match[1]), CHINESE_NUMBERS[match[2]])
        if match := re.fullmatch(r"(\d{4})[-/.](\d{1,2})", value) or re.fullmatch(r"(\d{4})年(\d{1,2})月", value):
            return _month(int(match[1]), int(match[2]))
        if match := re.fullmatch(r"(\d{4})年?", value):
            return _year(int(match[1]))
        if match := re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})(?:\.\.|~|～|至|到|—|–)(\d{4}-\d{1,2}-\d{1,2})", value):
            start, end = (dt.date(*map(int, part.split("-"))) for part in match.groups())
            if start <= end:
                return Period(start, end)
    except ValueError:  # a month 13, a 31 February
        pass
    raise PeriodError(raw)


def describe(period: Period, t: Translator) -> str:
    """The period's name, e.g. 2019年第1季度 (2019-01-01 – 2019-03-31)."""
    start, end = period.start, period.end
    span = t("{start} – {end}", start=start.isoformat(), end=end.isoformat())
    if period == quarter_of(start):
        return t("{year} Q{quarter}", year=start.year, quarter=(start.month - 1) // 3 + 1) + f" ({span})"
    if period == _month(start.year, start.month):
        return t("{year}-{month:02d}", year=start.year, month=start.month) + f" ({span})"
    if period == _year(start.year):
        return t("the year {year}", year=start.year) + f" ({span})"
    return span
