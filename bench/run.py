"""`python -m bench [--letters N] [--repeat R] [--postgres URL]`: every figure next to a baseline
measured in the same run, medians over repeated runs, written to bench/results.md.

Timings on shared machines are noisy, so each figure is also given as a ratio to its baseline."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bench.generate import TZ, fill
from bot.settings import DEFAULT_UNITS_FILE, Settings
from bot.telegram_stand_in import TelegramStandIn
from models.db import Database
from models.stats import Period, quarter_of, report
from models.tables import Letter, Unit

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 900001
TODAY = dt.date.today()


@dataclass
class Figure:
    name: str
    ours: float
    baseline: float | None
    unit: str
    target: str
    met: bool | None  # None: shown for comparison, no target
    note: str = ""

    @property
    def ratio(self) -> str:
        return f"{self.ours / self.baseline:.2f}×" if self.baseline else "—"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def settings_for(api: TelegramStandIn, url: str) -> Settings:
    return Settings(
        _env_file=None, bot_token=api.token, telegram_api_base_url=api.base_url, database_url=url,
        admin_ids=str(ADMIN), intake_token=None, webhook_url=None, telegram_proxy=None, language="zh_CN",
    )


PACE = 0.05  # seconds between questions: latency, not throughput (the bot's rate limiter allows 30 messages a second)


async def round_trips(person, messages: list[str], answer_has: str = "") -> list[float]:
    """From the update entering getUpdates to the first message of the answer arriving."""
    samples = []
    for message in messages:
        await asyncio.sleep(PACE)
        person.api.pending(person.id)  # the rest of a longer answer is not the next one's
        start = time.perf_counter()
        person.send(message)
        answer = await person.receive(timeout=60)
        samples.append(time.perf_counter() - start)
        if answer_has not in answer.text:
            raise AssertionError(f"{message!r} was answered with {answer.text[:80]!r}")
    return samples


@asynccontextmanager
async def echo_bot(rate_limited: bool = False):
    """The baseline: a bare PTB bot that echoes, on the same kind of stand-in; with `rate_limited`
    it has the same AIORateLimiter (Telegram's 30 messages a second) as the bot in service."""
    from telegram.ext import AIORateLimiter, ApplicationBuilder, MessageHandler, filters

    api = TelegramStandIn()
    await api.start()
    builder = ApplicationBuilder().token(api.token).base_url(api.base_url)
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter())
    app = builder.build()

    async def echo(update, context):
        await update.effective_message.reply_text(update.effective_message.text)

    app.add_handler(MessageHandler(filters.ALL, echo))
    await app.initialize()
    await app.updater.start_polling(timeout=10)
    await app.start()
    try:
        person = api.person(ADMIN, "echo")
        await round_trips(person, ["warm up"])
        yield person
    finally:
        await api.release_pollers()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await api.stop()


async def echoes_per_second(count: int, rate_limited: bool) -> float:
    """Messages answered per second, one after another, no pause: the closing benchmark's baseline."""
    async with echo_bot(rate_limited) as person:
        start = time.perf_counter()
        for i in range(count):
            person.send(f"已办结 {i}")
            await person.receive(timeout=60)
        return count / (time.perf_counter() - start)


ANSWER_HAS = {"/rate 八仙镇": "八仙镇 · ", "/rate": "\n1. "}  # the unit's figures; the ranking


