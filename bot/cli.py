"""`python -m bot [verb]`: run the bot (the default), and the operators' verbs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.logs import configure_logging, hide_secrets, redact, secrets_of
from bot.settings import Settings, SettingsError, configured_language, database_url, load_settings
from locales import Translator
from locales.arguments import localise, speaking
from models.db import Database
from models.units import UnitsFileError

log = logging.getLogger("bot")


def parser(t: Translator) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bot", description=t("Leader mailbox bot"))
    verbs = root.add_subparsers(dest="verb")
    verbs.add_parser("run", help=t("run the bot (the default)"))
    verbs.add_parser("units", help=t("list the units and their liaisons"))
    invite = verbs.add_parser("invite", help=t("make a one-time invitation link"))
    invite.add_argument("who", help=t("a unit, leader or admin"))
    importer = verbs.add_parser("import", help=t("import letters from a CSV or XLSX file"))
    importer.add_argument("file", type=Path, help=t("the file to import"))
    verbs.add_parser("remind", help=t("run the reminder sweep now"))
    report = verbs.add_parser("report", help=t("the quarterly notice, with its XLSX table and chart"))
    report.add_argument("--period", default="", help=t("e.g. 2019Q1, 2019-03, 本季度 (default: the current quarter)"))
    report.add_argument("--out", type=Path, default=Path("reports"), help=t("where to write the files (default: ./reports)"))
    rate = verbs.add_parser("rate", help=t("handling rates, as /rate shows them"))
    rate.add_argument("unit", nargs="*", help=t("a unit, 镇 or 部门 (default: all)"))
    rate.add_argument("--period", default="", help=t("e.g. 2019Q1, 2019-03, 本季度 (default: the current quarter)"))
    holidays = verbs.add_parser("holidays", help=t("load working days and days off from the State Council's holiday notice"))
    holidays.add_argument("file", type=Path, help=t("lines of date,working|off,note"))
    move = verbs.add_parser("migrate-to", help=t("copy all data into another database, e.g. PostgreSQL"))
    move.add_argument("url", help=t("the new database, e.g. postgresql+asyncpg://user:password@host/mailbox"))
    backup = verbs.add_parser("backup", help=t("write a consistent copy of the database while the bot runs"))
    backup.add_argument("file", type=Path, help=t("where to write the copy"))
    verbs.add_parser("demo", help=t("play the county's first quarter offline, on a simulated clock"))
    return root


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None  # not called by another program, which goes on after
    configure_logging()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:  # needs no token, no .env and no network
        from bot.demo import main as demo

        return demo(argv[1:])
    # --help and arguments argparse refuses are answered before the settings are needed, in
    # LANGUAGE as the settings would read it (the environment, then .env).
    t = Translator(configured_language())
    with speaking(t.language):
        args = localise(parser(t), t).parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        for line in exc.lines(t):
            print(line, file=sys.stderr)
        return 2
    hide_secrets(*secrets_of(settings))
    t = Translator(settings.language)
    verb = args.verb or "run"
    try:
        if verb == "run":
            from bot.app import serve

            asyncio.run(serve(settings))
            return 0
        if verb == "units":
            return asyncio.run(_units(settings, t))
        if verb == "invite":
            return asyncio.run(_invite(settings, t, args.who))
        if verb == "import":
            code = asyncio.run(_import(settings, t, args.file))
            if from_command_line:
                # The process ends next, its database closed and its output written. Python's last
                # collection would walk every object the import left (most of half a second after
                # 100,000 rows); frozen, they are left to the exit.
                gc.freeze()
            return code
        if verb == "rate":
            return asyncio.run(_rate(settings, t, " ".join(args.unit), args.period))
        if verb == "remind":
            return asyncio.run(_remind(settings, t))
        if verb == "report":
            return asyncio.run(_report(settings, t, args.period, args.out))
        if verb == "holidays":
            return asyncio.run(_holidays(settings, t, args.file))
        if verb == "migrate-to":
            return asyncio.run(_migrate_to(settings, t, args.url))
        if verb == "backup":
            return _backup(settings, t, args.file)
    except UnitsFileError as exc:
        print(t("The units file is not usable: {error}", error=t.refusal(exc)), file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as exc:
        print(t("Cannot reach the database or Telegram: {error}", error=redact(str(exc))), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _from_telegram(exc):
            raise  # a defect: its traceback, scrubbed of secrets (bot.logs)
        # A token Telegram refuses, or Telegram out of reach at start: one line, never the token.
        print(t("Telegram refused the bot or could not be reached: {error}", error=redact(str(exc))), file=sys.stderr)
        return 3
    return 0


def _from_telegram(exc: BaseException) -> bool:
    """Is it python-telegram-bot's error? (Asked without loading the library for verbs that do not.)"""
    errors = sys.modules.get("telegram.error")
    return errors is not None and isinstance(exc, errors.TelegramError)


