"""The reminder sweep through the loopback Bot API, on a clock the test moves."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models.tables import Letter, Nudge, Outbox, SweepRun, UnreachableChat
from scheduler.jobs import JOB_NAME, run_sweep, scheduled_sweep
from scheduler.sweep import UNSIGNED, classify, sweep
from tests.conftest import expect, greet, join, post_letter

TZ = ZoneInfo("Asia/Shanghai")


def at(bot, day: str, time: str = "09:00") -> None:
    bot.clock.now = dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=TZ).astimezone(dt.UTC)


@pytest.fixture
async def county(bot, http):
    people = {"admin": bot.admin, "a1": bot.person(3101, "八仙甲"), "b": bot.person(3201, "长安丙"), "leader": bot.person(3301, "县长丁")}
    await greet(bot.admin)
    for key, what in (("a1", "八仙镇"), ("b", "长安镇"), ("leader", "leader")):
        await join(bot, people[key], what)
    people["group"] = group = bot.api.group("八仙镇工作群")
    people["a1"].send("/bind", chat=group)
    await people["a1"].receive(chat=group)
    return people


async def two_overdue_letters(bot, http, county) -> list[int]:
    """Assigned Monday 2026-11-30 to 八仙镇 (due 12-07), and one to 长安镇 (due the same day)."""
    ids = []
    for number, unit in (("S1", "八仙镇"), ("S2", "八仙镇"), ("S3", "长安镇")):
        letter = await post_letter(http, external_id=number, unit=unit, title=f"来信{number}")
        ids.append(letter["id"])
    return ids


async def count(bot, model) -> int:
    async with bot.services.db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def settle(bot) -> None:
    """Let the delivery loop drain what the sweep queued."""
    for _ in range(50):
        await bot.services.delivery.deliver_pending()
        async with bot.services.db.reading() as session:
            left = await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state.in_(("pending", "sending"))))
        if not left:
            return
        await asyncio.sleep(0.05)


async def test_one_digest_per_unit_escalation_and_nothing_twice(bot, http, county):
    a1, b, leader, admin, group = county["a1"], county["b"], county["leader"], county["admin"], county["group"]
    ids = await two_overdue_letters(bot, http, county)
    await settle(bot)
    for chat in (a1.id, b.id, group["id"], admin.id, leader.id):
        bot.api.pending(chat)

    at(bot, "2026-12-10")  # Thursday: three working days past 12-07
    result = await scheduled_sweep(bot.services, "schedule")
    assert result.digests == 2 and result.letters == 3 and result.escalated == 3
    assert result.ranking  # the week's first sweep: the ranking its Monday would have sent
    await settle(bot)
    digest = await expect(a1, "办理提醒")
    assert f"#{ids[0]}" in digest.text and f"#{ids[1]}" in digest.text and "超期 3 个工作日" in digest.text
    assert digest.button(f"letter:done:{ids[0]}")
    await expect(a1, "办理提醒", chat=group)
    assert f"#{ids[2]}" in (await expect(b, "办理提醒")).text
    for boss in (leader, admin):
        escalation = await expect(boss, "督办")
        assert "八仙镇" in escalation.text and "长安镇" in escalation.text and not escalation.buttons

    # The same day again, scheduled or by hand: nothing new.
    assert await scheduled_sweep(bot.services, "catch-up") is None
    admin.send("/remind")
    assert "没有新的提醒" in (await expect(admin, "提醒")).text
    await settle(bot)
    assert bot.api.pending(a1.id) == [] and [m for m in bot.api.pending(leader.id) if "办理情况" not in m.text] == []

    # A reply to the digest naming a letter closes that one.
    a1.send(f"{ids[0]} 已修复", reply_to=digest)
    await expect(a1, "已办结，谢谢")

    # The next working morning: the still-open ones again, once.
    at(bot, "2026-12-11")
    result = await scheduled_sweep(bot.services, "schedule")
    assert result.letters == 2
    await settle(bot)
    again = await expect(a1, "办理提醒")
    assert f"#{ids[1]}" in again.text and f"#{ids[0]}" not in again.text and "超期 4 个工作日" in again.text
    at(bot, "2026-12-12")  # Saturday
    assert await scheduled_sweep(bot.services, "schedule") is None
    assert await count(bot, Nudge) == 3 + 3 + 2 + 2


async def test_yellow_and_unsigned(bot, http, county):
    a1 = county["a1"]
    letter = await post_letter(http, external_id="Y1", unit="八仙镇")
    await settle(bot)
    bot.api.pending(a1.id)
    at(bot, "2026-12-02")  # Wednesday: not signed for since Tuesday's limit
    await scheduled_sweep(bot.services, "schedule")
    await settle(bot)
    digest = await expect(a1, "未签收")
    assert digest.button(f"letter:accept:{letter['id']}")
    at(bot, "2026-12-04")  # Friday: due Monday 12-07, the next working day
    await scheduled_sweep(bot.services, "schedule")
    await settle(bot)
    assert "黄牌" in (await expect(a1, "办理提醒")).text


def test_not_signed_for_is_brought_up_from_the_limits_own_day():
    monday, tuesday, wednesday, due = (dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 7))
    assert classify("assigned", tuesday, due, monday, tuesday, None) is None
    assert classify("assigned", tuesday, due, tuesday, wednesday, None) == (UNSIGNED, 0)
    assert classify("assigned", tuesday, due, wednesday, dt.date(2026, 12, 3), None) == (UNSIGNED, 0)
    assert classify("accepted", tuesday, due, tuesday, wednesday, None) is None


async def test_a_letter_is_reminded_on_the_day_it_must_be_signed_for(bot, http, county):
    """Assigned Monday afternoon, to be signed for by Tuesday: Tuesday's digest asks for it, once;
    signed for from that digest, it is not brought up again."""
    a1, admin = county["a1"], county["admin"]
    at(bot, "2026-11-30", "16:00")
    letter = await post_letter(http, external_id="D1", unit="八仙镇", received_at="2026-11-30T15:00:00+08:00")
    await settle(bot)
    bot.api.pending(a1.id)
    at(bot, "2026-12-01")  # Tuesday: the 签收 limit's own day
    result = await scheduled_sweep(bot.services, "schedule")
    assert list(result.by_unit.values()) == [[(letter["id"], UNSIGNED, 0)]]
    await settle(bot)
    digest = await expect(a1, "未签收")
    assert f"#{letter['id']}" in digest.text and "黄牌" not in digest.text and "红牌" not in digest.text
    assert "签收期限 2026-12-01，办理期限 2026-12-07" in digest.text
    admin.send("/remind")  # the same day by hand: already said
    assert "没有新的提醒" in (await expect(admin, "提醒")).text
    callback = a1.press(digest, digest.button(f"letter:accept:{letter['id']}"))
    assert "已签收" in (await a1.answer_to(callback))["text"]
    at(bot, "2026-12-02")
    assert (await scheduled_sweep(bot.services, "schedule")).letters == 0


async def test_quiet_hours_hold_automatic_messages(bot, http, county):
    admin = county["admin"]
    at(bot, "2026-12-10", "21:30")
    letter = await post_letter(http, external_id="Q1")  # from the website, at night
    assert await bot.services.delivery.deliver_pending() == 0
    at(bot, "2026-12-11", "07:59")
    assert await bot.services.delivery.deliver_pending() == 0
    at(bot, "2026-12-11", "08:00")
    await settle(bot)
    assert f"#{letter['id']}" in (await expect(admin, f"#{letter['id']}")).text
    at(bot, "2026-12-12", "10:00")  # Saturday: a person's own action still answers at once
    admin.send("/help")
    assert "/remind" in (await admin.receive()).text


async def test_crash_while_deciding_leaves_nothing_and_the_rerun_sends_once(bot, http, county, monkeypatch):
    import scheduler.sweep as sweep_module

    await two_overdue_letters(bot, http, county)
    await settle(bot)
    bot.api.pending(county["a1"].id)
    at(bot, "2026-12-10")
    real = sweep_module.enqueue
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "enqueue", crashing)
    with pytest.raises(RuntimeError):
        await scheduled_sweep(bot.services, "schedule")
    assert await count(bot, Nudge) == 0
    async with bot.services.db.reading() as session:
        assert await session.get(SweepRun, dt.date(2026, 12, 10)) is None
    monkeypatch.setattr(sweep_module, "enqueue", real)
    assert (await scheduled_sweep(bot.services, "catch-up")).digests == 2
    await settle(bot)
    await expect(county["a1"], "办理提醒")
    assert [m for m in bot.api.pending(county["a1"].id) if "办理提醒" in m.text] == []


async def test_remind_at_the_moment_of_the_scheduled_sweep_nudges_once(bot, http, county):
    """The nine o'clock sweep and two admins' /remind decide at the same moment: none fails, and
    each letter is nudged, and each unit's digest sent, once."""
    a1, b, admin = county["a1"], county["b"], county["admin"]
    ids = await two_overdue_letters(bot, http, county)
    await settle(bot)
    for chat in (a1.id, b.id, county["group"]["id"]):
        bot.api.pending(chat)
    at(bot, "2026-12-10")
    results = await asyncio.gather(
        scheduled_sweep(bot.services, "schedule"), run_sweep(bot.services, automatic=False), run_sweep(bot.services, automatic=False),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.letters for r in results) == 3 and sum(r.escalated for r in results) == 3 and sum(r.digests for r in results) == 2
    assert await count(bot, Nudge) == 3 + 3
    await settle(bot)
    digest = await expect(a1, "办理提醒")
    assert f"#{ids[0]}" in digest.text and f"#{ids[1]}" in digest.text
    assert f"#{ids[2]}" in (await expect(b, "办理提醒")).text
    assert not [m for chat in (a1.id, b.id) for m in bot.api.pending(chat) if "办理提醒" in m.text]
    admin.send("/remind")
    assert "没有新的提醒" in (await expect(admin, "提醒")).text