async def paired_round_trips(url: str, commands: list[str], repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """Each command's round trips through the bot, each beside one through the bare echo bot (the
    two take turns, so a machine busier at one moment than another weighs on both alike): per
    command, (ours, echo)."""
    from bot.app import build_application, running

    api = TelegramStandIn()
    await api.start()
    app = build_application(settings_for(api, url))
    samples: dict[str, tuple[list[float], list[float]]] = {}
    async with echo_bot() as echo, running(app):
        person = api.person(ADMIN, "王主任")
        await round_trips(person, ["/help"])
        for command in commands:
            await round_trips(person, [command])  # warm the caches once
            ours, base = samples[command] = ([], [])
            for _ in range(repeat):
                base += await round_trips(echo, [command])
                ours += await round_trips(person, [command], answer_has=ANSWER_HAS[command])
        await api.release_pollers()
    await api.stop()
    return samples


HAND_WRITTEN = """
SELECT unit_id, sum(assigned), sum(done), sum(on_time), sum(open),
       sum(CASE WHEN due_date < :today THEN open ELSE 0 END), sum(workdays_sum), sum(workdays_count)
FROM letter_tallies
WHERE day >= :first_day AND day <= :last_day
GROUP BY unit_id
HAVING sum(assigned) > 0
"""

# What the figures would cost without the tallies: the same aggregate over every letter of the period.
OVER_LETTERS = """
SELECT unit_id, sum(CASE WHEN status IN ('assigned', 'accepted', 'done') THEN 1 ELSE 0 END),
       sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END),
       sum(CASE WHEN status = 'done' AND closed_on_time THEN 1 ELSE 0 END),
       sum(CASE WHEN status IN ('assigned', 'accepted') THEN 1 ELSE 0 END),
       sum(CASE WHEN status IN ('assigned', 'accepted') AND due_date < :today THEN 1 ELSE 0 END),
       sum(CASE WHEN status = 'done' THEN handling_workdays END)
FROM letters
WHERE received_at >= :begin AND received_at < :end
GROUP BY unit_id
"""

# The sweep's selection, the other query that reads many letters.
SWEEP_SELECTION = """
SELECT id, unit_id, status, accept_due, due_date FROM letters
WHERE status IN ('assigned', 'accepted') AND unit_id IS NOT NULL ORDER BY due_date, id
"""


async def timed(db: Database, run, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        async with db.reading() as session:
            start = time.perf_counter()
            await run(session)
            samples.append(time.perf_counter() - start)
    return samples


async def query_times(db: Database, period, repeat: int) -> tuple[list[float], list[float], list[float]]:
    """Ours (models.stats.report, as /rate runs it), the hand-written aggregate over the same table,
    and the hand-written aggregate over the letters themselves."""
    begin, end = period.bounds(TZ)
    sqlite_naive = db.engine.dialect.name == "sqlite"
    params = {"today": TODAY, "first_day": period.start, "last_day": period.end,
              "begin": begin.astimezone(dt.UTC).replace(tzinfo=None) if sqlite_naive else begin,
              "end": end.astimezone(dt.UTC).replace(tzinfo=None) if sqlite_naive else end}
    async with db.reading() as session:  # as the bot holds them (Services.unit_rows)
        units = [tuple(u) for u in (await session.execute(
            select(Unit.id, Unit.name, Unit.kind, Unit.position, Unit.valid_from, Unit.valid_to).where(Unit.active))).all()]

    async def ours(session):
        await report(session, period, TZ, TODAY, units)

    async def hand(session):
        (await session.execute(text(HAND_WRITTEN), params)).all()

    async def letters(session):
        (await session.execute(text(OVER_LETTERS), params)).all()

    # Ours and the hand-written aggregate take turns, as the round trips do, on the same connection
    # (each connection has its own prepared statements on PostgreSQL), each going first every other
    # time; the count over the letters, an illustration, runs after.
    samples: tuple[list[float], list[float]] = ([], [])
    for round_ in range(repeat):
        pairs = list(zip(samples, (ours, hand), strict=True))
        async with db.reading() as session:
            for taken, run in pairs if round_ % 2 == 0 else reversed(pairs):
                start = time.perf_counter()
                await run(session)
                taken.append(time.perf_counter() - start)
    return samples[0], samples[1], await timed(db, letters, repeat)


async def plans(db: Database) -> str:
    period = quarter_of(TODAY)
    params = {"today": TODAY, "first_day": period.start, "last_day": period.end}
    explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    found = []
    async with db.reading() as session:
        for label, query in (("the rates aggregate (one quarter)", HAND_WRITTEN), ("the sweep's selection", SWEEP_SELECTION)):
            rows = (await session.execute(text(explain + query), params)).all()
            found.append(f"{label}:\n```\n" + "\n".join(" ".join(str(c) for c in row) for row in rows) + "\n```")
    return "\n".join(found)


async def report_time(db: Database, repeat: int) -> tuple[float, dict[str, float], float]:
    """/report's work, `repeat` times: the median total and parts, and the first (cold) total, which
    also pays for loading matplotlib and the fonts, once per process."""
    from bot.report_files import chart_bytes, notice_paragraph, workbook_bytes
    from locales import Translator
    from models.notice import notice

    t = Translator("zh_CN")
    totals: list[float] = []
    parts: dict[str, list[float]] = {"figures and topics": [], "paragraph": [], "XLSX": [], "chart": []}
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        async with db.reading() as session:
            facts = await notice(session, quarter_of(TODAY), TZ, TODAY)
        parts["figures and topics"].append(time.perf_counter() - start)
        mark = time.perf_counter()
        notice_paragraph(facts, t)
        parts["paragraph"].append(time.perf_counter() - mark)
        mark = time.perf_counter()
        workbook_bytes(facts, t, TODAY)
        parts["XLSX"].append(time.perf_counter() - mark)
        mark = time.perf_counter()
        chart_bytes(facts, t)
        parts["chart"].append(time.perf_counter() - mark)
        totals.append(time.perf_counter() - start)
    return statistics.median(totals), {k: statistics.median(v) for k, v in parts.items()}, totals[0]


def write_import_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["编号", "标题", "内容", "来信时间", "办理单位", "交办时间", "办结时间", "答复内容"])
        for i in range(rows):
            day = 1 + i % 28
            writer.writerow([f"I{i}", f"标题{i}", f"内容{i}", f"2019-02-{day:02d} 09:00", "八仙镇", f"2019-02-{day:02d} 10:00", "2019-03-01 10:00", "已办"])


@dataclass
class ImportTimes:
    """Seconds, one per turn: the command, the bare insert beside it, and the figures that show
    where the command's time goes."""
    ours: list[float]
    bare: list[float]
    stored: list[float]  # the database alone, writing what the command stored (see _write_stored)
    driver: list[float]  # the same through Python's driver, the letters row by row (see _write_through_driver)
    start: list[float]  # the command with a one-row file: starting, opening the database, exiting


def import_rate(folder: Path, rows: int, pairs: int) -> ImportTimes:
    """`python -m bot import` (a real process, each time on a fresh database) against a bare
    sqlite3 executemany of the same rows into the same table, taking turns; and, to show where the
    floor is, the database writing by itself exactly what the command stored."""
    source, one = folder / "import.csv", folder / "one.csv"
    write_import_csv(source, rows)
    write_import_csv(one, 1)
    empty = folder / "empty.db"  # migrated once, copied for every run
    env = {**os.environ, "BOT_TOKEN": "123:" + "a" * 30}
    subprocess.run([sys.executable, "-m", "bot", "units"], env={**env, "DATABASE_URL": f"sqlite+aiosqlite:///{empty}"},
                   cwd=ROOT, check=True, capture_output=True)

    def fresh(name: str) -> Path:
        path = folder / name
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(empty, path)
        return path

    def command(database: Path, file: Path) -> float:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bot", "import", str(file)], env={**env, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
                              cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return elapsed

    times = ImportTimes([], [], [], [], [])
    for _ in range(pairs):
        times.start.append(command(fresh("one.db"), one))
        times.ours.append(command(fresh("import.db"), source))
        times.bare.append(_bare_insert(fresh("bare.db"), source))
        times.stored.append(_write_stored(folder / "import.db", fresh("stored.db")))
        times.driver.append(_write_through_driver(folder / "import.db", fresh("driver.db")))
    return times


def _bare_insert(database: Path, source: Path) -> float:
    with source.open(encoding="utf-8") as handle, sqlite3.connect(database) as connection:
        reader = csv.reader(handle)
        next(reader)
        start = time.perf_counter()
        connection.executemany(
            "INSERT INTO letters (external_id, title, content, received_at, unit_id, assigned_at, done_at, reply, status,"
            " tags, due_estimated, extensions, created_at, updated_at) VALUES (?, ?, ?, ?, 8, ?, ?, ?, 'done', '[]', 0, 0, ?, ?)",
            ((r[0], r[1], r[2], r[3], r[5], r[6], r[7], r[3], r[3]) for r in reader),
        )
        connection.commit()
        elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def _write_stored(imported: Path, database: Path) -> float:
    """The rows the command stored (every column of the letters, their history events and rate
    tallies) copied by the database itself from the imported file into the same tables, in one
    transaction: no Python between the two, no reading, checking or computing. The command cannot
    write them faster than this, nor finish sooner than this after its start."""
    with sqlite3.connect(database, isolation_level=None) as connection:
        connection.execute("ATTACH DATABASE ? AS imported", (str(imported),))
        start = time.perf_counter()
        connection.execute("BEGIN")
        for table in ("letters", "letter_events", "letter_tallies"):
            # "WHERE true": row by row, as any insert of new rows; a bare copy between tables of one
            # shape would move whole pages (SQLite's transfer optimization).
            connection.execute(f"INSERT INTO main.{table} SELECT * FROM imported.{table} WHERE true")  # noqa: S608
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def _write_through_driver(imported: Path, database: Path) -> float:
    """What the command stored, written as a Python program writes it: the letters (every column,
    values as the command sends them) bound and stepped row by row through Python's sqlite3, as the
    bare insert does; their history and tallies by the database itself, as the command builds them
    (INSERT … SELECT). No reading, checking or computing: with the command's start, the most any
    import of these rows through the driver could reach."""
    with sqlite3.connect(imported) as source:
        letters = source.execute("SELECT * FROM letters ORDER BY id").fetchall()
    source.close()
    with sqlite3.connect(database, isolation_level=None) as connection:
        connection.execute("ATTACH DATABASE ? AS imported", (str(imported),))
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO main.letters VALUES ({', '.join('?' * len(letters[0]))})", letters)  # noqa: S608
        for table in ("letter_events", "letter_tallies"):
            connection.execute(f"INSERT INTO main.{table} SELECT * FROM imported.{table} WHERE true")  # noqa: S608
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


async def sweep_time(url: str, units: int, letters: int, repeat: int = 1) -> tuple[float, int, int]:
    """Deciding and queueing the morning sweep over `letters` open, overdue letters: the median of
    `repeat` sweeps, each deciding afresh (all but the last rolled back)."""
    from bot.runtime import rules_from
    from models.tables import Member, Outbox
    from scheduler.sweep import sweep

    db = Database(url)
    await db.migrate()
    async with db.transaction() as session:
        await session.execute(insert(Unit.__table__), [
            {"name": f"单位{i}", "kind": "town" if i % 3 else "department", "aliases": [], "keywords": [], "places": [], "position": i, "active": True}
            for i in range(units)
        ])
    async with db.reading() as session:
        unit_ids = list((await session.scalars(select(Unit.id))).all())
    async with db.transaction() as session:
        await session.execute(insert(Member.__table__), [
            {"telegram_id": 10_000 + i, "full_name": f"联络员{i}", "role": "liaison", "unit_id": unit_id, "joined_at": dt.datetime.now(dt.UTC)}
            for i, unit_id in enumerate(unit_ids)
        ])
        now = dt.datetime.now(dt.UTC)
        await session.execute(insert(Letter.__table__), [
            {"title": f"t{i}", "content": "", "received_at": now - dt.timedelta(days=40), "status": "assigned",
             "unit_id": unit_ids[i % len(unit_ids)], "assigned_at": now - dt.timedelta(days=40),
             "accept_due": TODAY - dt.timedelta(days=30), "due_date": TODAY - dt.timedelta(days=20),
             "due_estimated": False, "extensions": 0, "tags": [], "created_at": now, "updated_at": now}
            for i in range(letters)
        ])
    settings = Settings(_env_file=None, bot_token="1:" + "a" * 30, database_url=url)
    rules = rules_from(settings)
    samples = []
    for attempt in range(repeat):
        keep = attempt == repeat - 1  # the others are rolled back, so each sweep finds the same letters
        start = time.perf_counter()
        async with db.sessions() as session:
            async with session.begin() as transaction:
                result = await sweep(session, rules, dt.datetime.now(dt.UTC), escalate_after=3)
                if not keep:
                    await transaction.rollback()
        samples.append(time.perf_counter() - start)
    elapsed = statistics.median(samples)
    async with db.reading() as session:
        digests = await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "digest"))
    await db.dispose()
    return elapsed, result.digests, digests


