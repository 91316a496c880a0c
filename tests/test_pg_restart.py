"""PostgreSQL restarting, and down for seconds, under a running bot: a real `python -m bot` process
on a private PostgreSQL 15 cluster (started for this module, removed after it) and the loopback
Bot API. Updates sent before, while and after the database is away are each handled once (the
state change committed once, the answer sent once, none lost); none is acknowledged to Telegram
before it is stored; a message Telegram took while the database was down is recorded as sent, not
sent again; the poller, the update processing and the delivery loop all outlive the outage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select

from bot.telegram_stand_in import SentMessage, TelegramStandIn
from models import tallies
from models.db import Database
from models.outbox import MEMBERS, enqueue_notice
from models.tables import InboxUpdate, Letter, LetterEvent, Outbox
from tests.conftest import ADMIN_ID, greet
from tests.test_crashes import LIAISON, a_card_for_the_liaison, bot_environment

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PROGRAMS = ("initdb", "pg_ctl", "postgres")
SERVER_USER = "postgres"  # PostgreSQL refuses to run as root


def _missing() -> tuple[str | None, bool]:
    """Why this module cannot run here, and whether that is acceptable under CI (only the server
    binaries being absent is: a CI image without PostgreSQL 15 cannot run it at all)."""
    absent = [name for name in PROGRAMS if not (PG_BIN / name).is_file()]
    if absent:
        return f"PostgreSQL 15 server programs not found in {PG_BIN}: {', '.join(absent)}", True
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root and runuser is not installed (PostgreSQL refuses to run as root)", False
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as", False
    return None, True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL cluster: trust auth, TCP on 127.0.0.1 only, its socket in its own
    directory, no fsync (the OS keeps what a stopped server wrote; commits stay synchronous, as in
    production, so an immediate stop loses nothing that was committed)."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = 0
        self.user = SERVER_USER if os.geteuid() == 0 else None

    def command(self, program: str, *arguments: str) -> list[str]:
        line = [str(PG_BIN / program), *arguments]
        return ["runuser", "-u", self.user, "--", *line] if self.user else line

    def pg_ctl(self, *arguments: str) -> list[str]:
        return self.command("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *arguments)

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def create(self) -> None:
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        subprocess.run(
            self.command("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"),
            cwd=self.root, check=True, capture_output=True, timeout=120,
        )
        for _ in range(5):  # a free port may be taken between the probe and the start
            self.port = free_port()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                           "fsync = off\nfull_page_writes = off\n")
            if subprocess.run(self.pg_ctl("start"), cwd=self.root, capture_output=True, timeout=90).returncode == 0:
                return
        raise RuntimeError(f"the private PostgreSQL did not start: {self.log.read_text(errors='replace')[-2000:]}")

    async def ctl(self, *arguments: str) -> None:
        """pg_ctl without blocking the event loop (the stand-in the bot talks to runs on it)."""
        process = await asyncio.create_subprocess_exec(
            *self.pg_ctl(*arguments), cwd=self.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, f"pg_ctl {' '.join(arguments)}: {output.decode(errors='replace')}"

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self.pg_ctl("stop", "-m", "immediate"), cwd=self.root, capture_output=True, timeout=90)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason, skippable = _missing()
    if reason:
        if os.environ.get("CI") and not skippable:
            pytest.fail(f"{reason}; under CI this test must run")
        pytest.skip(reason)
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="mailbox_pg_restart_")))
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def database(cluster) -> str:
    """A fresh database in the private cluster (the cluster lives for the module)."""
    name = f"mailbox_{os.urandom(6).hex()}"
    admin = await asyncpg.connect(cluster.url("postgres", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return cluster.url(name)


class BotProcess:
    """`python -m bot`, its log read as it comes (a full pipe would stall the bot)."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, stand_in: TelegramStandIn, database_url: str) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=bot_environment(stand_in, database_url),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def _read(self) -> None:
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace").rstrip())

    def tail(self) -> str:
        return "\n".join(self.lines[-60:])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reader, 5)


