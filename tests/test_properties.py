"""Property-based tests (hypothesis): bad input of every kind gets a clear answer — a refusal in the
person's language, an HTTP 4xx with a JSON error — never a crash (the `bot` fixture fails a test on
any handler exception) and never a half-done write.

The pure functions (periods, units, dates, one letter's validation) take many examples. The bot-driven
properties run hypothesis in a worker thread (`run_property`): each example is a coroutine handed
to the test's own event loop, where the real Application, the Bot API stand-in and the intake API
run, so failures shrink and are reported as usual, and the fixtures stay function-scoped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import itertools
import json
import re
import string
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.telegram_stand_in import html_to_text
from handlers.render import esc
from locales import LANGUAGES, Translator
from models.letter_input import FIELDS, LIMITS, FieldError, LetterRecord, build_record, parse_datetime
from models.periods import EXAMPLES, FIRST_DAY, LAST_DAY, PeriodError, describe, parse_period
from models.stats import Period, quarter_of
from models.tables import Letter, LetterEvent, Outbox
from models.unit_resolver import Resolution, UnitRef, UnitResolver, normalize
from models.units import read_units_file
from tests.conftest import AUTH, expect, greet, join, post_letter
from tests.test_sweep import settle

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)  # the harness clock: 09:00 in Shanghai
UNITS_FILE = Path(__file__).resolve().parent.parent / "bot" / "data" / "pingli-units.yaml"
ZH, EN = Translator("zh_CN"), Translator("en")

# Characters that make trouble: markup, quotes, controls, bidi marks, zero widths, emoji with
# joiners and variation selectors, full-width forms, CJK.
NASTY = (
    "<>&\"'`\\/:;,.#@*_~|[](){}%$=+-!?\n\r\t\x00\x01\x07\x1b\x7f\u0085\u00a0\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ufeff\ufffd\ufe0f\u0301"
    "👍🏽👨‍👩‍👧🇨🇳😀𝟗١٢٣שלוםمرحبا八仙镇县住建局第一季度年月日号时分～至到—–ＱＡ１２"
)
nasty_text = st.text(alphabet=st.sampled_from(NASTY), max_size=40)
any_text = st.one_of(st.text(max_size=80), nasty_text, st.text(alphabet=st.characters(codec="utf-8"), max_size=80))


def assert_translated(message: str, values: dict) -> None:
    """A refusal's msgid is translated (Chinese differs from the English msgid) and formats in every
    language with the values it comes with."""
    fields = {name for _, name, _, _ in string.Formatter().parse(message) if name}
    assert fields <= set(values), (message, values)
    assert ZH(message) != message, f"not in the Chinese catalog: {message!r}"
    for language in LANGUAGES:
        assert Translator(language)(message, **values), (language, message)


# =============================================================================================
# 1. periods
# =============================================================================================

PERIOD_ALPHABET = "0123456789QqMm-/.~～年第一二三四季度月本上去今个至到—– \t\u3000"
CHINESE_QUARTER = {1: "一", 2: "二", 3: "三", 4: "四"}
sane_today = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2200, 12, 31))
years = st.integers(min_value=1, max_value=9999)


def _month_period(year: int, month: int) -> Period:
    end = dt.date(year, 12, 31) if month == 12 else dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return Period(dt.date(year, month, 1), end)


def _quarter_period(year: int, quarter: int) -> Period:
    start = dt.date(year, 3 * quarter - 2, 1)
    return Period(start, _month_period(year, 3 * quarter).end)


@settings(max_examples=1500, deadline=None)
@given(text=st.one_of(st.text(alphabet=PERIOD_ALPHABET, max_size=24), any_text), today=sane_today)
@example(text="9999-12", today=dt.date(2026, 11, 30))
@example(text="9999", today=dt.date(2026, 11, 30))
@example(text="0001Q1", today=dt.date(2026, 11, 30))
@example(text="0000Q1", today=dt.date(2026, 11, 30))
@example(text="2019-02-30..2019-03-01", today=dt.date(2026, 11, 30))
@example(text="2019-03-31..2019-03-01", today=dt.date(2026, 11, 30))
def test_any_text_is_a_period_or_a_period_error(text, today):
    try:
        period = parse_period(text, today)
    except PeriodError as exc:
        assert str(exc) == (text or "").strip()
        assert_translated(PeriodError.message, {"text": esc(str(exc)), "examples": EXAMPLES})
        return
    assert isinstance(period, Period) and period.start <= period.end
    for bound in period.bounds(TZ):  # a period the statistics can query
        bound.astimezone(dt.UTC)
    for t in (ZH, EN):
        assert describe(period, t)


def _spaced(text: str, draw) -> str:
    """Blanks anywhere: the parser ignores them."""
    cut = draw(st.integers(0, len(text)))
    return draw(st.sampled_from(["", " ", "  ", "\t", "\u3000"])) + text[:cut] + draw(st.sampled_from(["", " "])) + text[cut:]


@st.composite
def written_periods(draw) -> tuple[str, Period]:
    """A period and one of the ways people write it."""
    year = draw(years)
    y = f"{year:04d}"
    kind = draw(st.sampled_from(["quarter", "month", "year", "range"]))
    if kind == "quarter":
        q = draw(st.integers(1, 4))
        text = draw(st.sampled_from([
            f"{y}Q{q}", f"{y}q{q}", f"{y}-Q{q}", f"{y}年第{CHINESE_QUARTER[q]}季度", f"{y}年第{q}季度",
            f"{y}年{CHINESE_QUARTER[q]}季度", f"{y}第{CHINESE_QUARTER[q]}季", f"{y}年第{CHINESE_QUARTER[q]}季",
        ]))
        expected = _quarter_period(year, q)
    elif kind == "month":
        m = draw(st.integers(1, 12))
        text = draw(st.sampled_from([f"{y}-{m:02d}", f"{y}-{m}", f"{y}/{m}", f"{y}.{m:02d}", f"{y}年{m}月", f"{y}年{m:02d}月"]))
        expected = _month_period(year, m)
    elif kind == "year":
        text = draw(st.sampled_from([y, f"{y}年"]))
        expected = Period(dt.date(year, 1, 1), dt.date(year, 12, 31))
    else:
        start = draw(st.dates(min_value=dt.date(1000, 1, 1)))
        end = draw(st.dates(min_value=start))
        separator = draw(st.sampled_from(["..", "~", "～", "至", "到", "—", "–"]))
        text = f"{start.isoformat()}{separator}{end.isoformat()}"
        if draw(st.booleans()):  # 2019-3-5: no leading zeros
            text = f"{start.year}-{start.month}-{start.day}{separator}{end.year}-{end.month}-{end.day}"
        expected = Period(start, end)
    return _spaced(text, draw), expected


@settings(max_examples=1500, deadline=None)
@given(written=written_periods(), today=sane_today)
@example(written=("9999-12", _month_period(9999, 12)), today=dt.date(2026, 11, 30))
@example(written=("9999Q4", _quarter_period(9999, 4)), today=dt.date(2026, 11, 30))
@example(written=("2020-02", _month_period(2020, 2)), today=dt.date(2026, 11, 30))
def test_written_periods_round_trip(written, today):
    text, expected = written
    if not (FIRST_DAY <= expected.start and expected.end <= LAST_DAY):  # bounds not expressible in UTC
        with pytest.raises(PeriodError):
            parse_period(text, today)
        return
    assert parse_period(text, today) == expected


@settings(max_examples=500, deadline=None)
@given(today=sane_today, spacing=st.sampled_from(["", " ", "\t", "\u3000"]))
def test_relative_periods_follow_today(today, spacing):
    def parse(word: str) -> Period:
        return parse_period(spacing + word + spacing, today)

    quarter = quarter_of(today)
    assert parse("") == quarter == parse("本季度") == parse("本季") == parse("thisquarter")
    assert quarter.start <= today <= quarter.end and (quarter.start.month - 1) % 3 == 0 and quarter.start.day == 1
    last = parse("上季度")
    assert last.end + dt.timedelta(days=1) == quarter.start and last == quarter_of(last.start)
    month = parse("本月")
    assert month == _month_period(today.year, today.month)
    assert parse("上月").end + dt.timedelta(days=1) == month.start == parse("上个月").end + dt.timedelta(days=1)
    assert parse("今年") == Period(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)) == parse("THIS YEAR")
    assert parse("去年") == Period(dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31))


# =============================================================================================
# 2. units
# =============================================================================================


def _real_units() -> list[UnitRef]:
    specs = read_units_file(UNITS_FILE)
    return [UnitRef(i, spec.name, spec.kind.value, tuple(spec.aliases)) for i, spec in enumerate(specs, start=1)]


UNITS = _real_units()
RESOLVER = UnitResolver(UNITS)
LABELS = sorted({label for unit in UNITS for label in (unit.name, *unit.aliases)})


def _check_resolution(resolver: UnitResolver, text: str, resolution: Resolution) -> None:
    assert resolution.query == text
    ids = [unit.id for unit in resolution.matches]
    assert len(ids) == len(set(ids)), "a unit listed twice"
    assert all(resolver.by_id(unit_id) is not None for unit_id in ids)
    assert (resolution.unit is not None) == (len(ids) == 1)
    assert resolution.ambiguous == (len(ids) > 1)


@settings(max_examples=1500, deadline=None)
@given(text=st.one_of(any_text, st.text(alphabet=st.characters(), max_size=30)))
@example(text="")
@example(text="\u200f\u202e")
@example(text="ＢＡＸＩＡＮ")
@example(text="𠀀𪜀")  # outside the BMP
def test_any_text_resolves_without_error(text):
    resolution = RESOLVER.resolve(text)
    _check_resolution(RESOLVER, text, resolution)
    assert RESOLVER.resolve(text) == resolution  # the remembered answer is the same answer
    if not normalize(text):
        assert resolution.matches == ()


@settings(max_examples=500, deadline=None)
@given(
    label=st.sampled_from(LABELS),
    left=st.sampled_from(["", " ", "\u3000", "  ", "\t"]), right=st.sampled_from(["", " ", "\n", "\u3000"]),
    width=st.sampled_from(["half", "full"]), case=st.sampled_from(["same", "upper", "lower"]),
)
def test_an_exact_name_or_alias_resolves_to_its_unit(label, left, right, width, case):
    text = label
    if width == "full":  # ＡＢＣ１２３: folded by NFKC
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    text = {"same": text, "upper": text.upper(), "lower": text.lower()}[case]
    owners = {unit for unit in UNITS if normalize(label) in {normalize(x) for x in (unit.name, *unit.aliases)}}
    resolution = RESOLVER.resolve(left + text + right)
    _check_resolution(RESOLVER, left + text + right, resolution)
    assert set(resolution.matches) == owners, (label, [u.name for u in resolution.matches])


unit_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(unit_names, min_size=1, max_size=6), aliases=st.lists(unit_names, max_size=4))
def test_any_unit_file_resolves_its_own_names(names, aliases):
    """Whatever the names (emoji, RTL, controls), a unit's own name finds it."""
    units = [UnitRef(i, name, "town", tuple(aliases) if i == 1 else ()) for i, name in enumerate(names, start=1)]
    resolver = UnitResolver(units)
    for unit in units:
        for label in (unit.name, *unit.aliases):
            resolution = resolver.resolve(label)
            _check_resolution(resolver, label, resolution)
            if normalize(label):
                assert unit in resolution.matches, (label, resolution)