async def closes_per_second(url: str, count: int, rate_limited: bool = True) -> float:
    """Liaisons closing letters by replying to their cards, one after another. With the rate
    limiter (as in service) Telegram's 30 messages a second bound it: each close sends the answer,
    the card edits and the admins' notice."""
    from bot.app import build_application, running
    from models.letters import Origin, assign
    from models.tables import Member

    api = TelegramStandIn()
    await api.start()
    app = build_application(settings_for(api, url), rate_limited=rate_limited)
    services = app.bot_data["services"]
    async with running(app):
        liaison = api.person(777, "八仙联络员")
        liaison.send("/start")
        await liaison.receive()
        async with services.db.transaction() as session:
            session.add(Member(telegram_id=777, full_name="八仙联络员", role="liaison", unit_id=8))
            now = services.now()
            ids = (await session.scalars(insert(Letter).returning(Letter.id), [
                {"title": f"待办{i}", "content": "", "received_at": now, "status": "new", "due_estimated": False,
                 "extensions": 0, "tags": [], "created_at": now, "updated_at": now} for i in range(count)
            ])).all()
        for letter_id in ids:
            async with services.db.transaction() as session:
                await assign(session, services.rules, letter_id, 8, Origin("cli"), services.now())
        services.notify()
        cards = [await liaison.receive(timeout=60) for _ in ids]
        start = time.perf_counter()
        for card in cards:
            liaison.send("已办结，感谢来信。", reply_to=card)
            while "谢谢" not in (await liaison.receive(timeout=60)).text:
                pass
        elapsed = time.perf_counter() - start
        await api.release_pollers()
    await api.stop()
    return count / elapsed