async def test_delivery_survives_429_500_and_403(bot, http, county):
    a1, b, admin = county["a1"], county["b"], county["admin"]
    await two_overdue_letters(bot, http, county)
    await settle(bot)
    for chat in (a1.id, b.id, admin.id):
        bot.api.pending(chat)
    at(bot, "2026-12-10")
    bot.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    bot.api.fail_next("sendMessage", 502, "Bad Gateway")
    bot.api.started.discard(b.id)  # 长安丙 blocked the bot
    await run_sweep(bot.services, automatic=True)
    for _ in range(100):  # until every row was tried once (the 429 costs a real second of waiting)
        await bot.services.delivery.deliver_pending()
        async with bot.services.db.reading() as session:
            busy = await session.scalar(select(func.count()).select_from(Outbox).where(
                (Outbox.state == "sending") | ((Outbox.state == "pending") & (Outbox.attempts == 0))))
        if not busy:
            break
        await asyncio.sleep(0.05)
    bot.clock.now += dt.timedelta(minutes=5)  # past the backoff of the 502
    await settle(bot)
    await expect(a1, "办理提醒")
    warning = await expect(admin, "无法再向")
    assert "长安丙" in warning.text
    # A second message to the unreachable liaison is not tried, and the admins are not told twice.
    at(bot, "2026-12-11")
    await run_sweep(bot.services, automatic=True)
    await settle(bot)
    assert not [m for m in bot.api.pending(admin.id) if "无法再向" in m.text]
    b.send("/help")  # back
    await b.receive()
    assert b.id not in bot.services.delivery.unreachable


