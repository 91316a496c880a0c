"""Importing letters from files: in chat by an admin, and with `python -m bot import`."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
from sqlalchemy import func, select

from models.tables import Letter, LetterEvent
from tests.conftest import expect, join
from tests.test_cli import bare_environment, run_cli

HEADER_ZH = "编号,标题,内容,姓名,电话,来信时间,类型,办理单位,状态,交办时间,签收时间,办结时间,答复内容,无效原因"
ROWS_ZH = [
    "W001,路灯不亮,八仙镇村道路灯坏了,张三,13812341234,2019-03-05 10:00,投诉,八仙镇,已办结,2019-03-05 11:00,2019-03-06 09:00,2019-03-08 16:00,已修复,",
    "W002,学校收费,县城某校乱收费,李四,,2019/3/6 9:30,举报,县教科局,已交办,2019/3/6 10:00,,,,",
    "W003,重复来信,同W001,张三,,2019年3月7日,,,无效,,,,,重复",
    "W004,咨询社保,如何办理养老保险,王五,,2019-03-08 08:00,咨询,,待交办,,,,,",
]


def csv_bytes(rows: list[str], encoding: str, header: str = HEADER_ZH) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


async def letters(bot) -> list[Letter]:
    async with bot.services.db.reading() as session:
        return list((await session.scalars(select(Letter).order_by(Letter.external_id))).all())


async def test_admin_imports_gb18030_history_in_chat(bot):
    admin = bot.admin
    other_admin = bot.person(1201, "李科长")
    await join(bot, other_admin, "admin")
    admin.send_document(csv_bytes(ROWS_ZH, "gb18030"), "网站导出.csv", "text/csv")
    answer = await admin.receive()
    assert "网站导出.csv" in answer.text and "新导入 4 件" in answer.text and "跳过 0 件" in answer.text
    summary = await other_admin.receive()
    assert "导入" in summary.text and "4" in summary.text
    assert bot.api.pending(admin.id) == []  # the importing admin gets the answer, not also the summary

    stored = {letter.external_id: letter for letter in await letters(bot)}
    # No card for the letter waiting for assignment, so the answer names it for /assign.
    assert f"其中 1 件待交办：#{stored['W004'].id}。发送 /assign 加编号即可交办" in answer.text
    done = stored["W001"]
    assert done.status == "done" and done.reply == "已修复" and done.unit_id is not None
    assert done.done_at == dt.datetime(2019, 3, 8, 8, 0, tzinfo=dt.UTC)
    # Assigned Tuesday 2019-03-05: five working days later is Tuesday 2019-03-12.
    assert done.due_date == dt.date(2019, 3, 12) and not done.due_estimated
    assert stored["W002"].status == "assigned" and stored["W003"].status == "invalid" and stored["W004"].status == "new"
    async with bot.services.db.reading() as session:
        events = (await session.execute(
            select(LetterEvent.action, LetterEvent.at, LetterEvent.to_status).where(LetterEvent.letter_id == done.id).order_by(LetterEvent.id)
        )).all()
    assert [(a, s) for a, _, s in events] == [("received", "new"), ("assigned", "assigned"), ("accepted", "accepted"), ("done", "done")]
    assert events[3][1] == done.done_at  # dated as in the file

    # The same file again: everything is known, nothing doubles.
    admin.send_document(csv_bytes(ROWS_ZH, "gb18030"), "网站导出.csv", "text/csv")
    again = (await admin.receive()).text
    assert "新导入 0 件" in again and "待交办" not in again and "4 件已存在" in (await other_admin.receive()).text
    assert len(await letters(bot)) == 4


async def test_imported_history_names_the_unit_and_the_reason(bot):
    """A letter's history from a file reads like one made in chat: the unit it was assigned to, why
    it is invalid; a return, whose reason a file cannot carry, reads without an empty reason."""
    returned = "W005,占道经营,x,,,2019-03-09 08:00,,八仙镇,已退回,2019-03-09 09:00,,,,"
    bot.admin.send_document(csv_bytes([*ROWS_ZH, returned], "utf-8"), "网站导出.csv", "text/csv")
    assert "新导入 5 件" in (await bot.admin.receive()).text
    stored = {letter.external_id: letter.id for letter in await letters(bot)}
    stories = {}
    for external_id in ("W001", "W003", "W005"):
        bot.admin.send(f"/letter {stored[external_id]}")
        stories[external_id] = (await expect(bot.admin, "办理记录")).text
    assert "交办八仙镇" in stories["W001"] and "已办结" in stories["W001"]
    assert "标为无效：重复" in stories["W003"]
    assert "交办八仙镇" in stories["W005"] and stories["W005"].rstrip().endswith("：退回"), stories["W005"]


async def test_one_bad_row_imports_nothing_and_every_bad_row_is_named(bot):
    rows = [*ROWS_ZH, "W005,,没有标题,,,2019-03-09,,,,,,,,", "W006,时间错,x,,,明天,,,,,,,,", "W007,单位错,x,,,2019-03-09,,火星局,,,,,,"]
    bot.admin.send_document(csv_bytes(rows, "utf-8-sig"), "bad.csv", "text/csv")
    answer = await bot.admin.receive()
    assert "没有导入" in answer.text or "未导入" in answer.text
    assert "第 6 行，标题" in answer.text and "第 7 行，来信时间" in answer.text and "第 8 行，办理单位" in answer.text
    assert await letters(bot) == []


async def test_a_file_too_large_for_telegram_points_to_the_server(bot):
    bot.api.download_limit = 100  # Telegram's servers hand bots files of up to 20 MB
    bot.admin.send_document(csv_bytes(ROWS_ZH, "utf-8"), "网站导出.csv", "text/csv")
    answer = (await expect(bot.admin, "20 MB")).text
    assert "python -m bot import" in answer and "too big" not in answer
    assert await letters(bot) == []


async def test_a_file_without_numbers_sent_twice_stores_its_letters_once(bot):
    """Without 编号 a letter is known by its time, title and text."""
    rows = ["路灯不亮,八仙镇村道路灯坏了,2019-03-05 10:00", "路灯不亮,另一条路的路灯坏了,2019-03-05 10:00", "学校收费,乱收费,2019-03-06 09:30"]
    for sent, answer in ((rows, "新导入 3 件，跳过 0 件"), ([*rows, "咨询社保,如何办理,2019-03-08 08:00"], "新导入 1 件，跳过 3 件")):
        bot.admin.send_document(csv_bytes(sent, "utf-8", header="标题,内容,来信时间"), "无编号.csv", "text/csv")
        assert answer in (await expect(bot.admin, "无编号.csv")).text
    assert sorted(letter.content for letter in await letters(bot)) == sorted(["八仙镇村道路灯坏了", "另一条路的路灯坏了", "乱收费", "如何办理"])


async def test_rows_without_numbers_repeated_in_one_file_are_stored_as_the_file_has_them(bot, tmp_path):
    """Only letters stored before an import make its rows known: the same for two copies in one
    batch and two copies 2,100 rows apart (in different batches)."""
    repeated = "重复的信,同一封,2019-03-05 10:00"
    rows = [repeated, *(f"第{i}封,内容,2019-03-06 10:00" for i in range(2100)), repeated, repeated]
    bot.admin.send_document(csv_bytes(rows, "utf-8", header="标题,内容,来信时间"), "无编号.csv", "text/csv")
    assert "新导入 2103 件，跳过 0 件" in (await expect(bot.admin, "无编号.csv", within=30)).text
    assert sum(letter.title == "重复的信" for letter in await letters(bot)) == 3


async def test_xlsx_from_admin_stranger_and_liaison(bot):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["external_id", "title", "content", "received_at", "unit"])
    sheet.append([5001, "道路塌方", "长安镇公路塌方", dt.datetime(2019, 3, 10, 9, 0), "长安"])
    sheet.append([5002, "噪音扰民", "工地夜间施工", "2019-03-11 22:00", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    xlsx = buffer.getvalue()
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    stranger = bot.person(1301, "路人")
    stranger.send_document(xlsx, "letters.xlsx", mime)
    assert "邀请" in (await stranger.receive()).text
    liaison = bot.person(1302, "长安联络员")
    await join(bot, liaison, "长安镇")
    liaison.send_document(xlsx, "letters.xlsx", mime)
    assert "只有管理员" in (await liaison.receive()).text
    assert await letters(bot) == []

    bot.admin.send_document(xlsx, "letters.xlsx", mime)
    assert "新导入 2 件" in (await bot.admin.receive()).text
    stored = await letters(bot)
    assert [(l.external_id, l.status) for l in stored] == [("5001", "assigned"), ("5002", "new")]
    bot.admin.send_document(b"%PDF-1.4 not a table", "letters.xlsx", mime)
    assert "不是 CSV 或 XLSX" in (await bot.admin.receive()).text
    bot.admin.send_document(b"hello", "notes.txt", "text/plain")
    assert ".csv" in (await bot.admin.receive()).text


async def test_many_problems_come_with_a_full_list(bot):
    rows = [f"B{i},,x,,,2019-03-09,,,,,,,,," for i in range(45)]
    bot.admin.send_document(csv_bytes(rows, "utf-8"), "many.csv", "text/csv")
    text = (await bot.admin.receive()).text
    assert "有 45 行" in text and "另有 15 个问题" in text
    attachment = await bot.admin.receive()
    assert attachment.kind == "document" and attachment.file_name == "problems.csv"
    assert attachment.file_bytes.decode("utf-8-sig").count("\n") == 46


async def test_cli_import(tmp_path, database_url, stand_in):
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(ROWS_ZH, "utf-8"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([*ROWS_ZH, "W009,,x,,,2019-03-09,,,,,,,,"], "gb18030"))
    env = bare_environment(BOT_TOKEN=stand_in.token, TELEGRAM_API_BASE_URL=stand_in.base_url, DATABASE_URL=database_url)
    code, out, err = await run_cli("import", str(bad), cwd=tmp_path, env=env)
    assert code == 1 and "第 6 行，标题" in err
    code, out, err = await run_cli("import", str(good), cwd=tmp_path, env=env)
    assert code == 0 and "4" in out, err
    code, out, err = await run_cli("import", str(good), cwd=tmp_path, env=env)
    assert code == 0 and "跳过 4 件" in out
    code, out, err = await run_cli("import", str(tmp_path / "missing.csv"), cwd=tmp_path, env=env)
    assert code == 2


async def test_hundred_thousand_rows(tmp_path, database_url, stand_in):
    """Streams and bulk-inserts a county's decade; the time is measured in bench/, not here."""
    from bot.runtime import rules_from
    from models.db import Database
    from models.importer import import_file
    from models.letters import Origin
    from models.units import build_resolver, read_units_file, sync_units
    from tests.conftest import make_settings

    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("external_id,title,content,received_at,unit,assigned_at,done_at\n")
        for i in range(100_000):
            day = 1 + i % 28
            handle.write(f"X{i},标题{i},内容{i},2019-02-{day:02d} 09:00,八仙镇,2019-02-{day:02d} 10:00,2019-03-01 10:00\n")
    settings = make_settings(stand_in, database_url)
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            await sync_units(session, read_units_file(settings.units_file))
        async with db.reading() as session:
            resolver = await build_resolver(session)
        now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
        async with db.transaction() as session:
            report = await import_file(session, rules_from(settings), path, Origin("cli"), now, tz=settings.tz, resolver=resolver)
        assert report.ok and report.imported == 100_000
        async with db.reading() as session:
            assert await session.scalar(select(func.count()).select_from(Letter)) == 100_000
            assert await session.scalar(select(func.count()).select_from(LetterEvent)) == 300_000
    finally:
        await db.dispose()


def test_the_answer_names_at_most_thirty_letters_waiting_for_assignment():
    from locales import Translator
    from models.importer import WAITING_LISTED, ImportReport, report_lines

    report = ImportReport("letters.csv", imported=40, waiting=list(range(1, WAITING_LISTED + 1)), waiting_count=35)
    lines = report_lines(report, Translator("en"))
    assert lines[1] == (
        "35 of them wait for assignment: " + " ".join(f"#{i}" for i in range(1, 31))
        + " and 5 more. Send /assign and a number to assign one; the bot suggests units."
    )
    assert "#30 等，另有 5 件。" in report_lines(report, Translator("zh_CN"))[1]
    assert len(report_lines(ImportReport("letters.csv", imported=3), Translator("zh_CN"))) == 1
