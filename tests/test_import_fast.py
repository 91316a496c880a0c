"""The bulk import's fast paths give exactly what the general functions give: the same validation,
the same stored letters, events and queued cards, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select

import models.db
import models.importer
from bot.runtime import rules_from
from bot.settings import Settings
from models import tallies
from models.db import Database, RowConverter
from models.importer import COLUMNS, LETTERS, LetterRows, TopicFinder, import_file
from models.letter_input import LetterRecord, _later, _record, build_record, clean_text, parse_datetime
from models.letters import Origin, event_values, history_events, letter_values, unit_name
from models.outbox import Kind, enqueue, unit_chat_ids
from models.tables import Letter, LetterEvent, LetterStatus, LetterTally, Outbox, Unit, UnitChat
from models.unit_resolver import UnitRef, UnitResolver
from models.units import build_resolver, read_units_file, sync_units, topics_of

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)
UNITS_FILE = Path("bot/data/pingli-units.yaml")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")


def settings_for(url: str = "sqlite+aiosqlite:///:memory:", **overrides) -> Settings:
    return Settings(_env_file=None, bot_token="1:" + "a" * 30, database_url=url, timezone="Asia/Shanghai", **overrides)


@pytest.fixture(scope="module")
def resolver():
    specs = read_units_file(UNITS_FILE)
    return UnitResolver(UnitRef(i + 1, s.name, s.kind.value, tuple(s.aliases)) for i, s in enumerate(specs))


# Validation -----------------------------------------------------------------------------------


def slow_clean_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    while value != (shorter := value.strip().strip("\u200c\u200d\u200e\u200f")):
        value = shorter
    return value


def test_every_character_clean_text_removes_takes_the_slow_path():
    removed = [chr(c) for c in range(0x110000) if _CONTROL.match(chr(c))]
    assert removed and not any(c.isprintable() for c in removed + ["\r", "\n"])
    for c in removed + ["\r", "\n", "\r\n", "\u3000", "\xa0", "e\u0301", "\u212b"]:
        assert clean_text(f" a{c}b ") == slow_clean_text(f" a{c}b ")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_clean_text_is_the_general_cleaning(text):
    assert clean_text(text) == slow_clean_text(text)


@pytest.mark.parametrize("text", [
    "2019-03-05 10:00", "2019/3/5 10:00", "2019年3月5日", "2019年3月5日 10时30分", "2019-03-05T02:00:00Z",
    "2019-03-05T10:00+08:00", " 2019-03-05 ", "2019-02-30", "yesterday", "", "   ",
])
def test_remembered_times_are_parsed_times(resolver, text):
    for _ in range(2):  # the second time from memory
        result = build_record({"title": "t", "received_at": "2019-03-01", "assigned_at": text, "unit": "八仙镇"},
                              tz=TZ, resolver=resolver, now=NOW)
        parsed = parse_datetime(text, TZ)
        if not text.strip():
            assert isinstance(result, LetterRecord) and result.assigned_at == max(NOW, result.received_at)
        elif parsed is None:
            assert [(e.field, e.message) for e in result] == [("assigned_at", "is not a date and time (e.g. 2019-03-05 10:00)")]
        else:
            assert isinstance(result, LetterRecord) and result.assigned_at == parsed
            assert result.assigned_at.utcoffset() == parsed.utcoffset()


def test_later_is_a_comparison():
    times = [dt.datetime(2026, 11, 30, 12, minute, tzinfo=TZ) for minute in range(0, 60, 7)] + [NOW, NOW + dt.timedelta(hours=1)]
    for value in times:
        for limit in times:
            assert _later(value, limit) == (value > limit)
            assert _later(value, limit) == (value > limit)


def test_a_record_made_without_init_is_the_record():
    values = {f.name: f"v{i}" for i, f in enumerate(dataclasses.fields(LetterRecord))}
    fast, slow = _record(values), LetterRecord(**values)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.title = "x"


def test_build_record_sets_every_field(resolver):
    for record in record_variety(resolver):
        assert set(vars(record)) == {f.name for f in dataclasses.fields(LetterRecord)}
        assert record == LetterRecord(**vars(record))


# Letter rows ----------------------------------------------------------------------------------

TOPICS = {
    "医疗": ("医院", "医保", "看病"),
    "道路": ("路灯", "公路", "a.b", "(x|y)"),
    "空": (),
    "重叠": ("灯不", "不亮"),
}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="医院保看病路灯公不亮a.b(x|y)的", max_size=12), st.text(alphabet="医院保看病路灯公不亮a.b(x|y)的\n", max_size=12))
def test_topics_are_found_as_topics_of_finds_them(title, content):
    assert TopicFinder(TOPICS)(title, content) == topics_of(f"{title}\n{content}", TOPICS)
    assert TopicFinder({})(title, content) == []
    assert TopicFinder({"全部": ("",)})(title, content) == ["全部"]


def record_variety(resolver) -> list[LetterRecord]:
    raws = [
        {"title": "路灯不亮", "received_at": "2019-03-05 10:00"},
        {"title": "医院看病难", "content": "医保报销", "received_at": "2019-03-05 10:00", "unit": "八仙镇", "type": "投诉"},
        {"title": "学校", "received_at": "2019-03-06 09:30", "unit": "县教科局", "assigned_at": "2019-03-06 10:00", "type": "咨询"},
        {"title": "签收", "received_at": "2019-03-06 09:30", "unit": "长安镇", "assigned_at": "2019-03-06 10:00", "accepted_at": "2019-03-07 10:00"},
        {"title": "办结", "received_at": "2019-03-06 09:30", "unit": "长安镇", "assigned_at": "2019-03-08 17:00",
         "accepted_at": "2019-03-11 10:00", "done_at": "2019-03-20 10:00", "reply": "已办"},
        {"title": "准时", "received_at": "2019-09-29 09:30", "unit": "长安镇", "assigned_at": "2019-09-30 10:00", "done_at": "2019-10-08 10:00"},
        {"title": "退回", "received_at": "2019-03-06 09:30", "unit": "长安镇", "status": "已退回", "assigned_at": "2019-03-06 10:00"},
        {"title": "无效", "received_at": "2019-03-06 09:30", "status": "无效", "invalid_reason": "重复"},
        {"title": "年底", "received_at": "2026-11-29 09:30", "unit": "八仙镇", "assigned_at": "2026-11-30 11:00", "done_at": None},
    ]
    records = [build_record(raw, tz=TZ, resolver=resolver, now=NOW) for raw in raws]
    assert all(isinstance(r, LetterRecord) for r in records), records
    return records


def test_letter_rows_are_letter_values(resolver):
    rules = rules_from(settings_for(handling_days="5;投诉=10;咨询=3", accept_days="1;咨询=2"))
    rules = dataclasses.replace(rules, topics={**TOPICS, **rules.topics})
    rows = LetterRows(rules, NOW)
    for _ in range(2):  # the second time the dates come from memory
        for letter_id, record in enumerate(record_variety(resolver), start=1):
            assert rows.values(letter_id, record) == {**letter_values(rules, record, NOW), "id": letter_id}
    assert set(rows.values(1, record)) == set(COLUMNS) == {c.name for c in LETTERS.c}


# Conversion -----------------------------------------------------------------------------------

def plain_conversion(table, columns, dialect, rows):
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    return [tuple(value if p is None else p(value) for p, value in zip(processors, (row[c] for c in columns), strict=True)) for row in rows]


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_converted_rows_are_what_sqlalchemy_sends(dialect_name, resolver):
    from sqlalchemy.dialects.postgresql import asyncpg
    from sqlalchemy.dialects.sqlite import aiosqlite

    dialect = aiosqlite.dialect() if dialect_name == "sqlite" else asyncpg.dialect()
    rules = dataclasses.replace(rules_from(settings_for()), topics=TOPICS)
    letter_rows = LetterRows(rules, NOW)
    rows = [letter_rows.values(i, r) for i, r in enumerate(record_variety(resolver) * 3, start=1)]
    converter = RowConverter(LETTERS, COLUMNS, dialect)
    for _ in range(2):
        assert converter.rows(rows) == plain_conversion(LETTERS, COLUMNS, dialect, rows)
    # Mixed classes in one column, equal values of different classes, unhashable values.
    events = LetterEvent.__table__
    odd = [{"at": NOW, "detail": value} for value in ({}, {"a": 1}, [1], [True], ["x"], 1, True, 1.0, 0.0, -0.0, None, "1")]
    for _ in range(2):
        assert RowConverter(events, ("at", "detail"), dialect).rows(odd) == plain_conversion(events, ("at", "detail"), dialect, odd)
    naive = [{"at": dt.datetime(2019, 3, 5)}]
    with pytest.raises(ValueError):
        RowConverter(events, ("at",), dialect).rows(naive)


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_converted_rows_of_every_kind_are_what_sqlalchemy_sends(dialect_name):
    from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Float, Integer, MetaData, String, Table
    from sqlalchemy.dialects.postgresql import asyncpg
    from sqlalchemy.dialects.sqlite import aiosqlite

    dialect = aiosqlite.dialect() if dialect_name == "sqlite" else asyncpg.dialect()
    table = Table(
        "kinds", MetaData(), Column("local", DateTime()), Column("aware", DateTime(timezone=True)), Column("data", JSON()),
        Column("number", Float()), Column("flag", Boolean()), Column("day", Date()), Column("count", Integer()), Column("text", String()),
    )
    columns = [c.name for c in table.c]
    instant = dt.datetime(2019, 3, 5, 2, 0, tzinfo=dt.UTC)
    batches = [
        [{"local": instant, "aware": instant, "data": [], "number": 0.0, "flag": True, "day": dt.date(2019, 3, 5), "count": 1, "text": "a"},
         {"local": None, "aware": None, "data": None, "number": None, "flag": None, "day": None, "count": None, "text": None}],
        [{"local": instant.astimezone(TZ), "aware": instant.astimezone(TZ), "data": ["x", "y"], "number": -0.0, "flag": False,
          "day": dt.date(2019, 3, 6), "count": True, "text": "b"},
         {"local": instant.astimezone(TZ), "aware": instant, "data": {"a": 1}, "number": 1, "flag": 1, "day": dt.datetime(2019, 3, 5),
          "count": 1, "text": "b"}],
        [{"local": instant.astimezone(TZ), "aware": instant.astimezone(TZ), "data": {"a": 2}, "number": 1.5, "flag": True,
          "day": dt.date(2019, 3, 5), "count": 2, "text": "c"},
         {"local": instant, "aware": instant, "data": ["x", 1], "number": 1.5, "flag": False, "day": dt.date(2019, 3, 5), "count": 2, "text": "c"}],
        [{"local": instant, "aware": instant, "data": {"a": 1}, "number": 0.0, "flag": True, "day": dt.date(2019, 3, 5), "count": 1, "text": "a"}],
        [{"local": instant.astimezone(TZ), "aware": instant, "data": {"a": 2}, "number": -0.0, "flag": True, "day": dt.date(2019, 3, 5),
          "count": 1, "text": "a"}],
    ]
    converter = RowConverter(table, columns, dialect)
    for _ in range(2):
        for rows in batches:
            assert converter.rows(rows) == plain_conversion(table, columns, dialect, rows)


# The whole import against the general path ----------------------------------------------------

HEADER = "external_id,title,content,sender_name,sender_phone,received_at,type,unit,status,assigned_at,accepted_at,done_at,reply,invalid_reason"
ROWS = [
    "F01,路灯不亮,村里路灯坏了,张三,13812341234,2019-03-05 10:00,投诉,,,,,,,",
    "F02,学校收费,乱收费,,,2019-03-06 09:30,举报,八仙镇,,,,,,",
    "F03,已交办,x,,,2019/3/6 9:30,,县教科局,已交办,2019/3/6 10:00,,,,",
    "F04,已签收,x,,,2019-03-06 09:30,咨询,长安镇,已签收,2019-03-06 10:00,2019-03-07 09:00,,,",
    "F05,办结,医院看病难,,,2019-03-05 10:00,投诉,八仙镇,已办结,2019-03-05 11:00,2019-03-06 09:00,2019-03-08 16:00,已修复,",
    "F06,办结无签收,x,,,2019-09-29 10:00,,长安镇,,2019-09-30 10:00,,2019-10-08 10:00,好,",
    "F07,退回,x,,,2019-03-06 09:30,,长安镇,已退回,2019-03-06 10:00,2019-03-06 12:00,,,",
    "F08,无效,同F01,,,2019年3月7日,,,无效,,,,,重复",
    "F09,交办后无效,x,,,2019-03-07 08:00,,县教科局,无效,2019-03-07 09:00,,,,不属实",
    'F10,多行,"第一行\r\n第二行\u202e",,,2019-03-05T02:00:00Z,,八仙镇,,,,,,',
    "F11,新来信,x,,,2026-11-30 11:30,,,,,,,,",
    "F12,新来信到镇,x,,,2026-11-30 12:30,,长安镇,,,,,,",
]


async def stored(db: Database) -> tuple[list, list, list]:
    """Letters, events and cards as the database holds them (driver values), without the ids."""
    names = [c for c in COLUMNS if c != "id"]
    async with db.reading() as session:
        connection = await session.connection()
        letters = (await connection.exec_driver_sql(
            f"SELECT {', '.join(names)} FROM letters ORDER BY external_id")).all()  # noqa: S608
        events = (await connection.exec_driver_sql(
            "SELECT l.external_id, e.at, e.actor_id, e.actor_kind, e.chat_id, e.action, e.from_status, e.to_status, e.detail"
            " FROM letter_events e JOIN letters l ON l.id = e.letter_id ORDER BY l.external_id, e.id")).all()
        cards = (await connection.exec_driver_sql(
            "SELECT o.chat_id, o.kind, l.external_id, o.payload FROM outbox o LEFT JOIN letters l ON l.id = o.letter_id"
            " ORDER BY o.id")).all()
        per_letter = (await connection.exec_driver_sql(
            "SELECT e.letter_id, min(e.id), max(e.id), count(*) FROM letter_events e GROUP BY e.letter_id ORDER BY e.letter_id")).all()
    # Each letter's events have consecutive ids, as when they were inserted letter by letter.
    assert all(last - first + 1 == count for _, first, last, count in per_letter)
    assert [first for _, first, _, _ in per_letter] == sorted(first for _, first, _, _ in per_letter)
    # An event's detail as the object it spells: the database spells what it builds its own way.
    events = [(*r[:-1], json.loads(r[-1]) if isinstance(r[-1], str) else r[-1]) for r in events]
    return [tuple(r) for r in letters], events, [tuple(r) for r in cards]


async def general_import(session, rules, path: Path, resolver, origin: Origin, file_name: str) -> tuple[int, int]:
    """What the import stored before it had a bulk path: letter_values and history_events, one
    letter at a time through SQLAlchemy."""
    from models.letter_file import read_letter_file

    imported = skipped = 0
    for row in read_letter_file(path, tz=TZ, resolver=resolver, now=NOW):
        record = row.record
        if record.external_id and await session.scalar(select(Letter.id).where(Letter.external_id == record.external_id)):
            skipped += 1
            continue
        values = letter_values(rules, record, NOW)
        letter_id = (await session.execute(insert(Letter.__table__).values(**values).returning(Letter.id))).scalar_one()
        await tallies.add_rows(session, [values])
        for action, at, from_status, to_status, detail in history_events(record, NOW, await unit_name(session, record.unit_id)):
            if action == "received":
                detail = {"source": file_name}
            await session.execute(insert(LetterEvent.__table__).values(**event_values(letter_id, origin, action, at, from_status, to_status, detail)))
        if record.assigned_on_arrival:
            enqueue(session, await unit_chat_ids(session, record.unit_id), Kind.LETTER_CARD, letter_id=letter_id)
        imported += 1
    return imported, skipped


async def test_the_bulk_import_stores_what_the_general_path_stores(database_url, tmp_path, monkeypatch):
    await compare_with_the_general_path(database_url, tmp_path, monkeypatch)


async def test_sqlite_through_sqlalchemy_stores_the_same(tmp_path, monkeypatch):
    """The statements PostgreSQL gets, through the session, on SQLite too: the same as the general path."""
    monkeypatch.setattr(models.importer, "sqlite_driver", _no_driver)
    await compare_with_the_general_path(f"sqlite+aiosqlite:///{tmp_path}/old.db", tmp_path, monkeypatch)


async def _no_driver(session):
    return None


async def compare_with_the_general_path(database_url, tmp_path, monkeypatch):
    # Small batches and statements, so batch and statement boundaries fall inside the file.
    monkeypatch.setattr(models.importer, "BATCH", 4)
    monkeypatch.setattr(models.db, "_SQLITE_VARIABLES", len(COLUMNS) * 3)
    first = tmp_path / "first.csv"
    first.write_text("\n".join([HEADER, *ROWS[:3], ROWS[4]]) + "\n", encoding="utf-8")
    whole = tmp_path / "whole.csv"
    whole.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    settings_ = settings_for(database_url, handling_days="5;投诉=10", accept_days="1;咨询=2")
    rules = dataclasses.replace(rules_from(settings_), topics=TOPICS)
    origin = Origin("import", chat_id=4242)
    db = Database(database_url, TZ)
    try:
        await db.migrate()
        async with db.transaction() as session:
            await sync_units(session, read_units_file(UNITS_FILE))
            town = await session.scalar(select(Unit.id).where(Unit.name == "长安镇"))
            session.add(UnitChat(chat_id=-1001, unit_id=town, title="长安镇", bound_by=1))
        async with db.reading() as session:
            resolver = await build_resolver(session)

        reports = []
        for path in (first, whole):
            async with db.transaction() as session:
                reports.append(await import_file(session, rules, path, origin, NOW, tz=TZ, resolver=resolver, display_name="网站.csv"))
        assert [(r.ok, r.imported, r.skipped) for r in reports] == [(True, 4, 0), (True, 8, 4)]
        fast = await stored(db)
        async with db.reading() as session:
            assert await tallies.drift(session) == {}

        async with db.transaction() as session:
            for table in (Outbox, LetterEvent, Letter, LetterTally):
                await session.execute(delete(table))
        counts = []
        for path in (first, whole):
            async with db.transaction() as session:
                counts.append(await general_import(session, rules, path, resolver, origin, "网站.csv"))
        assert counts == [(4, 0), (8, 4)]
        general = await stored(db)
        async with db.reading() as session:
            assert await tallies.drift(session) == {}
    finally:
        await db.dispose()

    assert fast[0] == general[0]
    assert fast[1] == general[1]
    assert [card[:3] for card in fast[2]] == [(-1001, Kind.LETTER_CARD, "F12")]
    assert fast[2] == general[2]
    letters = {row[0]: row for row in fast[0]}
    assert set(letters) == {f"F{i:02d}" for i in range(1, 13)}
    actions = {}
    for external_id, *_, action, _from, _to, detail in fast[1]:
        actions.setdefault(external_id, []).append(action)
        if action == "received":
            assert (json.loads(detail) if isinstance(detail, str) else detail) == {"source": "网站.csv"}
    assert actions["F05"] == ["received", "assigned", "accepted", "done"]
    assert actions["F07"] == ["received", "assigned", "accepted", "returned"]
    assert actions["F09"] == ["received", "assigned", "invalidated"]
    assert actions["F12"] == ["received", "assigned"]


async def test_a_bad_row_after_many_batches_leaves_nothing(database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(models.importer, "BATCH", 3)
    path = tmp_path / "late.csv"
    rows = [f"L{i},标题{i},x,,,2019-03-05 10:00,,八仙镇,,2019-03-05 11:00,,,," for i in range(20)]
    path.write_text("\n".join([HEADER, *rows, "L99,,没有标题,,,2019-03-05,,,,,,,,"]) + "\n", encoding="utf-8")
    db = Database(database_url, TZ)
    try:
        await db.migrate()
        async with db.transaction() as session:
            await sync_units(session, read_units_file(UNITS_FILE))
        async with db.reading() as session:
            resolver = await build_resolver(session)
        async with db.transaction() as session:
            report = await import_file(session, rules_from(settings_for(database_url)), path, Origin("cli"), NOW, tz=TZ, resolver=resolver)
        assert not report.ok and (report.imported, report.skipped) == (0, 0)
        assert [(p.line, p.column) for p in report.problems] == [(22, "title")]
        async with db.reading() as session:
            for table in (Letter, LetterEvent, LetterTally):
                assert await session.scalar(select(func.count()).select_from(table)) == 0
    finally:
        await db.dispose()


def test_history_kinds_follow_history_events():
    """The INSERT … SELECT writes the events `history_events` lists, in its order."""
    from models.importer import _HISTORY

    actions = [action for _, action, _, _ in _HISTORY]
    record = LetterRecord(
        external_id=None, title="t", content="", received_at=NOW, unit_id=1, status=LetterStatus.RETURNED,
        assigned_at=NOW, accepted_at=NOW, done_at=NOW,
    )
    listed = [action for action, *_ in history_events(record, NOW)]
    assert listed == [a for a in actions if a != "invalidated"]
    invalid = dataclasses.replace(record, status=LetterStatus.INVALID)
    assert [action for action, *_ in history_events(invalid, NOW)][-1] == actions[-1]
    assert [to for *_, to, _ in history_events(record, NOW)] == [to for _, a, to, _ in _HISTORY if a != "invalidated"]


async def test_driver_errors_come_out_as_sqlalchemy_errors(tmp_path):
    from sqlalchemy.exc import IntegrityError, OperationalError

    from models.db import sqlite_driver, sqlite_run

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/errors.db", TZ)
    try:
        await db.migrate()
        async with db.transaction() as session:
            driver = await sqlite_driver(session)
            assert await sqlite_run(driver, "SELECT 1 + ?", (1,)) == [(2,)]
            with pytest.raises(OperationalError):
                await sqlite_run(driver, "SELECT * FROM no_such_table", ())
            with pytest.raises(IntegrityError):
                await sqlite_run(driver, "INSERT INTO letters (id, title) VALUES (1, NULL)", ())
    finally:
        await db.dispose()


def test_the_future_moves_with_now(resolver):
    raw = {"title": "t", "received_at": "2026-11-30 14:00"}  # 06:00 UTC
    for _ in range(2):
        for now, future in ((NOW, True), (NOW + dt.timedelta(hours=3), False), (NOW, True)):
            result = build_record(raw, tz=TZ, resolver=resolver, now=now)
            assert isinstance(result, list) == future


def test_a_passed_row_made_without_init_is_the_row(resolver):
    from models.letter_file import FileRow, _passed

    record = next(iter(record_variety(resolver)))
    fast, slow = _passed(7, record), FileRow(7, record, ())
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.line = 8


def test_rows_narrower_than_the_header_read_as_before(tmp_path, resolver):
    """A row that stops early (no cells for the last columns) and one with every cell: the wide
    rows take the one-expression path, the short ones the cell-by-cell one; both mean the same."""
    from models.letter_file import read_letter_file

    path = tmp_path / "short.csv"
    path.write_text("title,received_at,unit,assigned_at\n 甲 ,2019-03-05, 八仙镇 ,2019-03-05 10:00\n乙,2019-03-05\n", encoding="utf-8")
    rows = list(read_letter_file(path, tz=TZ, resolver=resolver, now=NOW))
    assert [row.record.title for row in rows] == ["甲", "乙"]
    assert rows[0].record.unit_id == resolver.resolve("八仙镇").unit.id and rows[0].record.status == LetterStatus.ASSIGNED
    assert rows[1].record.unit_id is None and rows[1].record.status == LetterStatus.NEW


def test_tallies_of_many_rows_are_the_sum_of_each_row():
    """Changes.add_many (each distinct set of values once) against Changes.add row by row."""
    import random

    zone = ZoneInfo("America/New_York")  # a zone with summer time: the same instant, another day
    rng = random.Random(5)
    instants = [dt.datetime(2026, 3, 8, hour, tzinfo=dt.UTC) for hour in range(0, 24, 5)]
    rows = []
    for _ in range(600):
        when = rng.choice(instants)
        rows.append({
            "unit_id": rng.choice((None, 1, 2)), "received_at": rng.choice((when, when.astimezone(TZ))),
            "status": rng.choice(("new", "assigned", "accepted", "done", "returned", "invalid", LetterStatus.DONE)),
            "due_date": rng.choice((None, dt.date(2026, 3, 12))), "closed_on_time": rng.choice((None, True, False)),
            "handling_workdays": rng.choice((None, 0, 3)),
        })
    one_by_one, many = tallies.Changes(zone), tallies.Changes(zone)
    for row in rows:
        one_by_one.add(row)
    many.add_many(rows)
    assert many.rows() == one_by_one.rows() and many.rows()