async def test_an_outage_of_any_length_loses_no_message(bot, http, county):
    """Telegram (or the proxy before it) answering 502 for hours: every message is tried again,
    at most ten minutes apart, until it goes through."""
    a1 = county["a1"]
    await settle(bot)
    at(bot, "2026-12-10", "10:00")
    bot.api.fail_next("sendMessage", 502, "Bad Gateway", times=30)  # about ten tries for each card
    await post_letter(http, external_id="O1", unit="八仙镇", title="停电三天")
    for _ in range(60):
        await bot.services.delivery.deliver_pending()
        async with bot.services.db.reading() as session:
            states = dict((await session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))).all())
        if set(states) <= {"sent"}:
            break
        bot.clock.now += dt.timedelta(minutes=10, seconds=1)  # past any pause
    assert set(states) == {"sent"}, states
    async with bot.services.db.reading() as session:
        assert await session.scalar(select(func.max(Outbox.attempts))) > 8  # where it once gave up
    await expect(a1, "停电三天")


async def test_a_group_that_refused_us_is_reachable_once_someone_writes_there(bot, http, county):
    a1, group = county["a1"], county["group"]
    await settle(bot)
    at(bot, "2026-12-10", "10:00")
    bot.api.fail_next("sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat", chat_id=group["id"])
    await post_letter(http, external_id="G1", unit="八仙镇", title="第一件")
    await settle(bot)
    assert group["id"] in bot.services.delivery.unreachable
    a1.send("/help", chat=group)  # the bot is back in the group
    await a1.receive(chat=group)
    assert group["id"] not in bot.services.delivery.unreachable
    await post_letter(http, external_id="G2", unit="八仙镇", title="第二件")
    await settle(bot)
    await expect(a1, "第二件", chat=group)