# =============================================================================================
# 3. dates and one letter's validation
# =============================================================================================


@settings(max_examples=2000, deadline=None)
@given(value=st.one_of(
    any_text,
    st.text(alphabet="0123456789-/.:TZ+年月日号时点分 \u3000：", max_size=30),
    st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.binary(max_size=10),
))
@example(value="2019-02-29 10:00")
@example(value="2019年13月1日")
@example(value="0000-01-01")
@example(value="٢٠١٩-٠٣-٠٥")
@example(value="2019-03-05T25:00")
@example(value="2019-03-05T10:00+25:00")
def test_any_value_is_a_datetime_or_none(value):
    parsed = parse_datetime(value, TZ)
    assert parsed is None or (isinstance(parsed, dt.datetime) and parsed.utcoffset() is not None)


@st.composite
def written_datetimes(draw) -> tuple[str, dt.datetime]:
    """An instant and one of the accepted ways to write it: ISO 8601 with or without a zone, and the
    office forms (2019/3/5 10:00, 2019年3月5日 10时30分)."""
    moment = draw(st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9998, 12, 31)))
    form = draw(st.sampled_from(["iso", "iso-zone", "iso-z", "dashes", "slashes", "dots", "chinese-date", "chinese-time"]))
    d = moment
    if form == "iso":
        return d.isoformat(sep=draw(st.sampled_from(["T", " "]))), d.replace(tzinfo=TZ)
    if form in ("iso-zone", "iso-z"):
        if form == "iso-z":
            zone = dt.UTC
        else:
            zone = dt.timezone(dt.timedelta(minutes=draw(st.integers(-14 * 60 + 1, 14 * 60 - 1))))
        aware = d.replace(tzinfo=zone)
        text = aware.isoformat()
        return (text.replace("+00:00", "Z") if form == "iso-z" else text), aware
    minute_only = d.replace(second=0, microsecond=0)
    if form in ("dashes", "slashes", "dots"):
        sep = {"dashes": "-", "slashes": "/", "dots": "."}[form]
        if draw(st.booleans()):
            date_text = f"{d.year:04d}{sep}{d.month}{sep}{d.day}"
        else:
            date_text = f"{d.year:04d}{sep}{d.month:02d}{sep}{d.day:02d}"
        with_seconds = draw(st.booleans())
        text = f"{date_text} {d.hour}:{d.minute:02d}" + (f":{d.second:02d}" if with_seconds else "")
        return text, (d.replace(microsecond=0) if with_seconds else minute_only).replace(tzinfo=TZ)
    day = draw(st.sampled_from(["日", "号"]))
    if form == "chinese-date":
        return f"{d.year:04d}年{d.month}月{d.day}{day}", dt.datetime(d.year, d.month, d.day, tzinfo=TZ)
    text = f"{d.year:04d}年{d.month}月{d.day}{day} " + draw(st.sampled_from([
        f"{d.hour}时{d.minute}分", f"{d.hour}点{d.minute}分", f"{d.hour}:{d.minute:02d}", f"{d.hour}：{d.minute:02d}",
    ]))
    return text, minute_only.replace(tzinfo=TZ)


@settings(max_examples=2000, deadline=None)
@given(written=written_datetimes(), blank=st.sampled_from(["", " ", "\t", "\n"]))
def test_written_datetimes_parse_to_the_same_instant(written, blank):
    text, expected = written
    parsed = parse_datetime(blank + text + blank, TZ)
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset(), (text, parsed, expected)


