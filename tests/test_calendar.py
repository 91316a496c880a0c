"""Working days on real dates: holidays, make-up Saturdays, and years the official data lacks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.settings import DaysRule
from models.deadlines import DeadlinePolicy
from scheduler.workdays import OverrideFileError, WorkdayCalendar, official_year, overruling, read_override_file

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("assigned", "due", "estimated"),
    [
        (dt.date(2019, 9, 30), dt.date(2019, 10, 12), False),  # National Day; Saturday 10-12 was a working day
        (dt.date(2019, 2, 1), dt.date(2019, 2, 13), False),  # Spring Festival; 02-02 and 02-03 were working days
        (dt.date(2026, 9, 29), dt.date(2026, 10, 12), False),
        (dt.date(2026, 12, 28), dt.date(2027, 1, 5), True),  # 2027 is not in the official data yet
    ],
)
def test_deadlines_on_real_dates(assigned, due, estimated):
    assert WorkdayCalendar().add_workdays(assigned, 5) == (due, estimated)


def test_a_make_up_saturday_is_a_working_day_and_a_holiday_monday_is_not():
    calendar = WorkdayCalendar()
    assert calendar.is_workday(dt.date(2019, 10, 12)) == (True, False)
    assert calendar.is_workday(dt.date(2019, 10, 7)) == (False, False)


def test_unknown_years_use_overrides_then_statutory_holidays_then_weekdays():
    calendar = WorkdayCalendar()
    assert not official_year(2027)
    assert calendar.is_workday(dt.date(2027, 1, 1)) == (False, True)  # statutory New Year
    assert calendar.is_workday(dt.date(2027, 1, 4)) == (True, True)  # a Monday
    assert calendar.is_workday(dt.date(2027, 1, 9)) == (False, True)  # a Saturday
    calendar.set_overrides({dt.date(2027, 1, 4): False, dt.date(2027, 1, 9): True})
    assert calendar.is_workday(dt.date(2027, 1, 4)) == (False, True)
    assert calendar.is_workday(dt.date(2027, 1, 9)) == (True, True)
    assert calendar.add_workdays(dt.date(2026, 12, 31), 2) == (dt.date(2027, 1, 6), True)


def test_loaded_days_overrule_the_official_data():
    """A notice may move days of the December before (the 2019 one: 2018-12-29 上班, 2018-12-31
    放假): the loaded day wins, and is no estimate, its year being known."""
    official = WorkdayCalendar()
    assert official.is_workday(dt.date(2026, 12, 26)) == (False, False)  # a Saturday
    assert official.add_workdays(dt.date(2026, 12, 24), 5) == (dt.date(2026, 12, 31), False)
    calendar = WorkdayCalendar({dt.date(2026, 12, 26): True, dt.date(2026, 12, 31): False})
    assert calendar.is_workday(dt.date(2026, 12, 26)) == (True, False)
    assert calendar.is_workday(dt.date(2026, 12, 31)) == (False, False)
    assert calendar.add_workdays(dt.date(2026, 12, 24), 5) == (dt.date(2026, 12, 30), False)
    assert calendar.workdays_between(dt.date(2026, 12, 24), dt.date(2026, 12, 31)) == 5


def test_a_deadline_replays_its_assignment_and_extensions():
    policy = DeadlinePolicy(tz=TZ, handling_by_type={"投诉": 10})
    assigned = dt.datetime(2026, 12, 28, 10, 0, tzinfo=TZ)
    first = policy.for_assignment(assigned, "投诉")
    due, _ = policy.extended(first.due_date, 2)
    due, _ = policy.extended(due, 3)
    replayed = policy.replayed(assigned, "投诉", [2, 3])
    assert (replayed.accept_due, replayed.due_date, replayed.estimated) == (first.accept_due, due, True)
    assert policy.replayed(assigned, "投诉", []) == first
    official = policy.replayed(dt.datetime(2026, 3, 2, 10, 0, tzinfo=TZ), None, [3])  # Monday: 03-09, then 3 days
    assert (official.due_date, official.estimated) == (dt.date(2026, 3, 12), False)


def test_workdays_between():
    calendar = WorkdayCalendar()
    assert calendar.workdays_between(dt.date(2026, 12, 7), dt.date(2026, 12, 10)) == 3
    assert calendar.workdays_between(dt.date(2026, 12, 10), dt.date(2026, 12, 7)) == 0
    assert calendar.workdays_between(dt.date(2019, 9, 30), dt.date(2019, 10, 8)) == 1


def test_override_file(tmp_path):
    good = tmp_path / "2027.csv"
    good.write_text("日期,类型,说明\n# 2027 年放假安排\n2027-01-01,休息,元旦\n2027/02/20,上班,春节调休\n", encoding="utf-8")
    assert read_override_file(good) == {dt.date(2027, 1, 1): (False, "元旦"), dt.date(2027, 2, 20): (True, "春节调休")}
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-01-01,休息\n2027-13-01,休息\n", encoding="gb18030")
    with pytest.raises(OverrideFileError) as error:
        read_override_file(bad)
    assert error.value.values["line"] == 2
    bad.write_text("2027-01-01,maybe\n", encoding="utf-8")
    with pytest.raises(OverrideFileError):
        read_override_file(bad)
    bad.write_text("2027-01-01,休息\n2026-12-31,off\n2026-12-35,off\n", encoding="utf-8")
    with pytest.raises(OverrideFileError) as error:  # a bad line refuses the file, whatever its year
        read_override_file(bad)
    assert error.value.values["line"] == 3
    bad.write_text("\n# nothing\n", encoding="utf-8")
    with pytest.raises(OverrideFileError):
        read_override_file(bad)


def test_a_notice_may_move_days_of_a_year_the_data_covers(tmp_path):
    notice = tmp_path / "2027.csv"
    notice.write_text("2026-12-26,上班,元旦调休\n2026-12-31,休息,元旦\n2026-12-25,上班\n2027-01-01,休息,元旦\n", encoding="utf-8")
    days = read_override_file(notice)
    assert days[dt.date(2026, 12, 26)] == (True, "元旦调休") and days[dt.date(2026, 12, 31)] == (False, "元旦") and len(days) == 4
    # Overruled, and agreeing (changes nothing; stored all the same, so it can undo an earlier load).
    assert overruling(days) == ([dt.date(2026, 12, 26), dt.date(2026, 12, 31)], [dt.date(2026, 12, 25)])


def test_per_type_deadlines():
    rule = DaysRule.parse("5;投诉=10", maximum=60)
    assert rule == 5 and rule.for_type("投诉") == 10 and rule.for_type("咨询") == 5
    policy = DeadlinePolicy(tz=TZ, handling_days=rule.default, handling_by_type=rule.by_type)
    assigned = dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)  # a Tuesday
    assert policy.for_assignment(assigned, "投诉").due_date == dt.date(2019, 3, 19)
    assert policy.for_assignment(assigned, "咨询").due_date == dt.date(2019, 3, 12)
    assert policy.for_assignment(assigned).accept_due == dt.date(2019, 3, 6)
    for bad in ("0", "5;投诉=0", "abc", "5;6", ";投诉=3"):
        with pytest.raises(ValueError):
            DaysRule.parse(bad, maximum=60)


def test_assignment_late_in_the_evening_counts_from_its_local_day():
    policy = DeadlinePolicy(tz=TZ)
    late = dt.datetime(2019, 3, 5, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai, still Tuesday
    assert policy.for_assignment(late).due_date == dt.date(2019, 3, 12)