async def test_the_unreachable_chats_follow_the_database(bot, http, county):
    """Another instance marks a chat unreachable, and clears it when the person writes to it:
    this instance follows at its next claim, and does not mark the chat (or tell the admins)
    a second time."""
    b, admin = county["b"], county["admin"]
    await settle(bot)
    at(bot, "2026-12-10", "10:00")
    async with bot.services.db.transaction() as session:
        session.add(UnreachableChat(chat_id=b.id, error="Forbidden: bot was blocked by the user"))
    await post_letter(http, external_id="U1", unit="长安镇", title="第一件")
    await settle(bot)
    assert b.id in bot.services.delivery.unreachable and not [m for m in bot.api.pending(b.id) if "第一件" in m.text]
    bot.api.started.discard(b.id)
    bot.services.delivery.unreachable.discard(b.id)  # as if this instance had not heard of it yet
    await post_letter(http, external_id="U2", unit="长安镇", title="第二件")
    await settle(bot)  # refused: the chat is already marked, so the admins hear nothing more
    assert not [m for m in bot.api.pending(admin.id) if "无法再向" in m.text]
    async with bot.services.db.transaction() as session:
        await session.delete(await session.get(UnreachableChat, b.id))  # the other instance heard from 长安丙
    bot.api.started.add(b.id)
    await post_letter(http, external_id="U3", unit="长安镇", title="第三件")
    await settle(bot)
    await expect(b, "第三件")
    # A copy a moment behind the table (the person wrote while this instance was claiming): the
    # table decides before a message is given up.
    delivery = bot.services.delivery
    delivery.unreachable.add(b.id)
    assert not await delivery._still_unreachable(b.id) and b.id not in delivery.unreachable


async def daily_job_due_in(bot, http, county, seconds: float) -> None:
    """Two overdue letters on Thursday 2026-12-10, and the real daily job due in `seconds`."""
    await two_overdue_letters(bot, http, county)
    await settle(bot)
    bot.api.pending(county["a1"].id)
    at(bot, "2026-12-10")
    [job] = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    job.job.modify(next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))


async def test_the_real_job_queue_fires_the_daily_sweep(bot, http, county):
    await daily_job_due_in(bot, http, county, 0.5)
    digest = await expect(county["a1"], "办理提醒")
    assert "超期 3 个工作日" in digest.text
    async with bot.services.db.reading() as session:
        assert (await session.get(SweepRun, dt.date(2026, 12, 10))).trigger == "schedule"


async def test_the_daily_sweep_runs_when_the_loop_was_busy_at_its_minute(bot, http, county):
    """The event loop blocked across the sweep's time (a large import, a paused machine): the
    sweep runs late rather than not at all."""
    await daily_job_due_in(bot, http, county, 0.2)
    time.sleep(2.5)  # blocks the loop: the job's time passes meanwhile
    assert "办理提醒" in (await expect(county["a1"], "办理提醒")).text


async def test_monday_ranking_and_december_calendar_reminder(bot, http, county):
    leader, admin = county["leader"], county["admin"]
    await two_overdue_letters(bot, http, county)
    await settle(bot)
    bot.api.pending(leader.id)
    bot.api.pending(admin.id)
    at(bot, "2026-12-07")  # Monday
    result = await scheduled_sweep(bot.services, "schedule")
    assert result.ranking and result.calendar_reminder
    await settle(bot)
    ranking = await expect(leader, "办理情况")
    assert "2026年第4季度" in ranking.text and "合计：交办 3 件" in ranking.text and "八仙镇" in ranking.text
    assert "2027" in (await expect(admin, "放假安排")).text
    at(bot, "2026-12-08")
    assert not (await scheduled_sweep(bot.services, "schedule")).ranking


