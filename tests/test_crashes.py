"""The process killed (SIGKILL: no cleanup, no rollback) in the middle of a close, a sweep, a
delivery and an import. Real `python -m bot` processes against the loopback Bot API; the crash
points are models.faults. After each: every change committed once or not at all, every message
sent at least once and a repeat only where Telegram already had it, nothing half-imported."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import func, select, update

from bot.app import build_application, running
from bot.inbox import IN_FLIGHT
from bot.telegram_stand_in import TelegramStandIn
from models import tallies
from models.db import Database
from models.faults import CRASH_ENV
from models.letters import Origin, assign
from models.outbox import ADMINS, MEMBERS, enqueue_notice
from models.tables import InboxUpdate, Letter, LetterEvent, Member, Nudge, Outbox, Unit
from tests.conftest import ADMIN_ID, Clock, make_settings, write_letters_csv

ROOT = Path(__file__).resolve().parent.parent
LIAISON = 610_001


def bot_environment(stand_in: TelegramStandIn, database_url: str, crash_at: str | None = None) -> dict:
    environment = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    environment.update(BOT_TOKEN=stand_in.token, TELEGRAM_API_BASE_URL=stand_in.base_url, DATABASE_URL=database_url,
                       ADMIN_IDS=str(ADMIN_ID), LANGUAGE="zh_CN", TIMEZONE="Asia/Shanghai", INTAKE_TOKEN="", WEBHOOK_URL="")
    if crash_at:
        environment[CRASH_ENV] = crash_at
    return environment


async def start_bot(stand_in, database_url, crash_at=None, *arguments) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *arguments, cwd=ROOT, env=bot_environment(stand_in, database_url, crash_at),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def a_card_for_the_liaison(stand_in, database_url):
    """In this process: the liaison of 八仙镇 has a letter's card, and its message id is stored."""
    app = build_application(make_settings(stand_in, database_url, intake_token=None), clock=Clock())
    services = app.bot_data["services"]
    liaison = stand_in.person(LIAISON, "八仙联络员")
    async with running(app):
        liaison.send("/start")
        await liaison.receive()
        async with services.db.transaction() as session:
            unit_id = await session.scalar(select(Unit.id).where(Unit.name == "八仙镇"))
            session.add(Member(telegram_id=LIAISON, full_name="八仙联络员", role="liaison", unit_id=unit_id))
            letter = Letter(title="村道路灯不亮", content="路灯坏了", received_at=services.now(), tags=[])
            session.add(letter)
            await session.flush()
            await assign(session, services.rules, letter.id, unit_id, Origin("cli"), services.now())
        services.notify()
        card = await liaison.receive()
        for _ in range(40):  # the card's message id is recorded just after it is sent
            await asyncio.sleep(0.05)
            async with services.db.reading() as session:
                if not await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state != "sent", Outbox.state != "failed")):
                    break
        await stand_in.release_pollers()
    stand_in._releasing = False
    return liaison, card, letter.id


async def counts(database_url: str, letter_id: int) -> tuple[str, int]:
    db = Database(database_url)
    async with db.reading() as session:
        status = await session.scalar(select(Letter.status).where(Letter.id == letter_id))
        closes = await session.scalar(select(func.count()).select_from(LetterEvent).where(
            LetterEvent.letter_id == letter_id, LetterEvent.action == "done"))
        assert await tallies.drift(session) == {}
    await db.dispose()
    return status, closes


async def test_killed_while_closing_the_letter_stays_open_and_the_next_close_counts_once(stand_in, database_url):
    liaison, card, letter_id = await a_card_for_the_liaison(stand_in, database_url)
    crashing = await start_bot(stand_in, database_url, "close:decided")
    liaison.send("已修好，感谢来信。", reply_to=card)
    assert await asyncio.wait_for(crashing.wait(), 60) == -signal.SIGKILL
    assert await counts(database_url, letter_id) == ("assigned", 0)

    # Restarted: the reply had been fetched from Telegram (so Telegram will not send it again), but
    # it was stored first and never marked handled, so the bot handles it now, unasked.
    if not database_url.startswith("sqlite"):  # PostgreSQL: replayed once it cannot be another instance's
        db = Database(database_url)
        async with db.transaction() as session:
            await session.execute(update(InboxUpdate).where(InboxUpdate.handled_at.is_(None))
                                  .values(received_at=dt.datetime.now(dt.UTC) - IN_FLIGHT - dt.timedelta(seconds=1)))
        await db.dispose()
    bot = await start_bot(stand_in, database_url)
    try:
        answer = await liaison.receive(timeout=60)
        while "已办结" not in answer.text:
            answer = await liaison.receive(timeout=60)
    finally:
        await stop(bot)
    assert not [u for u in stand_in._updates if "message" in u and u["message"].get("reply_to_message")], "not sent again"
    assert await counts(database_url, letter_id) == ("done", 1)