field_values = st.one_of(
    any_text, st.none(), st.integers(), st.floats(), st.booleans(), st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.text(alphabet="0123456789-/: 年月日", max_size=20),
    st.sampled_from(["八仙镇", "县", "baxian", "投诉", "complaint", "done", "已办结", "无效", "2019-03-05 10:00", "2099-01-01"]),
)


@settings(max_examples=1500, deadline=None)
@given(raw=st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=len(FIELDS)), history=st.booleans())
def test_any_fields_give_a_record_or_field_errors(raw, history):
    result = build_record(raw, tz=TZ, resolver=RESOLVER, now=NOW, history=history)
    if isinstance(result, LetterRecord):
        assert result.title and result.received_at.utcoffset() is not None
        assert len(result.title) <= LIMITS["title"]
        return
    assert result and all(isinstance(e, FieldError) and e.field in FIELDS for e in result)
    for error in result:
        assert_translated(error.message, dict(error.values))


UNSTORABLE_TIMES = ["0001-01-01 00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00", "0001年1月1日"]


@settings(max_examples=300, deadline=None)
@given(raw=st.fixed_dictionaries({
    "title": st.one_of(st.just("路灯"), st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), min_size=1, max_size=5)),
    "received_at": st.one_of(st.just("2019-03-05 10:00"), st.sampled_from(UNSTORABLE_TIMES)),
}))
@example(raw={"title": "\ud800路灯", "received_at": "2019-03-05 10:00"})
@example(raw={"title": "路灯", "received_at": "0001-01-01T00:00:00+14:00"})
def test_every_accepted_letter_can_be_stored(raw):
    """Times without a UTC equivalent are refused as any other non-date; lone surrogates (legal in
    JSON, not in UTF-8) become U+FFFD: what is accepted, the databases take."""
    result = build_record(raw, tz=TZ, resolver=RESOLVER, now=NOW, history=False)
    if raw["received_at"] in UNSTORABLE_TIMES:
        assert [(e.field, e.message) for e in result if e.field == "received_at"] == [
            ("received_at", "is not a date and time (e.g. 2019-03-05 10:00)")], result
        assert parse_datetime(raw["received_at"], TZ) is None
    if isinstance(result, LetterRecord):
        result.received_at.astimezone(dt.UTC)  # what UTCDateTime does before the insert
        result.title.encode("utf-8")  # what the drivers do
        if raw["title"] == "\ud800路灯":
            assert result.title == "\ufffd路灯"


# =============================================================================================
# The harness for bot-driven properties
# =============================================================================================


def run_property(
    strategy: st.SearchStrategy, check: Callable[[object], Awaitable[None]], *, max_examples: int = 25, examples=(),
) -> Awaitable[int]:
    """Runs hypothesis on `strategy` in a worker thread; each example is `check(value)` on this event
    loop (where the bot, the stand-in and the intake API run). `examples` always run first (the
    shapes that once broke something). Answers how many examples ran."""
    loop = asyncio.get_running_loop()
    ran = 0

    def one(value) -> None:
        nonlocal ran
        ran += 1
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(check(value), 60), loop).result()

    test = given(strategy)(one)
    for value in reversed(examples):
        test = example(value)(test)
    test = settings(
        max_examples=max_examples, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )(test)

    async def running() -> int:
        await asyncio.to_thread(test)
        return ran

    return running()


async def counts(bot) -> tuple[int, int, int]:
    """Letters, their events, and messages queued for delivery."""
    async with bot.services.db.reading() as session:
        return tuple([await session.scalar(select(func.count()).select_from(table)) for table in (Letter, LetterEvent, Outbox)])


SORRY = ZH("Sorry, something went wrong on my side and nothing was changed. Please try again; if it keeps happening, tell the information centre.")


def is_sentinel(message) -> bool:
    return any(data.startswith("lang:") for _, data in message.buttons)


async def answers(person, chat: dict | None = None) -> list:
    """Everything the bot answered to what the person sent last: updates are handled in order, so
    the answer to a /lang sent after it comes after all of it."""
    person.send("/lang", chat=chat)
    got = []
    for _ in range(30):
        message = await person.receive(chat=chat)
        if is_sentinel(message):
            assert all(SORRY not in m.text for m in got), [m.text for m in got]
            return got
        got.append(message)
    raise AssertionError(f"no end to the answers: {[m.text[:60] for m in got]}")


async def card_of(admin, letter_id: int):
    """The admins' card of this letter, passing over others' that arrive late."""
    heading = ZH("📨 Letter #{id}", id=letter_id)
    for _ in range(10):
        message = await admin.receive()
        if message.text.startswith(heading):
            return message
    raise AssertionError(f"no card of letter #{letter_id}")


def shape(msgid: str, t: Translator = ZH) -> re.Pattern:
    """A translated message as a pattern (`match` finds it at the start of a text), each
    placeholder matching anything."""
    parts = re.split(r"\{(\w+)(?:[:!][^}]*)?\}", t(msgid))
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*?)" for i, p in enumerate(parts)), re.S)


# =============================================================================================
# 4. letter files: refused whole or imported whole
# =============================================================================================

HEADER_WORDS = [*FIELDS, "编号", "标题", "内容", "姓名", "电话", "来信时间", "类型", "办理单位", "状态", "交办时间", "签收时间",
                "办结时间", "答复内容", "无效原因", " *标题 ", "TITLE", "Received_At", "备注", "", "x"]
CELL_WORDS = ["八仙镇", "长安", "火星局", "县", "投诉", "抱怨", "已办结", "无效", "done", "2019-03-05 10:00", "2019/3/6", "2019年3月7日",
              "2099-01-01", "明天", "0001-01-02", "=1+1", "13812341234", ""]
cells = st.one_of(st.sampled_from(CELL_WORDS), nasty_text, st.text(max_size=15))
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "gbk", "big5", "shift_jis", "latin-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252"]


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Good nine times in ten."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 9 else good)


PLAUSIBLE = {
    "external_id": _mostly(st.uuids().map(lambda u: u.hex[:12]), st.sampled_from(["", "x" * 65])),
    "title": _mostly(
        st.one_of(st.sampled_from(["路灯不亮", "<b>噪音</b> & 扰民", "😀 RTL \u202eשלום"]), nasty_text.map(lambda t: "信" + t)),
        st.sampled_from(["", " ", "\u200b", "t" * 501]),
    ),
    "content": _mostly(nasty_text, st.just("内" * 50_001)),
    "received_at": _mostly(
        st.sampled_from(["2019-03-05 10:00", "2019/3/6 9:30", "2019年3月7日", "2019-03-05T10:00:00+08:00"]),
        st.sampled_from(["", "明天", "2099-01-01", "2019-02-30"]),
    ),
    "unit": _mostly(st.sampled_from(["八仙镇", "长安", "baxian", ""]), st.sampled_from(["火星局", "县"])),
    "status": _mostly(st.just(""), st.sampled_from(["无效", "done", "maybe"])),
    "reply": nasty_text,
}


def _column_of(header: str) -> str:
    from models.letter_file import HEADERS, normalize_header

    return HEADERS.get(normalize_header(header), header)