async def test_a_week_whose_monday_was_missed_gets_its_ranking_on_return(bot, http, county):
    leader = county["leader"]
    await two_overdue_letters(bot, http, county)
    await settle(bot)
    bot.api.pending(leader.id)
    at(bot, "2026-12-08")  # Tuesday: the bot was down on Monday
    assert (await scheduled_sweep(bot.services, "schedule")).ranking
    await settle(bot)
    assert "合计：交办 3 件" in (await expect(leader, "办理情况")).text
    at(bot, "2026-12-09")
    assert not (await scheduled_sweep(bot.services, "schedule")).ranking
    at(bot, "2026-12-14")  # the next Monday: the next week's
    assert (await scheduled_sweep(bot.services, "schedule")).ranking


async def test_the_nine_oclock_sweep_waits_out_a_database_outage(bot, http, county, monkeypatch):
    """The JobQueue's own callback: a database that refuses connections at nine delays the day's
    reminders, it does not cancel them."""
    from types import SimpleNamespace

    from sqlalchemy.exc import OperationalError

    from scheduler.jobs import _daily

    ids = await two_overdue_letters(bot, http, county)
    await settle(bot)
    at(bot, "2026-12-10")
    real = bot.services.db.transaction
    refusals = []
    runs_before = await count(bot, SweepRun)

    def flaky():
        if len(refusals) < 2:
            refusals.append(1)
            raise OperationalError("connect", None, ConnectionRefusedError(111, "Connection refused"))
        return real()

    monkeypatch.setattr(bot.services.db, "transaction", flaky)
    await _daily(SimpleNamespace(application=bot.app))
    monkeypatch.setattr(bot.services.db, "transaction", real)
    assert len(refusals) == 2
    assert await count(bot, SweepRun) == runs_before + 1
    await settle(bot)
    assert f"#{ids[0]}" in (await expect(county["a1"], "办理提醒")).text


async def test_a_province_sized_unit_gets_short_messages_that_count_the_rest(bot, county):
    """1,005 overdue letters in one unit: the digest, the 督办, /mine and /overdue each show their
    first few and count the rest, and a digest is recorded against at most REMEMBERED letters."""
    from models.tables import LetterMessage
    from scheduler.digests import LINES, REMEMBERED
    from tests.test_import import csv_bytes

    a1, admin, leader = county["a1"], county["admin"], county["leader"]
    rows = [f"P{i},来信{i},,,,2026-11-02 09:00,,八仙镇,已交办,2026-11-02 10:00,,,," for i in range(1005)]
    admin.send_document(csv_bytes(rows, "utf-8"), "province.csv", "text/csv")
    assert "新导入 1005 件" in (await admin.receive()).text
    for chat in (a1.id, county["group"]["id"], admin.id, leader.id):
        bot.api.pending(chat)

    at(bot, "2026-12-10")
    result = await scheduled_sweep(bot.services, "schedule")
    assert result.letters == 1005 and result.escalated == 1005
    await settle(bot)
    digest = await expect(a1, "办理提醒")
    assert digest.text.count("\n#") == LINES and f"……另有 {1005 - LINES} 件，发送 /mine 查看全部。" in digest.text
    async with bot.services.db.reading() as session:
        recorded = await session.scalar(select(func.count()).select_from(LetterMessage).where(
            LetterMessage.chat_id == a1.id, LetterMessage.purpose == "digest"))
    assert recorded == REMEMBERED
    escalation = await expect(leader, "督办")
    assert escalation.text.count("\n#") == LINES and f"……另有 {1005 - LINES} 件，发送 /overdue 查看全部。" in escalation.text

    a1.send("/mine")
    mine = await expect(a1, "在办信件")
    assert "（1005 件）" in mine.text and mine.text.count("\n#") == 40 and "……另有 965 件。" in mine.text
    admin.send("/overdue 八仙镇")
    overdue = await expect(admin, "超期信件")
    assert "（1005 件）" in overdue.text and overdue.text.count("\n#") == 40 and "……另有 965 件。" in overdue.text


async def test_a_working_weekend_loaded_meanwhile_by_the_command_line_gets_its_sweep(bot, http, county):
    """`python -m bot holidays` runs in a process of its own: the running bot reads the days it
    loaded before deciding whether today is a working day."""
    from models.holidays import save_overrides
    from models.letters import Origin

    at(bot, "2027-02-20")  # a Saturday of a year the official calendar lacks
    assert await scheduled_sweep(bot.services, "schedule") is None
    async with bot.services.db.transaction() as session:  # as the command line stores them
        await save_overrides(session, bot.services.rules, {dt.date(2027, 2, 20): (True, "春节调休上班")}, bot.services.now(), Origin("cli"))
    at(bot, "2027-02-20", "10:00")
    assert await scheduled_sweep(bot.services, "catch-up") is not None