async def test_killed_after_telegram_took_a_message_it_is_sent_again_never_lost(stand_in, database_url):
    liaison, _, _ = await a_card_for_the_liaison(stand_in, database_url)
    db = Database(database_url)
    async with db.transaction() as session:
        enqueue_notice(session, [LIAISON], MEMBERS, "Letter #{id} is closed. Thank you.", id=4242)
    crashing = await start_bot(stand_in, database_url, "delivery:sent")
    assert await asyncio.wait_for(crashing.wait(), 60) == -signal.SIGKILL
    first = await liaison.receive(timeout=10)
    assert "#4242" in first.text
    async with db.transaction() as session:
        row = (await session.scalars(select(Outbox).where(Outbox.payload["values"]["id"].as_integer() == 4242))).one()
        assert row.state == "sending"
        if not database_url.startswith("sqlite"):  # PostgreSQL: another instance may still hold it, until its lease ends
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(not_before=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    bot = await start_bot(stand_in, database_url)
    try:
        again = await liaison.receive(timeout=60)
        for _ in range(100):
            async with db.reading() as session:
                if await session.scalar(select(Outbox.state).where(Outbox.id == row.id)) == "sent":
                    break
            await asyncio.sleep(0.1)
    finally:
        await stop(bot)
    await db.dispose()
    assert "#4242" in again.text
    assert not stand_in.pending(LIAISON) or all("#4242" not in m.text for m in stand_in.pending(LIAISON))


async def test_killed_in_the_middle_of_the_sweep_nothing_is_half_recorded(stand_in, database_url):
    await a_card_for_the_liaison(stand_in, database_url)
    db = Database(database_url)
    async with db.transaction() as session:  # the letter is long overdue
        await session.execute(update(Letter).values(due_date=dt.date(2020, 1, 6), accept_due=dt.date(2020, 1, 2)))
    crashing = await start_bot(stand_in, database_url, "sweep:decided", "remind")
    assert await asyncio.wait_for(crashing.wait(), 60) == -signal.SIGKILL

    async def recorded() -> tuple[int, int]:
        async with db.reading() as session:
            return (await session.scalar(select(func.count()).select_from(Nudge)),
                    await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "digest")))

    assert await recorded() == (0, 0)
    done = await start_bot(stand_in, database_url, None, "remind")
    assert await asyncio.wait_for(done.wait(), 60) == 0
    nudges, digests = await recorded()
    assert nudges >= 1 and digests == 1
    again = await start_bot(stand_in, database_url, None, "remind")
    assert await asyncio.wait_for(again.wait(), 60) == 0
    assert await recorded() == (nudges, digests)
    await db.dispose()


async def test_killed_in_the_middle_of_an_import_nothing_is_stored_and_a_rerun_stores_all(stand_in, database_url, tmp_path):
    rows = 150_000
    source = tmp_path / "来信.csv"
    write_letters_csv(source, rows, "K")
    db = Database(database_url)
    await db.migrate()
    importing = await start_bot(stand_in, database_url, None, "import", str(source))
    await asyncio.sleep(2.5)  # started, migrated, and well into the rows
    importing.send_signal(signal.SIGKILL)
    await importing.wait()

    async def stored() -> int:
        async with db.reading() as session:
            assert await tallies.drift(session) == {}
            return await session.scalar(select(func.count()).select_from(Letter))

    assert await stored() in (0, rows)
    rerun = await start_bot(stand_in, database_url, None, "import", str(source))
    assert await asyncio.wait_for(rerun.wait(), 300) == 0, (await rerun.stderr.read()).decode()[-2000:]
    assert await stored() == rows
    await db.dispose()


async def test_a_stop_while_messages_go_out_sends_none_twice_and_holds_none_back(stand_in, database_url):
    """A stop (SIGTERM: serve leaves `running`) while Telegram takes a message: that one is
    recorded as sent, the rest of the batch is pending again at once; the next start sends each
    of the rest once and the first never again."""
    from bot.app import services_of
    from tests.conftest import greet

    received: list[str] = []
    stand_in.observers.append(lambda m: received.append(m.text) if m.kind == "message" and "停机测试" in (m.text or "") else None)
    sending = stand_in._m_sendmessage
    taken = asyncio.Event()

    async def slow(params):
        result = await sending(params)  # Telegram has it…
        if "停机测试 1" in params.get("text", ""):
            taken.set()
            await asyncio.sleep(1.0)  # …and its answer is slow to come back
        return result

    stand_in._m_sendmessage = slow
    person = stand_in.person(ADMIN_ID, "王主任")  # a notice is for someone in a role
    settings = make_settings(stand_in, database_url)
    first = build_application(settings, clock=Clock())
    async with running(first):
        await greet(person)
        services = services_of(first)
        async with services.db.transaction() as session:
            for number in (1, 2, 3):
                enqueue_notice(session, [ADMIN_ID], ADMINS, "停机测试 {n}", n=number)
        services.notify()
        await asyncio.wait_for(taken.wait(), 10)
    second = build_application(settings, clock=Clock())
    async with running(second):
        for _ in range(100):
            if len(received) >= 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    assert sorted(received) == ["停机测试 1", "停机测试 2", "停机测试 3"], received