@st.composite
def plausible_csv_files(draw) -> bytes:
    """Files much like the website's export: most import, some carry one bad cell."""
    names = ["title", "received_at", *draw(st.lists(st.sampled_from(sorted(set(PLAUSIBLE) - {"title", "received_at"})), unique=True))]
    draw(st.randoms()).shuffle(names)
    chinese = dict(zip(FIELDS, ("编号", "标题", "内容", "姓名", "电话", "来信时间", "类型", "办理单位", "状态", "交办时间", "签收时间", "办结时间", "答复内容", "无效原因")))
    header = [chinese[n] if draw(st.booleans()) else n for n in names]
    rows = draw(st.lists(st.fixed_dictionaries({n: PLAUSIBLE[n] for n in names}), min_size=1, max_size=5))

    def quoted(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    text = "\r\n".join(",".join(quoted(v) for v in line) for line in [header, *([row[n] for n in names] for row in rows)])
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])), errors="replace")


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.lists(st.sampled_from(HEADER_WORDS), min_size=1, max_size=8, unique_by=_column_of))
    if draw(st.booleans()):
        header = [h for h in header if _column_of(h) not in ("title", "received_at")] + ["title", "received_at"]
        draw(st.randoms()).shuffle(header)
    delimiter = draw(st.sampled_from([",", "\t", ";"]))
    rows = draw(st.lists(st.lists(cells, max_size=len(header) + 2), max_size=6))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))

    def line(values) -> str:
        out = []
        for value in values:
            if any(c in value for c in (delimiter, '"', "\n", "\r")) or draw(st.booleans()):
                value = '"' + value.replace('"', '""') + '"'
            out.append(value)
        return delimiter.join(out)

    text = newline.join(line(r) for r in [header, *rows]) + draw(st.sampled_from(["", newline]))
    return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@st.composite
def xlsx_files(draw) -> bytes:
    header = draw(st.lists(st.sampled_from([h for h in HEADER_WORDS if _column_of(h) not in ("title", "received_at")]), max_size=5, unique_by=_column_of))
    header += ["title", "received_at"]
    value = st.one_of(
        cells, st.integers(-10**12, 10**12), st.floats(allow_nan=False), st.booleans(), st.none(),
        st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2030, 1, 1)),
        st.sampled_from(["=1+1", '=HYPERLINK("http://example.com","点我")', "=A1", "=SUM(1,2)", '=CMD|"/c calc"!A1']),
    )
    rows = draw(st.lists(st.lists(value, max_size=len(header) + 1), max_size=5))
    return xlsx_bytes([header, *rows])


GOOD_HEADER = "external_id,title,content,received_at,unit\n"


def _special_files() -> list[bytes]:
    return [
        b"",
        b"," * 100_000 + b"\n",  # a header line of 100k commas
        b"title,received_at" + b"," * 100_000 + b"\n" + b"x,2019-03-05\n",  # 100k empty header cells
        b",".join(b"c%d" % i for i in range(100_000)) + b"\n",  # 100k named columns
        b"title,received_at\n" + b"x,2019-03-05" + b",y" * 100_000 + b"\n",  # a row of 100k cells
        b"title,received_at\n" + b"x" * 200_000 + b",2019-03-05\n",  # a cell over the csv module's limit
        b"title,received_at\n" + b"t" * 501 + b",2019-03-05\n",
        ("title,content,received_at\n标题," + "内" * 50_001 + ",2019-03-05\n").encode(),
        b'title,received_at\n"never closed,2019-03-05\n',
        "标题,来信时间\n路灯,2019-03-05\n".encode("gbk"),
        "标题,来信时间\n路灯,2019-03-05\n".encode("utf-16"),
        "标题,来信时间\n路灯,2019-03-05\n".encode("utf-16-le"),
        "标题,来信时间\n路灯,2019-03-05\n".encode("utf-32"),
        b"\xef\xbb\xbftitle,received_at\n\xff\xfe,2019-03-05\n",  # a BOM, then bytes that are not UTF-8
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"PK\x03\x04" + bytes(200),  # a zip header and nothing of a zip
        b"PK\x05\x06" + bytes(18),
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),  # an old .xls
        xlsx_bytes([["title", "received_at", "content"], ["=1+1", "2019-03-05 10:00", "x"]]),
        xlsx_bytes([["title", "received_at", "content"], ["路灯", "2019-03-05 10:00", '=HYPERLINK("http://evil.example","点")']]),
        xlsx_bytes([["title", "received_at"], ["路灯", "=NOW()"]]),
        xlsx_bytes([]),
        xlsx_bytes([["title"] + [None] * 300 + ["received_at"]]),
        xlsx_bytes([["title", "received_at"], ["x" * 32_000, "2019-03-05"]]),
    ]


SPECIAL_FILES = _special_files()
letter_files = st.one_of(
    st.sampled_from(SPECIAL_FILES), st.binary(max_size=2000), csv_files(), plausible_csv_files(), xlsx_files(),
)


def check_report_texts(report) -> None:
    """The answer reads in both languages, as chat shows it (escaped, then parsed as Telegram
    would), and so does the attached list of problems."""
    from handlers.imports import problems_csv, report_lines

    for t in (ZH, EN):
        lines = report_lines(report, t)
        assert lines and all(html_to_text(esc(line)) == line for line in lines)
        problems_csv(report, t).decode("utf-8-sig")


async def test_any_file_is_imported_whole_or_refused_whole(bot, tmp_path):
    """models.importer on random bytes, CSV in any encoding and delimiter, XLSX with formulas, huge
    cells, 100k columns: either every letter is stored or nothing is, and the answer reads."""
    from models.importer import import_file
    from models.letters import Origin

    services = bot.services

    async def check(content: bytes) -> None:
        path = tmp_path / "upload.bin"
        path.write_bytes(content)
        before = await counts(bot)
        async with services.db.transaction() as session:
            report = await import_file(
                session, services.rules, path, Origin("cli"), services.now(), tz=services.settings.tz,
                resolver=services.resolver, display_name="<来信>&.csv",
            )
        after = await counts(bot)
        check_report_texts(report)
        if report.ok:  # every letter, each with its history
            assert after[0] == before[0] + report.imported and after[1] >= before[1] + report.imported, report
        else:
            assert after == before and report.imported == report.skipped == 0, report
            assert report.file_error is not None or report.problems

    ran = await run_property(letter_files, check, max_examples=60, examples=SPECIAL_FILES)
    assert ran >= 30 + len(SPECIAL_FILES)


@st.composite
def files_bad_late(draw) -> tuple[bytes, int]:
    """Good rows across more than one insert batch, then bad rows: nothing may stay stored."""
    from models.importer import BATCH

    good = draw(st.sampled_from([1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH + 3]))
    prefix = draw(st.uuids()).hex[:8]
    rows = [f"{prefix}-{i},标题{i},内容,2019-03-05 10:00,八仙镇" for i in range(good)]
    bad = draw(st.sampled_from([
        f"{prefix}-0,重复编号,内容,2019-03-05 10:00,八仙镇",  # repeats the first row's id
        f"{prefix}-x,,没有标题,2019-03-05 10:00,",
        f"{prefix}-y,时间错,x,明天,",
        f"{prefix}-z,单位错,x,2019-03-05 10:00,火星局",
        f"{prefix}-w,\"never closed,x,2019-03-05,",
        f"{prefix}-v,,x,2019-03-05" + ",y" * 300,  # a row too wide
    ]))
    lines = [*rows, bad, *draw(st.lists(st.sampled_from(rows[:1] + [f"{prefix}-t,t,c,2019-03-05,"]), max_size=2))]
    return (GOOD_HEADER + "\n".join(lines) + "\n").encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))), good


