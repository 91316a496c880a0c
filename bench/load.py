"""`python -m bench.load [--people 50] [--seconds 60]`: many people acting at once against one
instance: liaisons closing letters by reply, leaders asking /rate, admins importing files. Reports
latency percentiles per action, and checks that nothing was lost: every message got its answer, no
handler failed, every closed letter was closed once, the rate tallies agree with the letters."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import random
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.run import ADMIN
from bot.app import build_application, running
from bot.settings import Settings
from bot.telegram_stand_in import TelegramStandIn
from models import tallies
from models.letters import Origin, assign
from models.tables import Letter, LetterEvent, Member, Unit

CARD_MARK = "办结"  # cards carry the 办结 button


@dataclass
class Load:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    asked: int = 0
    answered: int = 0
    errors: list[BaseException] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)

    def percentiles(self) -> dict[str, tuple[int, float, float, float]]:
        found = {}
        for action, samples in self.latencies.items():
            ordered = sorted(samples)
            pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
            found[action] = (len(ordered), statistics.median(ordered) * 1000, pick(0.95), pick(0.99))
        return found


async def answer_with(person, fragment: str, backlog: list, timeout: float = 60) -> None:
    """The next message in the person's chat that contains the fragment; cards and notices that
    arrive in between are kept in the backlog."""
    deadline = time.perf_counter() + timeout
    while True:
        message = await person.receive(timeout=max(0.1, deadline - time.perf_counter()))
        if fragment in message.text:
            return
        backlog.append(message)


def csv_file(admin_index: int, batch: int, rows: int = 20) -> bytes:
    out = io.StringIO()
    out.write("编号,标题,内容,来信时间\n")
    for i in range(rows):
        out.write(f"L{admin_index}-{batch}-{i},负载测试来信{i},内容,2026-11-27 09:00\n")
    return out.getvalue().encode()


async def run_load(people: int = 50, seconds: float = 60, url: str | None = None, seed: int = 3) -> Load:
    rng = random.Random(seed)
    folder = tempfile.mkdtemp()
    url = url or f"sqlite+aiosqlite:///{folder}/load.db"
    api = TelegramStandIn()
    await api.start()
    admins = [ADMIN + i for i in range(max(1, people // 10))]
    leaders = [800_000 + i for i in range(max(1, people // 5))]
    liaisons = [700_000 + i for i in range(max(1, people - len(admins) - len(leaders)))]
    settings = Settings(_env_file=None, bot_token=api.token, telegram_api_base_url=api.base_url, database_url=url,
                        admin_ids=",".join(map(str, admins)), intake_token=None, webhook_url=None, telegram_proxy=None, language="zh_CN")
    app = build_application(settings)
    load = Load()

    async def record_error(update, context) -> None:
        load.errors.append(context.error)

    app.add_error_handler(record_error)
    services = app.bot_data["services"]
    async with running(app):
        cast = {uid: api.person(uid, f"用户{uid}") for uid in admins + leaders + liaisons}
        for person in cast.values():
            person.send("/start")
            await person.receive(timeout=60)
        async with services.db.transaction() as session:
            unit_ids = list((await session.scalars(select(Unit.id).order_by(Unit.position))).all())
            unit_of = {uid: unit_ids[i % len(unit_ids)] for i, uid in enumerate(liaisons)}
            await session.execute(insert(Member.__table__), [
                {"telegram_id": uid, "full_name": f"用户{uid}", "role": "leader" if uid in leaders else "liaison",
                 "unit_id": unit_of.get(uid), "joined_at": services.now()} for uid in leaders + liaisons])
        per_liaison = max(5, int(seconds * 2))
        now = services.now()
        async with services.db.transaction() as session:
            ids = (await session.scalars(insert(Letter).returning(Letter.id), [
                {"title": f"负载{i}", "content": "", "received_at": now, "status": "new", "due_estimated": False,
                 "extensions": 0, "tags": [], "created_at": now, "updated_at": now}
                for i in range(per_liaison * len(set(unit_of.values())))])).all()
        units = sorted(set(unit_of.values()))
        for n, letter_id in enumerate(ids):
            async with services.db.transaction() as session:
                await assign(session, services.rules, letter_id, units[n % len(units)], Origin("cli"), services.now())
        services.notify()

        stop_at = time.perf_counter() + seconds

        backlogs: dict[int, list] = defaultdict(list)

        async def act(person, action: str, send, fragment: str) -> None:
            load.asked += 1
            start = time.perf_counter()
            send()
            await answer_with(person, fragment, backlogs[person.id])
            load.latencies[action].append(time.perf_counter() - start)
            load.answered += 1

        async def liaison_loop(uid: int) -> None:
            person = cast[uid]
            while time.perf_counter() < stop_at:
                try:
                    backlog = backlogs[uid]
                    card = backlog.pop(0) if backlog else await person.receive(timeout=max(1.0, stop_at - time.perf_counter()))
                except AssertionError:  # no card left for this unit
                    return
                if CARD_MARK not in str(card.reply_markup) or card.kind != "message":
                    continue
                letter_id = int(card.buttons[0][1].rsplit(":", 1)[1])
                if letter_id in load.closed:
                    continue  # another liaison of the same unit closed it
                await asyncio.sleep(rng.uniform(0.2, 0.6))  # reading the letter
                await act(person, "close by reply", lambda: person.send("已办结，感谢来信。", reply_to=card), f"#{letter_id} 号信件已办结")
                load.closed.add(letter_id)

        async def leader_loop(uid: int) -> None:
            person = cast[uid]
            while time.perf_counter() < stop_at:
                command = rng.choice(("/rate", "/rate 八仙镇", "/rate 镇"))
                await act(person, "/rate", lambda: person.send(command), "办结")
                await asyncio.sleep(rng.uniform(0.2, 1.0))

        async def admin_loop(index: int, uid: int) -> None:
            person, batch = cast[uid], 0
            while time.perf_counter() < stop_at:
                batch += 1
                content, name = csv_file(index, batch), f"load{index}-{batch}.csv"
                await act(person, "import", lambda: person.send_document(content, name, "text/csv"), f"{name}：新导入")
                await asyncio.sleep(rng.uniform(1.0, 3.0))

        await asyncio.gather(*(liaison_loop(uid) for uid in liaisons), *(leader_loop(uid) for uid in leaders),
                             *(admin_loop(i, uid) for i, uid in enumerate(admins)))
        await api.release_pollers()
        async with services.db.reading() as session:
            load.drift = await tallies.drift(session)
            done_events = dict((await session.execute(
                select(LetterEvent.letter_id, func.count()).where(LetterEvent.action == "done").group_by(LetterEvent.letter_id))).all())
        load.closed_twice = [letter for letter, count in done_events.items() if count > 1]
    await api.stop()
    return load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results.md"), help="appended to; empty: print only")
    args = parser.parse_args(argv)
    started = dt.datetime.now().isoformat(timespec="minutes")
    load = asyncio.run(run_load(args.people, args.seconds))
    lines = ["", f"## Load: {args.people} people for {args.seconds:.0f} s at once (`python -m bench.load`, {started})", "",
             "| action | count | median | p95 | p99 |", "| --- | --- | --- | --- | --- |"]
    for action, (count, median, p95, p99) in sorted(load.percentiles().items()):
        lines.append(f"| {action} | {count} | {median:.0f} ms | {p95:.0f} ms | {p99:.0f} ms |")
    lost = load.asked - load.answered
    lines += ["", f"Messages {load.asked}, answered {load.answered}, lost {lost}; handler errors {len(load.errors)}; "
              f"letters closed twice {len(load.closed_twice)}; rate tallies differing from the letters {len(load.drift)}.",
              "All actions pass through the rate limiter that keeps the bot within Telegram's 30 messages a second."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with Path(args.out).open("a", encoding="utf-8") as handle:
            handle.write(text)
    return 0 if not lost and not load.errors and not load.closed_twice and not load.drift else 1


if __name__ == "__main__":
    raise SystemExit(main())