def peak_rss_after_report(url: str) -> float:
    """In a fresh process: the bot answers /report; its peak resident memory, in MB."""
    done = subprocess.run([sys.executable, "-m", "bench.rss", url], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


async def postgres_database(admin_url: str) -> str:
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin_url)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def drop_postgres_database(admin_url: str, url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await connection.close()


async def settle(db: Database) -> None:
    """After the bulk load, what a database in service has had long since: on PostgreSQL a VACUUM
    ANALYZE, which autovacuum would otherwise run in the middle of the measurements (competing for
    the cores, and leaving index-only scans to visit the table meanwhile), and a CHECKPOINT, so the
    gigabyte the load dirtied is not being written out under them (it made every round trip a
    third slower); on SQLite the statistics the bot refreshes at every start, and the file synced
    to disk (the generator writes it without a journal or syncing, and the system writing out its
    gigabyte in the background slowed the first measurements in the same way)."""
    if db.engine.dialect.name == "postgresql":
        async with db.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE")
            await connection.exec_driver_sql("CHECKPOINT")
    else:
        await db.tune()
        database = db.engine.url.database
        if database and database != ":memory:":
            with open(database, "rb") as handle:
                await asyncio.to_thread(os.fsync, handle.fileno())


async def measure(letters: int, repeat: int, postgres: str | None, folder: Path) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    backends = [("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db")]
    if postgres:
        backends.append(("PostgreSQL", await postgres_database(postgres)))
    for label, url in backends:
        db = Database(url)
        start = time.perf_counter()
        await fill(db, DEFAULT_UNITS_FILE, letters, today=TODAY)
        generated = time.perf_counter() - start
        # The target is for a million letters; a smaller run scales it down.
        limit = 60 * letters / 1_000_000
        figures.append(Figure(f"generating {letters:,} letters ({label})", generated, None, "s",
                              f"< {limit:g} s", generated < limit if letters >= 100_000 else None))
        await settle(db)
        samples = await paired_round_trips(url, ["/rate 八仙镇", "/rate"], repeat)
        for command, (taken, echo) in samples.items():
            ours, base = median_ms(taken), median_ms(echo)
            figures.append(Figure(f"{command} round trip ({label})", ours, base, "ms", "≤ 3× echo and < 50 ms", ours <= 3 * base and ours < 50))
        for name, period in (("one quarter", quarter_of(TODAY)), ("all time", Period(TODAY - dt.timedelta(days=365 * 9), TODAY))):
            ours, hand, over_letters = await query_times(db, period, repeat)
            o, h, w = median_ms(ours), median_ms(hand), median_ms(over_letters)
            figures.append(Figure(f"statistics query, {name} ({label})", o, h, "ms", "≤ 1.5× hand-written SQL", o <= 1.5 * h))
            figures.append(Figure(f"… the same figures counted from the letters ({label})", w, o, "ms", "— (why the tallies)", None))
        notes.append(f"{label} plans:\n{await plans(db)}")
        if label == "SQLite":
            total, parts, cold = await report_time(db, min(repeat, 5))
            figures.append(Figure("/report for a quarter (paragraph, XLSX, chart)", total * 1000, None, "ms", "< 3000 ms", total < 3,
                                  ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
                                  + f" (medians; the first, cold, {cold * 1000:.0f} ms)"))
            rss = peak_rss_after_report(url)
            figures.append(Figure("peak RSS of the bot after /report", rss, None, "MB", "< 250 MB", rss < 250))
        await db.dispose()
        if label == "PostgreSQL":
            await drop_postgres_database(postgres, url)
    rows = min(100_000, max(letters // 10, 2_000))
    times = import_rate(folder, rows, max(1, min(repeat, 5)))
    ours, bare, stored, driver = (rows / statistics.median(t) for t in (times.ours, times.bare, times.stored, times.driver))
    start = statistics.median(times.start)
    figures.append(Figure("import through `python -m bot import`", ours, bare, "rows/s", "≥ 20,000 rows/s and ≥ 0.5× bare", ours >= 20_000 and ours >= 0.5 * bare,
                          f"medians of {len(times.ours)} turns; the command with a one-row file (start, migrate check, exit) {start * 1000:.0f} ms"))
    figures.append(Figure("… the database alone writing what the import stored (letters with every column, their history, tallies)", stored, bare, "rows/s",
                          "— (the floor)", None, "copied row by row inside SQLite, no Python between"))
    figures.append(Figure("… the command's start, then that writing, with no reading or checking", rows / (start + rows / stored), bare, "rows/s",
                          "— (the ceiling)", None))
    figures.append(Figure("… the same rows stored through the driver (the letters bound row by row, as the bare insert does; history and tallies by the database)",
                          driver, bare, "rows/s", "— (the floor through Python)", None, "executemany, no reading or checking"))
    figures.append(Figure("… the command's start, then that writing through the driver, with no reading or checking", rows / (start + rows / driver), bare, "rows/s",
                          "— (the ceiling through Python)", None))
    open_letters = min(100_000, max(letters // 10, 2_000))
    for units in (36, 3_600):
        sweeps = max(1, min(repeat, 5))
        elapsed, decided, queued = await sweep_time(f"sqlite+aiosqlite:///{folder}/sweep{units}.db", units, open_letters, sweeps)
        figures.append(Figure(f"sweep, {open_letters:,} open letters, {units:,} units", elapsed * 1000, None, "ms",
                              "< 2000 ms for 36 units; one digest per unit", decided == queued == min(units, open_letters) and (units != 36 or elapsed < 2),
                              f"median of {sweeps}; {queued} digests queued, one per unit"))
    close_count = min(200, max(letters // 100, 20))
    for limited, label in ((True, "both with Telegram's rate limits, as in service"), (False, "both without the rate limiter")):
        closes = await closes_per_second(f"sqlite+aiosqlite:///{folder}/close{int(limited)}.db", close_count, limited)
        echoes = await echoes_per_second(close_count, limited)
        figures.append(Figure(f"closing by reply, sequentially ({label})", closes, echoes, "per s",
                              "≥ 0.3× echo" if limited else "— (capacity, see below)", closes >= 0.3 * echoes if limited else None))
    notes.append(
        "Closing by reply: each close sends the answer, refreshes the card and tells the admins, and all of it goes "
        "through the rate limiter that keeps the bot within Telegram's 30 messages a second, as an echo bot in service "
        "must too; the target row compares the two under the same limits. Without the limiter the figure is the bot's "
        "own capacity (three transactions and the outbox's claim, render and finish per close, on one event loop)."
    )
    return figures, notes


def write_results(figures: list[Figure], notes: list[str], letters: int, repeat: int, path: Path) -> str:
    machine = f"{platform.node()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()} · {dt.datetime.now().isoformat(timespec='minutes')}"
    lines = [
        "# Benchmark results", "",
        f"`python -m bench --letters {letters} --repeat {repeat}` on {machine}.", "",
        "| figure | ours | baseline | ratio | target | met | machine | where the time goes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    host = f"{platform.node()}, {os.cpu_count()} cores"
    for f in figures:
        base = f"{f.baseline:,.1f} {f.unit}" if f.baseline else "—"
        met = "—" if f.met is None else "yes" if f.met else "**no**"
        lines.append(f"| {f.name} | {f.ours:,.1f} {f.unit} | {base} | {f.ratio} | {f.target} | {met} | {host} | {f.note} |")
    lines += ["", *notes, ""]
    text_out = "\n".join(lines)
    path.write_text(text_out, encoding="utf-8")
    return text_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"), help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        figures, notes = asyncio.run(measure(args.letters, args.repeat, args.postgres, Path(folder)))
    print(write_results(figures, notes, args.letters, args.repeat, args.out))
    return 0 if all(f.met is not False for f in figures) else 1