async def test_a_bad_row_after_whole_batches_leaves_nothing(bot, tmp_path):
    """Never half an import: a bad row after batches that were already inserted undoes them."""
    from models.importer import import_file
    from models.letters import Origin

    services = bot.services

    async def check(case) -> None:
        content, good = case
        path = tmp_path / "late.csv"
        path.write_bytes(content)
        before = await counts(bot)
        async with services.db.transaction() as session:
            report = await import_file(
                session, services.rules, path, Origin("cli"), services.now(), tz=services.settings.tz, resolver=services.resolver,
            )
        assert not report.ok and report.imported == 0, report
        assert await counts(bot) == before
        assert report.file_error is not None or {p.line for p in report.problems} >= {good + 2}

    assert await run_property(files_bad_late(), check, max_examples=8) >= 5


async def test_any_file_sent_in_chat_gets_one_clear_answer(bot):
    """Through the real path: the admin sends a document, the bot downloads and imports it, and
    answers with what happened; the name is escaped (the stand-in refuses bad HTML)."""
    from handlers.imports import SUFFIXES

    admin = bot.admin
    await greet(admin)
    refused = [shape("{file} was not imported: {reason}."),
               shape("{file} was not imported: {rejected} rows have problems, so nothing was stored. Correct them and send the file again.")]
    imported = shape("{file}: {imported} letters imported, {skipped} already known and skipped, 0 rows rejected.")
    names = st.tuples(st.text(alphabet=st.sampled_from("<>&\"'八仙 \u202e😀ab"), max_size=8), st.sampled_from([*SUFFIXES, ".CSV", ".txt"]))

    async def check(case) -> None:
        content, (stem, suffix) = case
        name = f"{stem}{suffix}"
        before = await counts(bot)
        admin.send_document(content, name, "text/csv")
        got = await answers(admin)
        after = await counts(bot)
        summary = [m for m in got if m.kind == "message"]
        assert summary, [m.text for m in got]
        first = summary[0].text.split("\n", 1)[0]
        if not name.lower().endswith(SUFFIXES):
            assert first == ZH("To import letters, send a .csv or .xlsx file.") and after == before
            return
        done = imported.match(first)
        if done:
            assert done["file"] == name and after[0] == before[0] + int(done["imported"]), (first, before, after)
        else:
            assert any(p.match(first) and p.match(first)["file"] == name for p in refused), first
            assert after == before

    ran = await run_property(st.tuples(letter_files, names), check, max_examples=25)
    assert ran >= 15


async def test_a_time_outside_the_calendar_is_a_bad_cell(bot):
    """0001-01-01 00:00 in Shanghai (+08:05:43 then) has no UTC equivalent: the cell is named as
    any other non-date, and nothing is stored."""
    admin = bot.admin
    await greet(admin)
    before = await counts(bot)
    admin.send_document(b"title,received_at\nx,0001-01-01 00:00\nx,2019-03-05 10:00\n", "edge.csv", "text/csv")
    got = await answers(admin)
    assert await counts(bot) == before
    assert got[0].text.split("\n")[1:] == [
        ZH("line {line}, {column}: {reason}", line=2, column="received_at", reason=ZH("is not a date and time (e.g. 2019-03-05 10:00)"))
    ], got[0].text


# =============================================================================================
# 5. the intake API
# =============================================================================================

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), any_text)  # JSON has no Infinity: such a body is refused whole (test_intake_api)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8,
)
BODY_LIMIT = 1024 * 1024


def _letter(**fields) -> dict:
    return {"external_id": uuid.uuid4().hex, "title": "八仙镇路灯不亮", "content": "路灯坏了", "received_at": "2026-11-27T10:00:00+08:00", **fields}


SPECIAL_BODIES = [
    b"", b"null", b"{", b"{}", b'{"title": }', b"[" * 100_000, b'{"a":' * 50_000, b"\xff\xfe{\x00}\x00",
    b'{"title": "\xff\xfe", "received_at": "2026-11-27"}',  # not UTF-8
    b'{"external_id": 1' + b"0" * 5000 + b"}",  # beyond Python's integer digits limit
    json.dumps(_letter(content="x" * BODY_LIMIT)).encode(),  # over 1 MiB
    b"title=x&received_at=2026-11-27",  # a form, not JSON
]
bad_bodies = st.one_of(
    st.binary(max_size=300).filter(lambda body: not body.lstrip().startswith(b"{")),
    json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    st.sampled_from(SPECIAL_BODIES),
)


async def assert_json_refusal(response, *statuses: int) -> dict:
    assert response.status in statuses, (response.status, (await response.text())[:300])
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body


async def test_any_body_that_is_not_a_letter_is_refused_in_json(bot, http):
    """Random bytes, JSON that is not an object, nesting deeper than the parser goes, invalid UTF-8,
    a body over 1 MiB: a 4xx with a JSON error, and no letter."""

    async def check(body: bytes) -> None:
        before = await counts(bot)
        content_type = "application/json" if len(body) % 2 else "text/plain"
        response = await http.post("/api/letters", data=body, headers={**AUTH, "Content-Type": content_type})
        refusal = await assert_json_refusal(response, 413, 422)
        if response.status == 422:  # bad input names what is bad: the body, or each field
            assert refusal["errors"] and all(isinstance(reason, str) and reason for reason in refusal["errors"].values()), refusal
        assert await counts(bot) == before

    assert await run_property(bad_bodies, check, max_examples=40, examples=SPECIAL_BODIES) >= 25 + len(SPECIAL_BODIES)


WRONG_TYPES = st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.booleans())
# field → values that are wrong for it whatever the other fields hold
CORRUPTIONS = {
    "title": st.one_of(WRONG_TYPES, st.integers(), st.floats(), st.none(), st.sampled_from(["", "  ", "\u200b\u200f\u202e", "标" * 501])),
    "content": st.one_of(WRONG_TYPES, st.integers(), st.just("内" * 50_001)),
    "received_at": st.one_of(
        WRONG_TYPES, st.integers(), st.none(), st.sampled_from(["", "yesterday", "2099-01-01", "2019-02-30", "2019-13-01 10:00", "\u202e2019-03-05"]),
        any_text.filter(lambda text: parse_datetime(text, TZ) is None),
    ),
    "external_id": st.one_of(WRONG_TYPES, st.just("x" * 65)),
    "sender_name": st.one_of(WRONG_TYPES, st.just("张" * 101)),
    "sender_phone": st.one_of(WRONG_TYPES, st.just("1" * 51)),
    "type": st.one_of(WRONG_TYPES, st.sampled_from(["抱怨", "other", "投诉举报", "x" * 17])),
    "unit": st.one_of(WRONG_TYPES, st.sampled_from(["火星局", "县", "zzzzqqqq", "x" * 101])),
}


@st.composite
def bad_letters(draw) -> tuple[dict, set[str]]:
    """A letter with one or more fields wrong, or missing, and the fields the answer must name."""
    letter = _letter(external_id=draw(st.uuids()).hex)
    letter.update(draw(st.dictionaries(st.sampled_from(["content", "sender_name", "sender_phone", "type"]), nasty_text, max_size=2)))
    wrong = draw(st.lists(st.sampled_from(sorted(CORRUPTIONS)), min_size=1, max_size=3, unique=True))
    for name in wrong:
        if name in ("title", "received_at") and draw(st.booleans()):
            del letter[name]  # missing
        else:
            letter[name] = draw(CORRUPTIONS[name])
    letter.update(draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in FIELDS), json_scalars, max_size=2)))
    return letter, set(wrong)