async def _migrate_to(settings: Settings, t: Translator, url: str) -> int:
    from bot.migrate_to import MigrateError, migrate_to

    try:
        url = database_url(url)
    except ValueError:
        print(t("Nothing was copied: {url} is not a database the bot can use. Give sqlite+aiosqlite:///path/to/mailbox.db or postgresql+asyncpg://user:password@host/database.", url=url), file=sys.stderr)
        return 2
    services = await _open_database(settings)
    try:
        copied = await migrate_to(services.db, url)
    except MigrateError as exc:
        print(t("Nothing was copied: {error}", error=t(exc.message, **exc.values)), file=sys.stderr)
        return 3
    finally:
        await services.db.dispose()
    for table, count in copied.items():
        print(f"{table}\t{count}")
    print(t("Copied. Stop the bot, set DATABASE_URL to the new database, start the bot."))
    return 0


def _backup(settings: Settings, t: Translator, path: Path) -> int:
    from bot.backup import BackupError, backup

    try:
        made = backup(settings.database_url, path)
    except BackupError as exc:
        print(t("No backup was written: {error}", error=t(exc.message, **exc.values)), file=sys.stderr)
        return 3
    if made.letters is None:
        print(t("Backup written to {path} ({size} bytes).", path=made.path, size=made.size))
    else:
        print(t("Backup written to {path} ({size} bytes, {letters} letters).", path=made.path, size=made.size, letters=made.letters))
    return 0


def _unit(services, t: Translator, text: str):
    """The one unit the text names, or None after saying why on stderr (the terminal has no
    buttons to ask with)."""
    resolution = services.resolver.resolve(text)
    if resolution.unit is None:
        names = "、".join(u.name for u in resolution.matches)
        print(t("“{query}” fits {count} units: {names}. Be more precise.", query=text, count=len(resolution.matches), names=names)
              if resolution.ambiguous else t("No unit matches “{query}”.", query=text), file=sys.stderr)
    return resolution.unit


def _today(settings: Settings):
    import datetime as dt

    return dt.datetime.now(settings.tz).date()


def _period(t: Translator, text: str, today, *, among_words: bool = False):
    """The period typed (`among_words`: the unit's words and the period, as
    `models.periods.split_period` takes them), checked before the database is opened (and
    migrated) for nothing; None after saying what is not a period."""
    from models.periods import EXAMPLES, PeriodError, parse_period, split_period

    try:
        return split_period(text, today) if among_words else parse_period(text, today)
    except PeriodError as exc:
        print(t(PeriodError.message, text=str(exc) if among_words else text, examples=EXAMPLES), file=sys.stderr)
        return None


async def _open_database(settings: Settings, *, routing: bool = True):
    from bot.runtime import Services, prepare_database

    services = Services(settings=settings, db=Database(settings.database_url, settings.tz))
    await prepare_database(services, routing=routing)
    return services


async def _units(settings: Settings, t: Translator) -> int:
    from handlers.units import unit_lines
    from models.units import units_with_liaisons

    services = await _open_database(settings)
    try:
        async with services.db.transaction() as session:
            listing = await units_with_liaisons(session, _today(settings))
    finally:
        await services.db.dispose()
    for line in unit_lines(listing, t, html=False):
        print(line)
    return 0


async def _invite(settings: Settings, t: Translator, who: str) -> int:
    from handlers.invite import ROLE_WORDS
    from models.people import create_invitation
    from models.tables import Role

    services = await _open_database(settings)
    try:
        role, unit = ROLE_WORDS.get(who.lower()), None
        if role is None:
            unit = _unit(services, t, who)
            if unit is None:
                return 2
            role = Role.LIAISON
        async with services.db.transaction() as session:
            code = await create_invitation(session, role, None, services.now(), unit.id if unit else None)
    finally:
        await services.db.dispose()
    username = await _bot_username(settings)
    if username:
        print(f"https://t.me/{username}?start={code}")
    else:
        print(t("Telegram could not be reached to learn the bot's name. The person should send this to the bot: /start {code}", code=code))
    return 0