async def eventually(condition: Callable[[], Awaitable[bool] | bool], what: str | Callable[[], str], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {what() if callable(what) else what}")
        await asyncio.sleep(0.05)


class Telegram:
    """What the stand-in was asked, watched from the test: every getUpdates (its offset, which
    acknowledges what came before it, and whether the database was down at the time), the ids it
    handed out, and calls held until the test lets them through: a notice's sendMessage, and the
    getFile of a file being imported (its handler has read the database, and writes after)."""

    def __init__(self, api: TelegramStandIn):
        self.api = api
        self.database_down = False
        self.polls: list[tuple[int, bool]] = []  # (offset, database down)
        self.fetched: set[int] = set()
        self.hold_text: str | None = None
        self.held = asyncio.Event()
        self.hold_file = False
        self.file_held = asyncio.Event()
        self.release = asyncio.Event()
        get_updates, send_message, get_file = api._m_getupdates, api._m_sendmessage, api._m_getfile

        async def recording_get_updates(params: dict) -> list[dict]:
            self.polls.append((int(params.get("offset", 0) or 0), self.database_down))
            updates = await get_updates(params)
            self.fetched.update(u["update_id"] for u in updates)
            return updates

        async def holding_send_message(params: dict) -> dict:
            if self.hold_text and self.hold_text in str(params.get("text", "")):
                self.hold_text = None
                self.held.set()
                await self.release.wait()
            return await send_message(params)

        async def holding_get_file(params: dict) -> dict:
            if self.hold_file:
                self.hold_file = False
                self.file_held.set()
                await self.release.wait()
            return await get_file(params)

        api._m_getupdates = recording_get_updates  # the instance's own: the stand-in looks methods up by name
        api._m_sendmessage = holding_send_message
        api._m_getfile = holding_get_file

    def unacknowledged(self) -> set[int]:
        return {u["update_id"] for u in self.api._updates}

    def newest_id(self) -> int:
        return self.api._updates[-1]["update_id"]


class Inbox:
    """The liaison's chat as the test reads it: every message kept, in order."""

    def __init__(self, api: TelegramStandIn, chat_id: int):
        self.api, self.chat_id = api, chat_id
        self.messages: list[SentMessage] = []

    def drain(self) -> list[SentMessage]:
        self.messages += self.api.pending(self.chat_id)
        return self.messages

    def count(self, *fragments: str) -> int:
        return sum(1 for m in self.drain() if m.kind == "message" and all(f in m.text for f in fragments))

    async def until(self, count: int, *fragments: str) -> None:
        await eventually(lambda: self.count(*fragments) >= count, lambda: f"{count} messages with {fragments} in {[m.text[:40] for m in self.messages]}")


RATES = "办理情况"
ERROR = "抱歉，系统出错了"


async def queue_notice(db: Database, number: int) -> None:
    async with db.transaction() as session:
        enqueue_notice(session, [LIAISON], MEMBERS, "Letter #{id} is closed. Thank you.", id=number)


async def all_handled(db: Database, telegram: Telegram) -> bool:
    """Every update the bot fetched is stored and marked handled."""
    async with db.reading() as session:
        handled = set((await session.scalars(select(InboxUpdate.update_id).where(InboxUpdate.handled_at.is_not(None)))).all())
    return telegram.fetched <= handled


async def outbox_settled(db: Database) -> bool:
    """Nothing the bot owes anyone right now: no row waiting or being sent (automatic ones are
    held in quiet hours, and none is queued here)."""
    async with db.reading() as session:
        return not await session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.state.in_(("pending", "sending")), Outbox.automatic.is_(False)))