async def test_a_number_before_the_reply_to_a_one_letter_digest_is_not_part_of_the_reply(bot, http, county):
    """A digest asks for "the letter's number and the answer", also when it lists one letter; a
    card asks for the answer alone, so a number there is the answer's own."""
    a1 = county["a1"]
    at(bot, "2026-11-30", "16:00")
    letter = await post_letter(http, external_id="N1", unit="八仙镇", received_at="2026-11-30T15:00:00+08:00")
    card = await expect(a1, f"#{letter['id']}", kind="message")
    at(bot, "2026-12-01")
    await scheduled_sweep(bot.services, "schedule")
    await settle(bot)
    digest = await expect(a1, "未签收")
    a1.send(f"{letter['id']} 已修复", reply_to=digest)
    await expect(a1, "已办结，谢谢")
    other = await post_letter(http, external_id="N2", unit="八仙镇")
    card = await expect(a1, f"#{other['id']}", kind="message")
    a1.send(f"{other['id']} 天内修复完毕", reply_to=card)
    await expect(a1, "已办结，谢谢")
    async with bot.services.db.reading() as session:
        replies = [(await session.get(Letter, letter_id)).reply for letter_id in (letter["id"], other["id"])]
    assert replies == ["已修复", f"{other['id']} 天内修复完毕"]


async def test_a_daily_sweep_that_fails_otherwise_than_by_an_outage_is_tried_again(bot, http, county, monkeypatch):
    """The database locked by a long import at nine (not unreachable): the day's sweep is tried
    again a minute later, not given up until a restart."""
    import sqlite3
    from types import SimpleNamespace

    from scheduler import jobs

    at(bot, "2026-12-02")
    await post_letter(http, external_id="L1", unit="八仙镇")
    real, tries = jobs.scheduled_sweep, []

    async def locked_once(services, trigger):
        tries.append(trigger)
        if len(tries) == 1:
            raise sqlite3.OperationalError("database is locked")
        return await real(services, trigger)

    monkeypatch.setattr(jobs, "scheduled_sweep", locked_once)
    monkeypatch.setattr(jobs, "DAILY_RETRY_SECONDS", 0)
    context = SimpleNamespace(application=bot.app)
    await jobs._daily(context)
    assert tries == ["schedule", "schedule"]
    async with bot.services.db.reading() as session:
        assert await session.get(SweepRun, dt.date(2026, 12, 2)) is not None


async def test_a_quarters_first_ranking_is_the_closed_quarters_and_a_stale_one_is_dropped(bot, http, county):
    """The Monday of a quarter's first week ranks the quarter just closed (its final figures); a
    ranking held over into another week is not sent beside that week's."""
    leader = county["leader"]
    at(bot, "2026-09-28", "10:00")
    await post_letter(http, external_id="Q3", unit="八仙镇", received_at="2026-09-28T09:00:00+08:00")
    await settle(bot)
    bot.api.pending(leader.id)
    at(bot, "2026-10-12")  # after the National Day break: the first working Monday of Q4 falls in its second week
    assert (await scheduled_sweep(bot.services, "schedule")).ranking
    await settle(bot)
    assert "2026年第4季度" in (await expect(leader, "办理情况")).text
    at(bot, "2027-01-04", "21:00")  # a quarter's first week, after hours: queued, held
    async with bot.services.db.transaction() as session:
        await sweep(session, bot.services.rules, bot.services.now(), escalate_after=3)
    at(bot, "2027-01-05")
    await settle(bot)
    first = await expect(leader, "办理情况")
    assert "2026年第4季度" in first.text, first.text  # the closed quarter, with its letter
    at(bot, "2027-01-11", "21:00")
    async with bot.services.db.transaction() as session:
        await sweep(session, bot.services.rules, bot.services.now(), escalate_after=3)
    at(bot, "2027-01-18")  # held over a whole week: dropped, the new week's goes out
    await scheduled_sweep(bot.services, "schedule")
    await settle(bot)
    rankings = [m.text for m in bot.api.pending(leader.id) if "办理情况" in m.text]
    assert len(rankings) == 1 and "2027年第1季度" in rankings[0], rankings