async def _import(settings: Settings, t: Translator, path: Path) -> int:
    """Exit 0 when the file was imported, 1 when it was refused (nothing stored)."""
    from models.importer import import_file, report_lines
    from models.letters import Origin

    if not path.is_file():
        print(t("No such file: {file}", file=path), file=sys.stderr)
        return 2
    services = await _open_for_import(settings)
    try:
        async with services.db.transaction() as session:
            report = await import_file(
                session, services.rules, path, Origin("cli"), services.now(),
                tz=settings.tz, resolver=services.resolver,
            )
        await services.db.tune()
    finally:
        await services.db.dispose()
    for line in report_lines(report, t):
        print(line, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


async def _open_for_import(settings: Settings):
    """`_open_database` for the import verb: no routing profiles (an import does not route), and
    nothing of bot.app, which loads Telegram's library and every handler (the report code with
    openpyxl among them): most of a second of a large import's time, before the first row."""
    return await _open_database(settings, routing=False)


async def _rate(settings: Settings, t: Translator, target: str, period_text: str) -> int:
    from handlers.rates import GROUP_WORDS, rate_lines
    from models.stats import report

    today = _today(settings)
    if period_text:
        period = _period(t, period_text, today)
    else:  # `rate 八仙镇 2019Q1`: the period among the words, as /rate takes it
        split = _period(t, target, today, among_words=True)
        if split is None:
            return 2
        target, period = split
    if period is None:
        return 2
    services = await _open_database(settings)
    try:
        unit_id, kind = None, GROUP_WORDS.get(target.lower()) if target else None
        if target and kind is None:
            unit = _unit(services, t, target)
            if unit is None:
                return 2
            unit_id = unit.id
        async with services.db.reading() as session:
            result = await report(session, period, settings.tz, today, services.unit_rows())
    finally:
        await services.db.dispose()
    for line in rate_lines(result, t, today, unit_id=unit_id, kind=kind):
        print(line)
    return 0


async def _report(settings: Settings, t: Translator, period_text: str, out: Path) -> int:
    from bot.report_files import chart_bytes, notice_paragraph, workbook_bytes
    from models.notice import notice

    today = _today(settings)
    period = _period(t, period_text, today)
    if period is None:
        return 2
    services = await _open_database(settings)
    try:
        async with services.db.reading() as session:
            facts = await notice(session, period, settings.tz, today)
    finally:
        await services.db.dispose()
    out.mkdir(parents=True, exist_ok=True)
    name = t("leader-mailbox-{start}-{end}", start=period.start.isoformat(), end=period.end.isoformat())
    paragraph = notice_paragraph(facts, t)
    (out / f"{name}.txt").write_text(paragraph + "\n", encoding="utf-8")
    (out / f"{name}.xlsx").write_bytes(workbook_bytes(facts, t, today))
    (out / f"{name}.png").write_bytes(chart_bytes(facts, t))
    print(paragraph)
    for suffix in ("txt", "xlsx", "png"):
        print(out / f"{name}.{suffix}")
    return 0


async def _remind(settings: Settings, t: Translator) -> int:
    """Queues the digests; the running bot delivers them (it reads the same outbox)."""
    from handlers.reminders import sweep_summary
    from scheduler.jobs import run_sweep

    services = await _open_database(settings)
    try:
        result = await run_sweep(services, automatic=False)
    finally:
        await services.db.dispose()
    print(sweep_summary(result, t))
    return 0


async def _holidays(settings: Settings, t: Translator, path: Path) -> int:
    from handlers.reminders import calendar_lines, recount_lines
    from models.holidays import override_years, overruled_overrides, save_overrides
    from models.letters import Origin
    from scheduler.workdays import OverrideFileError, read_override_file

    if not path.is_file():
        print(t("No such file: {file}", file=path), file=sys.stderr)
        return 2
    try:
        days = read_override_file(path)
    except OverrideFileError as exc:
        print(t("{file} was not loaded: {reason}.", file=path.name, reason=t(exc.message, **exc.values)), file=sys.stderr)
        return 1
    services = await _open_database(settings)
    try:
        async with services.db.transaction() as session:
            loaded = await save_overrides(session, services.rules, days, services.now(), Origin("cli"))
            years = await override_years(session)
            overruled = await overruled_overrides(session)
    finally:
        await services.db.dispose()
    print(t.ngettext("{count} day loaded.", "{count} days loaded.", loaded.days, count=loaded.days))
    for day in loaded.overruled:
        working = days[day][0]
        print(t("{date} is a working day now, overruling the official calendar.", date=day.isoformat()) if working
              else t("{date} is a day off now, overruling the official calendar.", date=day.isoformat()))
    if loaded.agreeing:
        print(t.ngettext(
            "{count} day says what the official calendar says and changes nothing: {dates}.",
            "{count} days say what the official calendar says and change nothing: {dates}.",
            len(loaded.agreeing), count=len(loaded.agreeing), dates=" ".join(day.isoformat() for day in loaded.agreeing),
        ))
    for line in recount_lines(loaded.recounted, t):
        print(line)
    for line in calendar_lines(services.local_now().date(), years, t, overruled):
        print(line)
    return 0


async def _bot_username(settings: Settings) -> str | None:
    from telegram import Bot
    from telegram.error import TelegramError
    from telegram.request import HTTPXRequest

    # Through the same proxy as the bot, or a county behind one would get no link.
    request = HTTPXRequest(proxy=settings.telegram_proxy) if settings.telegram_proxy else None
    bot = Bot(settings.bot_token.get_secret_value(), base_url=settings.telegram_api_base_url, request=request)
    try:
        async with bot:
            return bot.username
    except TelegramError:
        return None