async def test_bad_fields_are_each_named_and_nothing_is_stored(bot, http):
    """Wrong JSON types, huge strings, invisible-only text, unknown units and types, missing
    required fields: 422 naming every bad field, and no letter."""

    async def check(case) -> None:
        letter, wrong = case
        before = await counts(bot)
        response = await http.post("/api/letters", json=letter, headers=AUTH)
        body = await assert_json_refusal(response, 422)
        errors = body["errors"]
        assert wrong <= set(errors) <= set(FIELDS), (wrong, errors)
        assert all(isinstance(text, str) and text for text in errors.values()), errors
        assert await counts(bot) == before

    assert await run_property(bad_letters(), check, max_examples=40) >= 30


async def test_a_lone_surrogate_is_replaced_and_the_letter_stored(bot, http):
    """JSON may escape half of a surrogate pair; UTF-8 cannot hold it. It becomes U+FFFD (shown
    where text was lost) in every text field, and the letter is stored once."""
    before = await counts(bot)
    body = (b'{"external_id": "S1", "title": "\\ud800\\u8def\\u706f", "content": "\\u8def\\udfff", "sender_name": "\\udc00",'
            b' "received_at": "2026-11-27T10:00:00+08:00"}')
    response = await http.post("/api/letters", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 201, await response.text()
    letter_id = (await response.json())["id"]
    async with bot.services.db.reading() as session:
        letter = await session.get(Letter, letter_id)
        assert (letter.title, letter.content, letter.sender_name) == ("\ufffd路灯", "路\ufffd", "\ufffd")
    assert (await counts(bot))[0] == before[0] + 1


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00:00+14:00", "0001-01-01 00:00", "9999-12-31T23:59:00-14:00"])
async def test_a_time_outside_the_calendar_is_a_bad_field(bot, http, received_at):
    before = await counts(bot)
    response = await http.post("/api/letters", json=_letter(received_at=received_at), headers=AUTH)
    body = await assert_json_refusal(response, 422)
    assert set(body["errors"]) == {"received_at"}, body
    assert await counts(bot) == before


odd_text = st.one_of(
    nasty_text,
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
    st.sampled_from(["<script>alert(1)</script> & <b>粗</b>", "&amp; &lt;b&gt;", "שלום \u200f(مرحبا)\u200e", "👨‍👩‍👧‍👦🇨🇳🏳️‍🌈", "a\u0301\u0302\u0303"]),
)


@st.composite
def odd_letters(draw) -> dict:
    """Letters that are valid, in text a county office does not expect."""
    from models.letter_input import TYPE_WORDS, clean_text

    title = draw(odd_text.filter(lambda text: clean_text(text) and len(clean_text(text)) <= LIMITS["title"]))
    letter = _letter(title=title)
    letter["content"] = draw(st.one_of(odd_text, st.integers(1400, 5000).map(lambda n: "😀&" * n)))
    optional = {
        "sender_name": odd_text.filter(lambda text: len(clean_text(text)) <= LIMITS["sender_name"]),
        "sender_phone": st.sampled_from(["13812341234", "+86 138-1234-1234", "0915-1234567", "😀"]),
        "type": st.sampled_from(sorted(TYPE_WORDS)),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            letter[name] = draw(strategy)
    return letter


async def test_odd_but_valid_letters_are_stored_and_shown_escaped(bot, http):
    """Emoji, RTL text, markup, combining marks, content long enough for /letter to split: stored
    (less control characters), shown escaped on the card, and whole in /letter."""
    from handlers.cards import CONTENT_LIMIT, TITLE_LIMIT
    from models.letter_input import clean_text

    admin = bot.admin
    await greet(admin)
    privacy = bot.services.privacy
    numbers = itertools.count()

    async def check(letter: dict) -> None:
        letter = {**letter, "external_id": f"odd-{next(numbers)}"}  # a replayed example is a new letter too
        before = await counts(bot)
        response = await http.post("/api/letters", json=letter, headers=AUTH)
        assert response.status == 201, await response.text()
        letter_id = (await response.json())["id"]
        async with bot.services.db.reading() as session:
            stored = await session.get(Letter, letter_id)
        assert stored.title == clean_text(letter["title"]) and stored.content == clean_text(letter["content"])
        assert (await counts(bot))[0] == before[0] + 1
        card = await card_of(admin, letter_id)
        title = privacy.text(stored.title, names=(stored.sender_name,))
        if len(title) <= TITLE_LIMIT:
            assert title in card.text
        admin.send(f"/letter {letter_id}")
        parts = await answers(admin)
        content = privacy.text(stored.content, names=(stored.sender_name,))
        if len(content) > CONTENT_LIMIT:  # the card shortened it; /letter shows all of it
            assert "".join(part.text for part in parts[1:-1]) == content
        assert html_to_text(ZH("<b>History of letter #{id}</b>", id=letter_id)) in parts[-1].text

    assert await run_property(odd_letters(), check, max_examples=25) >= 15


async def test_any_query_gets_figures_or_a_json_refusal(bot, http):
    """The reading routes with any period, unit, external id or letter id: an answer, or a 404/422
    with a JSON error (even for a path the router does not know)."""
    queries = st.tuples(st.sampled_from(["/api/stats", "/api/letters", "/api/letters/"]), any_text, any_text)

    async def check(case) -> None:
        path, first, second = case
        if path == "/api/stats":
            response = await http.get(path, params={"period": first, "unit": second}, headers=AUTH)
        elif path == "/api/letters":
            response = await http.get(path, params={"external_id": first}, headers=AUTH)
        else:
            from urllib.parse import quote

            response = await http.get(path + quote(first or "x", safe=""), headers=AUTH)
        if response.status == 200:
            assert isinstance(await response.json(), dict)
        else:
            refusal = await assert_json_refusal(response, 404, 422)
            assert response.status == 404 or refusal["errors"], refusal

    pinned = [("/api/letters", "\x00", ""), ("/api/letters/", "{", ""), ("/api/letters/", "..", ""), ("/api/stats", "9999", "\x00"),
              ("/api/stats", "0001Q1", "县")]
    assert await run_property(queries, check, max_examples=40, examples=pinned) >= 30


# =============================================================================================
# 6. chat text: commands with odd arguments, entities, emoji, markup
# =============================================================================================

ENTITY_TYPES = [
    "bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link", "mention", "hashtag", "cashtag",
    "url", "email", "phone_number", "text_mention", "custom_emoji", "blockquote", "expandable_blockquote",
]
chat_text = st.one_of(
    nasty_text, st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["<script>alert(1)</script>", "&amp;&", "八仙镇 2019Q1", "镇 本月", "😀 2019年第一季度", "\u202e八仙镇\u202c",
                     "#12 已修复", "1 <b>", "999999999 理由", "2019-01-01..2019-03-31", "<i>八仙</i>", "9999", "0001Q1"]),
    st.tuples(st.sampled_from(["", "#", " "]), st.integers(0, 10**12), nasty_text).map(lambda p: f"{p[0]}{p[1]} {p[2]}"),
)


@st.composite
def entities_for(draw, text: str, command: str | None) -> list[dict]:
    """Entities as Telegram sends them: offsets and lengths in UTF-16 code units."""
    length = len(text.encode("utf-16-le")) // 2
    entities = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}] if command else []
    for _ in range(draw(st.integers(0, 4)) if length else 0):
        offset = draw(st.integers(0, length - 1))
        entity = {"type": draw(st.sampled_from(ENTITY_TYPES)), "offset": offset, "length": draw(st.integers(1, length - offset))}
        if entity["type"] == "text_link":
            entity["url"] = draw(st.sampled_from(["https://example.com/<&>", "tg://user?id=1", "javascript:alert(1)"]))
        elif entity["type"] == "text_mention":
            entity["user"] = {"id": 4242, "is_bot": False, "first_name": draw(nasty_text) or "x"}
        elif entity["type"] == "custom_emoji":
            entity["custom_emoji_id"] = "5368324170671202286"
        elif entity["type"] == "pre" and draw(st.booleans()):
            entity["language"] = draw(st.sampled_from(["python", "<b>", ""]))
        entities.append(entity)
    return entities


