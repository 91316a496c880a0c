"""Deadlines counted again when the calendar learns the days they rest on: the admins load the
State Council's notice (`python -m bot holidays`), which may also move days of a year the official
data covers; or a chinesecalendar upgrade covers a year deadlines were estimated on (at start)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.runtime import prepare_database
from models import tallies
from models.holidays import follow_overrides, load_overrides, save_overrides, store_overrides
from models.letters import Origin
from models.tables import Letter, LetterEvent
from scheduler import workdays
from scheduler.jobs import scheduled_sweep
from tests.conftest import expect, greet, join
from tests.test_cli import bare_environment, run_cli
from tests.test_liaison_day import assigned_letter
from tests.test_sweep import at, settle

# The 2027 notice as the tests imagine it: Monday 01-04 off, Saturday 01-09 a make-up working day.
NOTICE_2027 = {dt.date(2027, 1, 4): (False, "元旦调休"), dt.date(2027, 1, 9): (True, "元旦调休上班")}


@pytest.fixture
async def county(bot, http):
    """An admin, two liaisons of 八仙镇 and their bound group (as test_liaison_day's county)."""
    people = {"admin": bot.admin, "a1": bot.person(2101, "八仙甲"), "a2": bot.person(2102, "八仙乙")}
    await greet(bot.admin)
    for key in ("a1", "a2"):
        await join(bot, people[key], "八仙镇")
    people["group"] = group = bot.api.group("八仙镇信访工作群")
    people["a1"].send("/bind", chat=group)
    await people["a1"].receive(chat=group)
    return people


async def letters(bot, *ids: int) -> list[Letter]:
    async with bot.services.db.reading() as session:
        return [await session.get(Letter, letter_id) for letter_id in ids]


async def last_event(bot, letter_id: int) -> LetterEvent:
    async with bot.services.db.reading() as session:
        return await session.scalar(select(LetterEvent).where(LetterEvent.letter_id == letter_id).order_by(LetterEvent.id.desc()).limit(1))


async def event_count(bot) -> int:
    async with bot.services.db.reading() as session:
        return await session.scalar(select(func.count()).select_from(LetterEvent))


async def extend(county, letter_id: int, days: int) -> None:
    a1, admin = county["a1"], county["admin"]
    a1.send(f"/extend {letter_id} {days} 需要现场核实")
    await expect(a1, "已提交")
    request = await expect(admin, f"申请延期 {days} 个工作日", kind="message")
    await admin.answer_to(admin.press(request, request.button("同意")))
    await expect(a1, "新的办理时限")


async def test_loading_next_years_notice_counts_estimated_deadlines_again(bot, http, county):
    a1, admin = county["a1"], county["admin"]
    at(bot, "2026-12-28", "10:00")  # a Monday; 2027 is not in the official data
    plain, _ = await assigned_letter(bot, http, county)
    extended, _ = await assigned_letter(bot, http, county)
    await extend(county, extended, 2)
    reopened, _ = await assigned_letter(bot, http, county)
    await extend(county, reopened, 3)  # approved before the 重办: its new deadline does not carry it
    closed, _ = await assigned_letter(bot, http, county)
    for letter_id in (reopened, closed):
        a1.send(f"/done {letter_id} 已处理")
        await expect(a1, "谢谢")
    at(bot, "2026-12-29", "10:00")
    admin.send(f"/reopen {reopened} 群众不满意")
    await expect(admin, "退回原单位")
    before = {letter.id: (letter.due_date, letter.due_estimated) for letter in await letters(bot, plain, extended, reopened, closed)}
    assert before == {
        plain: (dt.date(2027, 1, 5), True), extended: (dt.date(2027, 1, 7), True),
        reopened: (dt.date(2027, 1, 6), True), closed: (dt.date(2027, 1, 5), True),
    }
    (closed_before,) = await letters(bot, closed)

    async with bot.services.db.transaction() as session:  # as `python -m bot holidays` stores them
        loaded = await save_overrides(session, bot.services.rules, NOTICE_2027, bot.services.now(), Origin("cli"))
        assert not await tallies.drift(session)
    assert {each.letter_id for each in loaded.recounted} == {plain, extended, reopened}
    after = {letter.id: (letter.accept_due, letter.due_date, letter.due_estimated) for letter in await letters(bot, plain, extended, reopened)}
    assert after == {
        plain: (dt.date(2026, 12, 29), dt.date(2027, 1, 6), True),  # loaded days of a year the data lacks: still 估算
        extended: (dt.date(2026, 12, 29), dt.date(2027, 1, 8), True),  # 01-06, then its 2 days
        reopened: (dt.date(2026, 12, 30), dt.date(2027, 1, 7), True),  # from the 重办, without the old extension
    }
    (closed_after,) = await letters(bot, closed)
    assert (closed_after.due_date, closed_after.due_estimated, closed_after.closed_on_time, closed_after.handling_workdays) == (
        closed_before.due_date, closed_before.due_estimated, closed_before.closed_on_time, closed_before.handling_workdays)
    event = await last_event(bot, plain)
    assert (event.action, event.actor_kind, event.detail["old_due"], event.detail["due"]) == ("deadline_recounted", "cli", "2027-01-05", "2027-01-06")

    await settle(bot)
    moved = await expect(a1, f"#{plain} 号信件的办理时限改为 2027-01-06")
    assert "原为 2027-01-05" in moved.text
    await expect(a1, f"#{extended} 号信件的办理时限改为 2027-01-08", chat=county["group"])

    # The running bot still counts on the days it had: a letter it assigns now gets the old
    # deadline, until its next sweep takes the loaded days and counts that letter again too.
    at(bot, "2026-12-28", "11:00")  # the day the first was assigned
    fresh, _ = await assigned_letter(bot, http, county)
    (fresh_letter,) = await letters(bot, fresh)
    assert fresh_letter.due_date == dt.date(2027, 1, 5)

    at(bot, "2027-01-06")  # the deadline of both: yellow for both, not red for the first
    result = await scheduled_sweep(bot.services, "schedule")
    reasons = {letter_id: reason for items in result.by_unit.values() for letter_id, reason, _ in items}
    assert reasons[plain] == reasons[fresh] == "yellow" and reasons[extended] != "red"
    (fresh_letter,) = await letters(bot, fresh)
    assert fresh_letter.due_date == dt.date(2027, 1, 6) and (await last_event(bot, fresh)).action == "deadline_recounted"
    async with bot.services.db.reading() as session:
        assert bot.services.rules.deadlines.calendar.overrides == await load_overrides(session)

    admin.send(f"/letter {plain}")
    story = await expect(admin, "办理记录")
    assert "按新导入的放假安排重新计算期限：2027-01-06" in story.text


async def test_loading_the_same_notice_again_changes_no_letter(bot, http, county):
    at(bot, "2026-12-28", "10:00")
    await assigned_letter(bot, http, county)
    counts = []
    for _ in range(2):
        async with bot.services.db.transaction() as session:
            loaded = await save_overrides(session, bot.services.rules, NOTICE_2027, bot.services.now(), Origin("cli"))
        counts.append((len(loaded.recounted), await event_count(bot)))
    assert counts[0][0] == 1 and counts[1] == (0, counts[0][1])


def official_data_for_2027(monkeypatch) -> None:
    """A chinesecalendar upgrade that knows 2027: New Year's Day and Monday 01-04 off."""
    known = workdays._official
    off = {dt.date(2027, 1, 1), dt.date(2027, 1, 4)}

    def official(day: dt.date) -> bool | None:
        return (day.weekday() < 5 and day not in off) if day.year == 2027 else known(day)

    monkeypatch.setattr(workdays, "_official", official)
    workdays.official_span.cache_clear()


async def test_a_calendar_upgrade_counts_them_again_at_start(bot, http, county, monkeypatch):
    a1 = county["a1"]
    at(bot, "2026-12-28", "10:00")
    open_id, _ = await assigned_letter(bot, http, county)
    closed_id, _ = await assigned_letter(bot, http, county)
    a1.send(f"/done {closed_id} 已处理")
    await expect(a1, "谢谢")
    try:
        official_data_for_2027(monkeypatch)
        await prepare_database(bot.services)  # the start after the upgrade
        opened, closed = await letters(bot, open_id, closed_id)
        assert (opened.due_date, opened.due_estimated) == (dt.date(2027, 1, 6), False)  # known now: no longer 估算
        assert (closed.due_date, closed.due_estimated) == (dt.date(2027, 1, 5), True)  # closed: keeps its figures
        event = await last_event(bot, open_id)
        assert (event.action, event.actor_kind, event.detail["estimated"]) == ("deadline_recounted", "system", False)
        events = await event_count(bot)
        await prepare_database(bot.services)  # the next start: the same data, nothing to do
        assert await event_count(bot) == events
        await settle(bot)
        await expect(a1, f"#{open_id} 号信件的办理时限改为 2027-01-06")
    finally:
        monkeypatch.undo()
        workdays.official_span.cache_clear()


async def test_the_holidays_verb_moves_days_of_a_year_the_data_covers(bot, http, county, database_url, tmp_path):
    """The 2019 notice made 2018-12-29 a working day and 2018-12-31 a day off; a 2027 one may do
    the same to 2026. The loaded days win over the official data, and open letters follow."""
    a1, admin = county["a1"], county["admin"]
    at(bot, "2026-12-24", "10:00")  # a Thursday
    letter_id, _ = await assigned_letter(bot, http, county)
    (letter,) = await letters(bot, letter_id)
    assert (letter.due_date, letter.due_estimated) == (dt.date(2026, 12, 31), False)
    notice = tmp_path / "2027.csv"
    notice.write_text(
        "# 2027 年元旦\n2026-12-26,上班,元旦调休上班\n2026-12-31,休息,元旦\n2027-01-01,休息,元旦\n2026-12-25,上班\n", encoding="utf-8",
    )
    env = bare_environment(BOT_TOKEN=bot.api.token, DATABASE_URL=database_url, LANGUAGE="zh_CN", TIMEZONE="Asia/Shanghai")
    code, out, err = await run_cli("holidays", str(notice), cwd=tmp_path, env=env, timeout=120)
    assert code == 0, err
    for said in ("已导入 4 天", "2026-12-26 改为上班日", "2026-12-31 改为休息日", "1 天与官方日历一致，没有改动：2026-12-25",
                 f"#{letter_id}：2026-12-31 → 2026-12-30", "改动了官方日历的日期：2026-12-26 上班 2026-12-31 休息"):
        assert said in out, (said, out)
    (letter,) = await letters(bot, letter_id)
    assert (letter.due_date, letter.due_estimated) == (dt.date(2026, 12, 30), False)  # 12-26 counts, 12-31 does not

    await settle(bot)
    await expect(a1, f"#{letter_id} 号信件的办理时限改为 2026-12-30")
    at(bot, "2026-12-31")  # a day off now: no sweep
    assert await scheduled_sweep(bot.services, "schedule") is None
    admin.send("/holidays")
    assert "2026-12-26 上班 2026-12-31 休息" in (await expect(admin, "官方放假安排")).text


async def test_a_line_that_agrees_with_the_data_undoes_an_earlier_load(bot, http, county):
    at(bot, "2026-12-21", "10:00")  # a Monday: due 12-28 by the official data
    letter_id, _ = await assigned_letter(bot, http, county)
    earlier_id, _ = await assigned_letter(bot, http, county)
    a1 = county["a1"]
    dues = []
    for working in (False, True):  # a mistaken load makes 12-24 a day off; the right one undoes it
        async with bot.services.db.transaction() as session:
            loaded = await save_overrides(session, bot.services.rules, {dt.date(2026, 12, 24): (working, "")}, bot.services.now(), Origin("cli"))
        (letter,) = await letters(bot, letter_id)
        dues.append((letter.due_date, letter.due_estimated, loaded.overruled, loaded.agreeing))
        if not working:
            a1.send(f"/done {earlier_id} 已处理")  # closed while the mistake stood: keeps its figures
            await expect(a1, "谢谢")
    assert dues == [
        (dt.date(2026, 12, 29), False, [dt.date(2026, 12, 24)], []),
        (dt.date(2026, 12, 28), False, [], [dt.date(2026, 12, 24)]),
    ]
    (earlier,) = await letters(bot, earlier_id)
    assert earlier.due_date == dt.date(2026, 12, 29)


async def test_a_failed_sweep_leaves_the_change_for_the_next_try(bot, http, county):
    """The running bot takes loaded days in its sweep's transaction; if that fails, its calendar
    stays as it was, so the next try finds the change again and counts the letters again."""
    services = bot.services
    at(bot, "2026-12-28", "10:00")
    async with services.db.transaction() as session:  # `python -m bot holidays`, another process
        await save_overrides(session, services.rules, NOTICE_2027, services.now(), Origin("cli"))
    at(bot, "2026-12-29", "10:00")
    letter_id, _ = await assigned_letter(bot, http, county)  # counted on this process's old days
    assert (await letters(bot, letter_id))[0].due_date == dt.date(2027, 1, 6)  # 01-04 still a working day here
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as session:
            await follow_overrides(session, services.rules, services.now())
            # At once: what the process assigns meanwhile is counted on the loaded days.
            assert services.rules.deadlines.calendar.is_workday(dt.date(2027, 1, 4)) == (False, True)
            raise RuntimeError("the rest of the sweep fails")
    assert services.rules.deadlines.calendar.overrides == {}
    async with services.db.transaction() as session:
        policy = await follow_overrides(session, services.rules, services.now())
        assert policy.calendar.is_workday(dt.date(2027, 1, 4)) == (False, True)
    assert (await letters(bot, letter_id))[0].due_date == dt.date(2027, 1, 7)
    assert dt.date(2027, 1, 4) in services.rules.deadlines.calendar.overrides  # taken once committed


async def test_two_instances_behind_a_load_sweep_in_turn(bot, http, county, database_url):
    """The scheduled sweep of one instance and /remind on another, both behind a holidays load:
    no deadlock, each letter counted again once."""
    from dataclasses import replace

    from scheduler.sweep import sweep
    from scheduler.workdays import WorkdayCalendar

    at(bot, "2026-12-28", "10:00")
    letter_id, _ = await assigned_letter(bot, http, county)
    services = bot.services
    async with services.db.transaction() as session:
        await store_overrides(session, NOTICE_2027, services.now())  # loaded, nothing counted yet
    other = replace(services.rules, deadlines=replace(services.rules.deadlines, calendar=WorkdayCalendar({})))
    at(bot, "2026-12-29", "09:00")

    async def remind_on_the_other() -> None:
        async with services.db.transaction() as session:
            await sweep(session, other, services.now(), escalate_after=3, automatic=False)

    results = await asyncio.gather(scheduled_sweep(services, "schedule"), remind_on_the_other(), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    async with services.db.reading() as session:
        recounts = await session.scalar(select(func.count()).select_from(LetterEvent).where(
            LetterEvent.letter_id == letter_id, LetterEvent.action == "deadline_recounted"))
    assert recounts == 1 and (await letters(bot, letter_id))[0].due_date == dt.date(2027, 1, 6)
    assert services.rules.deadlines.calendar.overrides == other.deadlines.calendar.overrides == {d: w for d, (w, _) in NOTICE_2027.items()}


async def test_a_load_counts_again_only_the_letters_it_touches(bot, http, county):
    """HANDLING_DAYS changed since the letter was assigned: a notice day far from it leaves it
    alone; one inside its span counts it again, as assigning it now would (the same on every count,
    whichever process counts)."""
    from dataclasses import replace

    at(bot, "2026-12-28", "10:00")
    letter_id, _ = await assigned_letter(bot, http, county)  # 5 working days: 2027-01-05, estimated
    rules = replace(bot.services.rules, deadlines=replace(bot.services.rules.deadlines, handling_days=10))
    for days, due in (({dt.date(2027, 10, 8): (True, "国庆调休上班")}, dt.date(2027, 1, 5)), (NOTICE_2027, dt.date(2027, 1, 12))):
        async with bot.services.db.transaction() as session:
            await save_overrides(session, rules, days, bot.services.now(), Origin("cli"))
        assert (await letters(bot, letter_id))[0].due_date == due


async def test_a_unit_notice_held_overnight_misses_a_liaison_moved_meanwhile(bot, http, county):
    from models.outbox import Kind
    from tests.test_people import _outbox_settled

    a1, a2 = county["a1"], county["a2"]
    at(bot, "2026-12-28", "10:00")
    letter_id, _ = await assigned_letter(bot, http, county)
    at(bot, "2026-12-28", "21:00")  # quiet hours: the recount's notices wait for the morning
    async with bot.services.db.transaction() as session:
        await save_overrides(session, bot.services.rules, NOTICE_2027, bot.services.now(), Origin("cli"))
    await settle(bot)  # the cards' refresh goes out at once; the notices wait
    bot.api.pending(a1.id)
    bot.api.pending(bot.admin.id)
    await join(bot, a1, "长安镇")  # that evening a1 moves to 长安镇
    at(bot, "2026-12-29", "09:00")
    bot.services.notify()
    await expect(a2, f"#{letter_id} 号信件的办理时限改为 2027-01-06")  # 八仙镇 hears of it
    assert await _outbox_settled(bot, a1.id, Kind.NOTICE) == [("failed", "no longer addressed")]
    assert not [m.text for m in bot.api.pending(a1.id) if f"#{letter_id}" in m.text]


async def test_the_first_start_that_keeps_the_record_counts_the_estimated_ones(bot, http, county, monkeypatch):
    """Deadlines estimated by a version that kept no record of the official years, and a
    chinesecalendar upgrade in the same step: the start counts the estimated ones again."""
    from models.holidays import OFFICIAL_SPAN_KEY
    from models.tables import Bookkeeping

    at(bot, "2026-12-28", "10:00")
    open_id, _ = await assigned_letter(bot, http, county)
    async with bot.services.db.transaction() as session:
        await session.delete(await session.get(Bookkeeping, OFFICIAL_SPAN_KEY))
    try:
        official_data_for_2027(monkeypatch)
        await prepare_database(bot.services)
        (opened,) = await letters(bot, open_id)
        assert (opened.due_date, opened.due_estimated) == (dt.date(2027, 1, 6), False)
    finally:
        monkeypatch.undo()
        workdays.official_span.cache_clear()

