"""The one validation every intake path shares."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from models.letter_input import FieldError, build_record, clean_text, parse_datetime
from models.tables import LetterStatus
from models.unit_resolver import UnitRef, UnitResolver
from models.units import read_units_file

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


@pytest.fixture(scope="module")
def resolver():
    specs = read_units_file(Path("bot/data/pingli-units.yaml"))
    return UnitResolver(UnitRef(i + 1, s.name, s.kind.value, tuple(s.aliases)) for i, s in enumerate(specs))


def build(resolver, history=True, **raw):
    return build_record({"title": "路灯", "received_at": "2019-03-05 10:00", **raw}, tz=TZ, resolver=resolver, now=NOW, history=history)


def fields(result) -> set[str]:
    assert isinstance(result, list), result
    return {e.field for e in result}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-05 10:00", dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)),
        ("2019/3/5 10:00", dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)),
        ("2019年3月5日", dt.datetime(2019, 3, 5, tzinfo=TZ)),
        ("2019年3月5日 10时30分", dt.datetime(2019, 3, 5, 10, 30, tzinfo=TZ)),
        ("2019-03-05T02:00:00Z", dt.datetime(2019, 3, 5, 2, 0, tzinfo=dt.UTC)),
        ("2019-02-30", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_dates(text, expected):
    assert parse_datetime(text, TZ) == expected


def test_control_and_bidi_characters_are_removed():
    assert clean_text("  路灯\u202e坏了\x00\r\n第二行 ") == "路灯坏了\n第二行"
    assert clean_text("看\u200b不\u2066见\u2069") == "看不见"


def test_joiners_and_direction_marks_are_kept():
    """Emoji sequences (👨‍👩‍👧, 👩‍⚕️) and right-to-left text need them; they disguise nothing."""
    text = "我们一家👨\u200d👩\u200d👧，医生👩\u200d⚕️ \u200fשלום\u200f نامه\u200cها \u200e。"
    assert clean_text(text) == text
    assert clean_text(" \u200f \u200d路灯\u200e ") == "路灯" and clean_text("\u200b\u200f\u202e") == ""  # at the ends: nothing


def test_a_new_letter(resolver):
    record = build(resolver, external_id=1001, sender_phone=13812341234, type="complaint")
    assert record.external_id == "1001" and record.sender_phone == "13812341234" and record.type == "投诉"
    assert record.status is LetterStatus.NEW and record.received_at == dt.datetime(2019, 3, 5, 10, tzinfo=TZ)


def test_history_implies_the_status(resolver):
    record = build(resolver, unit="八仙", assigned_at="2019-03-05 11:00", done_at="2019-03-08 09:00", reply="已修好")
    assert record.status is LetterStatus.DONE and record.unit_id == 8


def test_inconsistent_history_is_refused(resolver):
    assert fields(build(resolver, status="已办结", unit="八仙镇", assigned_at="2019-03-05 11:00")) == {"done_at"}
    assert fields(build(resolver, status="已交办")) == {"unit", "assigned_at"}
    assert fields(build(resolver, status="无效")) == {"invalid_reason"}
    assert fields(build(resolver, status="待交办", assigned_at="2019-03-06 09:00")) == {"status"}
    assert fields(build(resolver, unit="八仙镇", assigned_at="2019-03-04 09:00")) == {"assigned_at"}
    # A closing time on a letter that is not closed: open, returned, or invalid.
    for status in ("已交办", "已签收", "已退回", "无效"):
        closing = build(resolver, status=status, unit="八仙镇", assigned_at="2019-03-05 11:00", done_at="2019-03-06 09:00", reply="已修好", invalid_reason="重复")
        assert fields(closing) == {"status"}, status


def test_a_handling_date_on_the_day_of_the_step_before_it_is_that_day(resolver):
    """来信 10:00, 交办 and 办结 given as that day's date: the same day, not before it."""
    record = build(resolver, unit="八仙镇", assigned_at="2019-03-05", done_at="2019年3月5日", reply="已答复")
    received = dt.datetime(2019, 3, 5, 10, tzinfo=TZ)
    assert record.assigned_at == received and record.done_at == received and record.status is LetterStatus.DONE
    later = build(resolver, unit="八仙镇", assigned_at="2019-03-05 16:00", done_at="2019-03-05", reply="已答复")
    assert later.done_at == dt.datetime(2019, 3, 5, 16, tzinfo=TZ)
    # A date before the day, or a time before the step, is still refused.
    assert fields(build(resolver, unit="八仙镇", assigned_at="2019-03-04")) == {"assigned_at"}
    assert fields(build(resolver, unit="八仙镇", assigned_at="2019-03-05 09:00")) == {"assigned_at"}


def test_api_letters_with_a_unit_are_assigned_now_even_if_received_slightly_ahead(resolver):
    ahead = (NOW + dt.timedelta(minutes=30)).isoformat()
    record = build(resolver, history=False, unit="八仙镇", received_at=ahead)
    assert not isinstance(record, list), record
    assert record.status is LetterStatus.ASSIGNED and record.assigned_at >= record.received_at


def test_api_ignores_history_fields(resolver):
    record = build(resolver, history=False, status="已办结", done_at="2019-03-08")
    assert record.status is LetterStatus.NEW and record.done_at is None


def test_errors_carry_message_ids_and_values(resolver):
    result = build(resolver, title="x" * 501)
    assert result == [FieldError("title", "is too long (at most {limit} characters)", {"limit": 500})]