@st.composite
def commands(draw, names: list[str]) -> tuple[str, list[dict]]:
    command = "/" + draw(st.sampled_from(names)) + draw(st.sampled_from(["", "", "@mailbox_test_bot"]))
    arguments = draw(chat_text).strip()
    text = f"{command} {arguments}" if arguments else command
    return text, draw(entities_for(text, command))


def send_with_entities(person, text: str, entities: list[dict], chat: dict | None = None) -> None:
    message = person.send(text, chat=chat)
    message["entities"] = entities  # before the bot's next getUpdates: nothing awaited since send
    if not entities:
        del message["entities"]


# Commands that answer, write no letter, event or queued message when no letter exists, and start
# no conversation (/new) — /lang ends every exchange (see `answers`).
READ_ONLY_COMMANDS = [
    "rate", "done", "return", "extend", "reopen", "invalid", "assign", "letter", "overdue", "units", "mine", "help",
    "bind", "unbind", "invite", "start", "holidays", "report",
]


async def test_any_command_with_any_arguments_gets_an_answer(bot):
    """Every command, from an admin and from a liaison, with any arguments and entities: an answer
    (escaped: the stand-in refuses bad HTML), no error, nothing written while no letter exists."""
    admin = bot.admin
    await greet(admin)
    liaison = bot.person(6101, "八仙\u202e<b>联络员</b>😀")
    await join(bot, liaison, "八仙镇")
    people = [admin, liaison]

    async def check(case) -> None:
        (text, entities), who = case
        person = people[who]
        before = await counts(bot)
        send_with_entities(person, text, entities)
        got = await answers(person)
        assert got, f"no answer to {text!r}"
        assert await counts(bot) == before

    ran = await run_property(st.tuples(commands(READ_ONLY_COMMANDS), st.integers(0, 1)), check, max_examples=40)
    assert ran >= 30


async def test_rate_answers_any_arguments_with_figures_or_a_refusal(bot):
    """/rate with emoji, RTL marks, markup, entities: the figures with the period they cover, or a
    refusal that names what was not understood."""
    admin = bot.admin
    await greet(admin)
    heading = shape("Handling rates, {period}; figures of {date}")
    refusals = [shape("“{text}” is not a period I know. Examples: {examples}"), shape("No unit matches “{query}”. /units lists them all."),
                shape("“{query}” fits {count} units. Which one?")]

    async def check(case) -> None:
        text, entities = case
        send_with_entities(admin, text, entities)
        got = await answers(admin)
        answer = got[0].text
        assert heading.search(answer.split("\n")[0]) or any(p.match(answer) for p in refusals), (text, answer)

    assert await run_property(commands(["rate"]), check, max_examples=40) >= 30


@st.composite
def typed_letters(draw) -> dict:
    """What an admin types into /new: any text Telegram delivers (not blank, not a command)."""
    text = chat_text.map(str.strip).filter(lambda t: t and not t.startswith("/"))
    return {
        "title": draw(st.one_of(text, st.sampled_from(["<script>alert(1)</script> & 路灯", "&lt;b&gt; 😀", "标" * 501, "\u200b"]))),
        "content": draw(st.one_of(text, st.just("😀&<" * 700))),
        "sender": draw(st.one_of(st.none(), text)),
        "received": draw(st.one_of(st.none(), st.sampled_from(["2026-11-27 10:00", "2026年11月27日", "明天", "2099-01-01 10:00"]))),
    }


async def test_typed_in_letters_are_saved_and_shown_escaped_or_refused(bot):
    """/new step by step with <script>, &, emoji and invisible characters: saved as typed (less
    control characters) and shown escaped on the card, or the refused answer asked for again
    and, cancelled, nothing saved."""
    from models.letter_input import clean_text

    admin = bot.admin
    await greet(admin)
    saved = shape("Saved as letter #{id}. Its card follows, to assign it.")
    asked_again = shape("The {field} {problem}. Send it again, please (/cancel stops).")

    async def step(text: str) -> str:
        admin.send(text)
        return (await admin.receive()).text

    async def check(letter: dict) -> None:
        admin.send("/cancel")  # whatever a failed example left behind
        await answers(admin)
        before = await counts(bot)
        await step("/new")
        answer = await step(letter["title"])
        if len(letter["title"]) > LIMITS["title"]:
            assert answer == ZH("That title is too long (at most {limit} characters). Send a shorter one.", limit=LIMITS["title"])
            assert await step("/cancel") == ZH("Cancelled. Nothing was saved.")
            assert await counts(bot) == before
            return
        await step(letter["content"])
        await step(letter["sender"] or "/skip")
        await step("/skip")  # the phone
        answer = await step(letter["received"] or "/skip")
        if answer == ZH("That is not a date and time. For example 2019-03-05 10:00, or /skip for now."):
            answer = await step("/skip")
        got = [answer, *(m.text for m in await answers(admin))]
        # Saved: the card (sent by the outbox) may come before the answer that says so.
        done = next(filter(None, map(saved.match, got)), None)
        if not done:  # refused (a title of invisible characters, a time in the future): asked again
            assert asked_again.match(got[0]), got[0]
            assert await step("/cancel") == ZH("Cancelled. Nothing was saved.")
            assert await counts(bot) == before
            return
        letter_id = int(done["id"])
        async with bot.services.db.reading() as session:
            stored = await session.get(Letter, letter_id)
        assert stored.title == clean_text(letter["title"]) and stored.content == clean_text(letter["content"])
        cards = [text for text in got if text.startswith(ZH("📨 Letter #{id}", id=letter_id))]
        card = cards[0] if cards else (await card_of(admin, letter_id)).text
        shown = bot.services.privacy.text(stored.title, names=(stored.sender_name,))
        assert len(shown) > 200 or shown in card, card[:300]

    assert await run_property(typed_letters(), check, max_examples=20) >= 12


async def test_people_with_any_name_are_greeted_and_named_escaped(bot):
    """Telegram names are anyone's choice: markup, bidi marks, emoji. Strangers are told how to get
    in; members are greeted by their name, escaped."""
    admin = bot.admin
    await greet(admin)
    ids = itertools.count(7000)

    async def check(name: str) -> None:
        person = bot.person(next(ids), name or "·")
        person.send("/start")  # a stranger: how to get in, nothing else
        assert (await person.receive()).text == ZH(
            "This bot serves the county's leader mailbox (领导信箱) for the information centre, "
            "the towns' and departments' liaisons and county leaders.\n\n"
            "To use it, ask an administrator of the county information centre for an invitation link "
            "and open it in Telegram."
        )
        await join(bot, person, "八仙镇")
        person.send("/start")
        hello = (await person.receive()).text
        assert (name or "·") in hello

    assert await run_property(st.text(alphabet=st.sampled_from(NASTY.replace("\x00", "")), max_size=30), check, max_examples=15) >= 10