@pytest.mark.parametrize("outage", ["restart", "down"])
async def test_the_database_going_away_under_the_bot_loses_and_doubles_nothing(cluster, database, stand_in, outage):
    liaison, card, letter_id = await a_card_for_the_liaison(stand_in, database)
    telegram = Telegram(stand_in)
    chat, admin = Inbox(stand_in, LIAISON), stand_in.person(ADMIN_ID, "王主任")
    admin_chat = Inbox(stand_in, ADMIN_ID)
    db = Database(database)
    bot = await BotProcess.start(stand_in, database)
    try:
        await eventually(lambda: any("is running" in line for line in bot.lines), "the bot started", 60)
        chat.drain()
        chat.messages.clear()
        admin_chat.drain()
        admin_chat.messages.clear()

        # Before: answers; then, held by Telegram until the database is away, a notice's send and
        # the download of a file being imported.
        await greet(admin)
        liaison.send("/rate")
        await chat.until(1, RATES)
        await eventually(lambda: all_handled(db, telegram), "the first updates marked handled")
        # (Those marks are asynchronous commits; the next, synchronous one flushes them to the log
        # before the server is stopped.)
        telegram.hold_text = "#4242"
        await queue_notice(db, 4242)
        telegram.hold_file = True
        admin.send_document("编号,标题,内容,来信时间\nR-1,停电,村里停电,2026-11-27 09:00\n".encode(), "来信.csv", "text/csv")
        await asyncio.wait_for(asyncio.gather(telegram.held.wait(), telegram.file_held.wait()), 20)

        if outage == "restart":
            # The close and /rate are on their way while the server restarts: whenever the bot
            # gets them, before, during or after, the outcome must be the same.
            liaison.send("已修好，感谢来信。", reply_to=card)
            liaison.send("/rate")
            await cluster.ctl("restart", "-m", "fast")
            telegram.release.set()
        else:
            await cluster.ctl("stop", "-m", "immediate")
            telegram.database_down = True
            telegram.release.set()  # Telegram took the notice; the bot cannot record that yet
            liaison.send("已修好，感谢来信。", reply_to=card)
            close_id = telegram.newest_id()
            liaison.send("/rate")
            rate_id = telegram.newest_id()
            await eventually(lambda: {close_id, rate_id} <= telegram.fetched, "the bot fetched the updates sent while the database is down")
            await asyncio.sleep(3)  # the database stays away a few seconds: the bot keeps polling, delivering, retrying
            assert bot.process.returncode is None, bot.tail()
            assert {close_id, rate_id} <= telegram.unacknowledged(), "acknowledged to Telegram without being stored"
            assert all(offset <= close_id for offset, down in telegram.polls if down), telegram.polls
            await cluster.ctl("start")
            telegram.database_down = False

        # After: the bot answers what came meanwhile and what comes now, and delivers a new notice.
        await chat.until(1, f"#{letter_id} 号信件已办结")
        await chat.until(2, RATES)
        liaison.send("/rate")
        await queue_notice(db, 4343)
        await chat.until(3, RATES)
        await chat.until(1, "#4343")
        await admin_chat.until(1, "来信.csv：新导入 1 件")

        async def settled() -> bool:
            return await all_handled(db, telegram) and not telegram.unacknowledged() and await outbox_settled(db)

        await eventually(settled, "every update stored, handled and acknowledged; the outbox drained")
        assert bot.process.returncode is None, bot.tail()

        # Each once: the close, its answer, each /rate's answer, each notice; no apology for an error.
        assert chat.count(f"#{letter_id} 号信件已办结") == 1, [m.text for m in chat.messages]
        assert chat.count(RATES) == 3, [m.text for m in chat.messages]
        assert chat.count("#4242") == 1 and chat.count("#4343") == 1, [m.text for m in chat.messages]
        assert chat.count(ERROR) == 0, [m.text for m in chat.messages]
        assert admin_chat.count("来信.csv") == 1 and admin_chat.count(ERROR) == 0, [m.text for m in admin_chat.messages]
        if outage == "down":  # the import was cut off by the outage, and done again once it was over
            assert any("handling it again" in line for line in bot.lines), bot.tail()
        async with db.reading() as session:
            assert await session.scalar(select(Letter.status).where(Letter.id == letter_id)) == "done"
            assert await session.scalar(select(func.count()).select_from(LetterEvent).where(
                LetterEvent.letter_id == letter_id, LetterEvent.action == "done")) == 1
            assert await tallies.drift(session) == {}
            assert not await session.scalar(select(func.count()).select_from(InboxUpdate).where(InboxUpdate.handled_at.is_(None)))
            number = Outbox.payload["values"]["id"].as_integer()
            states = dict((await session.execute(select(number, Outbox.state).where(
                Outbox.kind == "notice", number.in_((4242, 4343))))).all())
            assert states == {4242: "sent", 4343: "sent"}, states
            assert not await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == "sending"))
            assert await session.scalar(select(func.count()).select_from(Letter).where(Letter.external_id == "R-1")) == 1
    except BaseException:
        print(bot.tail())  # the bot's own account, shown with the failure
        print("getUpdates (offset, database down):", telegram.polls, "unacknowledged:", telegram.unacknowledged())
        print("liaison saw:", [(m.kind, m.text[:60]) for m in chat.messages], "admin saw:", [(m.kind, m.text[:60]) for m in admin_chat.messages])
        raise
    finally:
        telegram.release.set()
        await stand_in.release_pollers()
        await bot.stop()
        await db.dispose()