async def test_a_reply_of_any_text_closes_the_letter_and_shows_escaped(bot, http):
    """How liaisons work: reply to the card. Any text Telegram delivers, with any entities, is the
    reply to the citizen, kept as typed less control characters (PostgreSQL refuses NUL) and shown
    escaped on the refreshed card; a reply of nothing visible is refused."""
    from models.letter_input import clean_text

    await greet(bot.admin)
    liaison = bot.person(6301, "八仙丙")
    await join(bot, liaison, "八仙镇")
    numbers = itertools.count()
    closed = shape("Letter #{id} is closed. Thank you.")
    texts = st.one_of(chat_text, st.just("😀<&>" * 600)).map(str.strip).filter(lambda text: text and not text.startswith("/"))

    @st.composite
    def replies(draw) -> tuple[str, list[dict]]:
        text = draw(texts)
        return text, draw(entities_for(text, None))

    async def check(case) -> None:
        text, entities = case
        letter_id = (await post_letter(http, external_id=f"R{next(numbers)}", unit="八仙镇"))["id"]
        card = await expect(liaison, f"#{letter_id}")
        await settle(bot)  # the card is known as the letter's once its delivery is recorded
        events = (await counts(bot))[1]
        message = liaison.send(text, reply_to=card)
        message["entities"] = entities
        if not entities:
            del message["entities"]
        got = await answers(liaison)
        async with bot.services.db.reading() as session:
            stored = await session.get(Letter, letter_id)
        if not clean_text(text):  # nothing visible: no reply
            assert [m.text for m in got] == [ZH("The reply text is missing.")] and stored.status == "assigned"
            assert (await counts(bot))[1] == events
            return
        assert got and closed.match(got[0].text) and closed.match(got[0].text)["id"] == str(letter_id), [m.text[:80] for m in got]
        assert stored.status == "done" and stored.reply == clean_text(text)[:50_000]
        assert (await counts(bot))[1] == events + 1
        refreshed = [m for m in got if m.kind == "edit" and m.message_id == card.message_id]
        if not refreshed:
            refreshed = [await expect(liaison, f"#{letter_id}", kind="edit")]
        shown = bot.services.privacy.text(stored.reply, names=(stored.sender_name,))
        assert len(shown) > 750 or shown in refreshed[-1].text, refreshed[-1].text[-300:]

    pinned = [("\x00 <b>&", []), ("\u200b\u202e", []), ("已修复 😀", [{"type": "bold", "offset": 4, "length": 1}])]
    assert await run_property(replies(), check, max_examples=20, examples=pinned) >= 12 + len(pinned)


# =============================================================================================
# 7. forged and stale callback data
# =============================================================================================

LEGIT_SHAPES = re.compile(r"lang:(zh_CN|en)|letter:[a-z]+:\d+(:\w+)?|ext:(ok|no):\d+|invite:u:\d+|bind:u:\d+|reply:letter:\d+")


def _fits(data: str) -> bool:
    return 1 <= len(data.encode()) <= 64


random_data = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=64),
    st.text(min_size=1, max_size=20),
    st.tuples(st.sampled_from(["letter:", "ext:", "lang:", "invite:u:", "bind:u:", "reply:letter:", "letter:inv:1:", "letter:assign:1:"]),
              st.text(alphabet=st.characters(max_codepoint=127), max_size=30)).map("".join),
).filter(lambda data: _fits(data) and not LEGIT_SHAPES.fullmatch(data))


async def test_forged_and_stale_buttons_are_refused_and_change_nothing(bot, http):
    """Random data, and well-formed data that is wrong for the person who presses it: each gets a
    refusal as the button's answer, and no message, edit or write follows."""
    admin = bot.admin
    await greet(admin)
    baxian, changan = bot.person(6201, "八仙甲"), bot.person(6202, "长安乙")
    await join(bot, baxian, "八仙镇")
    await join(bot, changan, "长安镇")
    assigned = (await post_letter(http, external_id="F1", unit="八仙镇"))["id"]
    new = (await post_letter(http, external_id="F2"))["id"]
    card_admin = await expect(admin, f"#{new}")
    card_baxian = await expect(baxian, f"#{assigned}")
    assert card_admin.buttons and card_baxian.buttons
    changan.send("/help")
    help_changan = await changan.receive()
    bot.api.pending(admin.id)

    def nowhere(missing: list[int]) -> list[str]:
        return [
            *(f"letter:{action}:{n}" for action in ("accept", "done", "return", "extend", "reopen", "invalid", "card") for n in missing),
            *(f"letter:{what}:{n}:{tail}" for what, tail in (("assign", 1), ("units", 0), ("inv", "dup"), ("inv", "other")) for n in missing),
            *(f"ext:{verdict}:{n}" for verdict in ("ok", "no") for n in missing),
        ]

    anyone = [
        "", "invite:u:99999", "bind:u:1", "lang:xx", "lang:", "lang:en:1", f"reply:letter:{assigned}", f"letter:accept:{assigned}\n",
        f"letter:inv:{new}:dup\n", "lang:en\n", f"letter:assign:{new}:1 ", f"letter:accept:{assigned}:x", "letter:accept:",
        f"letter:assign:{new}:99999",
    ]
    not_admins = [
        f"letter:assign:{new}:1", f"letter:units:{new}:0", f"letter:invalid:{new}", f"letter:inv:{new}:dup", f"letter:inv:{new}:other",
        f"letter:card:{new}", f"letter:reopen:{assigned}", "invite:u:1", f"ext:ok:{assigned}",
    ]
    wrong = {
        "admin": [*anyone, f"letter:accept:{new}", f"letter:done:{new}", f"letter:return:{new}", f"letter:extend:{new}",
                  f"letter:reopen:{assigned}", f"letter:reopen:{new}", f"letter:units:{assigned}:0"],
        "baxian": [*anyone, *not_admins],
        "changan": [*anyone, *not_admins, *(f"letter:{action}:{assigned}" for action in ("accept", "done", "return", "extend"))],
    }
    pressers = {"admin": (admin, card_admin), "baxian": (baxian, card_baxian), "changan": (changan, help_changan)}
    cases = st.one_of(
        st.tuples(st.sampled_from(sorted(pressers)), random_data),
        st.sampled_from(sorted(pressers)).flatmap(
            lambda who: st.tuples(st.just(who), st.sampled_from(wrong[who] + nowhere([999999, 123456789, 0, 2**31]))),
        ),
    )

    async def check(case) -> None:
        who, data = case
        person, message = pressers[who]
        before = await counts(bot)
        reply = await person.answer_to(person.press(message, data))
        got = await answers(person)
        assert reply.get("text") and reply["text"] != SORRY[:200], (who, data, reply)
        assert not got, (who, data, [(m.kind, m.text[:60]) for m in got])  # no prompt, no edit of the pressed message
        assert await counts(bot) == before, (who, data)

    pinned = [(who, data) for who, shapes in wrong.items() for data in shapes] + [("baxian", data) for data in nowhere([999999])]
    assert await run_property(cases, check, max_examples=40 + len(pinned), examples=pinned) >= 30 + len(pinned)
