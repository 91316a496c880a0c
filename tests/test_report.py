"""/report and `python -m bot report`: the notice paragraph, the XLSX table read back, the chart."""

from __future__ import annotations

import io

import openpyxl

from tests.conftest import join
from tests.notice_data import notice_database, seed_notice
from tests.test_cli import bare_environment, run_cli

PARAGRAPH = (
    "2019年第一季度，共受理有效信函 47 件，已办结 35 件，办结率 74.5%。其中，转各镇办理 29 件，已办结 21 件，办结率 72.4%；"
    "转部门办理 18 件，已办结 14 件，办结率 77.8%。反映问题主要涉及扶贫、医疗、教育和民生保障等方面。"
    "县教科局、县公安局等单位办理及时。八仙镇、长安镇、县农业农村局、县住建局等单位办理滞后。"
)


def read_table(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def check_table(rows: list[list]) -> None:
    assert rows[0][0] == "各镇、各部门“领导信箱”办理情况统计表"
    assert rows[2] == ["序号", "单位", "交办件数", "已办结", "办结率", "按期办结", "按期办结率", "在办", "超期"]
    by_label = {row[1]: row for row in rows[3:]}
    assert by_label["小计（镇）"][2:5] == [29, 21, 0.724]
    assert by_label["小计（部门）"][2:5] == [18, 14, 0.778]
    assert by_label["合计"][2:5] == [47, 35, 0.745]
    assert by_label["八仙镇"][2:9] == [10, 5, 0.5, 4, 0.4, 5, 5]
    assert by_label["西河镇"][4] == "—"
    labels = [row[1] for row in rows[3:]]
    assert labels.index("西河镇") < labels.index("小计（镇）") < labels.index("县教科局") < labels.index("小计（部门）") < labels.index("合计")
    assert len(rows) == 3 + 11 + 1 + 25 + 1 + 1


async def test_report_in_chat(bot):
    async with bot.services.db.transaction() as session:
        await seed_notice(session)
    leader = bot.person(6001, "县长")
    await join(bot, leader, "leader")
    leader.send("/report 2019Q1")
    paragraph = await leader.receive()
    assert paragraph.text == PARAGRAPH
    table = await leader.receive()
    assert table.kind == "document" and table.file_name.endswith(".xlsx")
    check_table(read_table(table.file_bytes))
    chart = await leader.receive()
    assert chart.kind == "photo" and chart.file_bytes.startswith(b"\x89PNG")
    liaison = bot.person(6002, "八仙联络员")
    await join(bot, liaison, "八仙镇")
    liaison.send("/report 2019Q1")
    assert "只有管理员和县领导" in (await liaison.receive()).text
    leader.send("/report 明年")
    assert "无法识别" in (await leader.receive()).text


async def test_report_from_the_command_line(tmp_path, database_url, stand_in):
    await notice_database(database_url)
    env = bare_environment(BOT_TOKEN=stand_in.token, DATABASE_URL=database_url)
    code, out, err = await run_cli("report", "--period", "2019年第一季度", "--out", str(tmp_path / "out"), cwd=tmp_path, env=env)
    assert code == 0, err
    assert out.splitlines()[0] == PARAGRAPH
    files = sorted(p.suffix for p in (tmp_path / "out").iterdir())
    assert files == [".png", ".txt", ".xlsx"]
    check_table(read_table(next((tmp_path / "out").glob("*.xlsx")).read_bytes()))


def test_the_chart_draws_chinese_with_the_shipped_font():
    import datetime as dt
    import warnings

    from matplotlib import font_manager

    from bot.report_files import _cjk_font, chart_bytes
    from locales import Translator
    from models.notice import Notice
    from models.stats import Figures, Period, Report, UnitFigures

    assert font_manager.get_font(str(_cjk_font())).family_name == "Noto Sans CJK SC"
    units = [UnitFigures(1, "八仙镇", "town", 0, Figures(10, 5)), UnitFigures(2, "县住房和城乡建设局", "department", 1, Figures(4, 4))]
    result = Report(Period(dt.date(2019, 1, 1), dt.date(2019, 3, 31)), units, Figures(14, 9), Figures(10, 5), Figures(4, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = chart_bytes(Notice(result, [], [], []), Translator("zh_CN"))
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]


async def test_main_topics_are_counted_by_the_database(database_url):
    """A tag counts once per letter of the period that the rates count (not invalid, not waiting);
    of topics as frequent, the one met first in order of receipt comes first."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from models.db import Database
    from models.notice import main_topics
    from models.stats import Period
    from models.tables import Letter, Unit

    tz = ZoneInfo("Asia/Shanghai")
    db = Database(database_url)
    await db.migrate()
    try:
        async with db.transaction() as session:
            unit = Unit(name="八仙镇", kind="town", aliases=[], keywords=[], places=[], position=0, active=True)
            session.add(unit)
            await session.flush()

            def letter(day: int, tags: list[str], status: str = "assigned") -> Letter:
                received = dt.datetime(2026, 1, day, 9, tzinfo=tz)
                return Letter(title="t", content="", received_at=received, status=status, tags=tags,
                              unit_id=None if status in ("new", "invalid") else unit.id,
                              assigned_at=None if status in ("new", "invalid") else received,
                              due_date=dt.date(2026, 2, 1), invalid_reason="重复" if status == "invalid" else None)

            session.add_all([
                letter(2, ["道路交通"]), letter(3, ["城乡建设"]), letter(4, ["教育", "道路交通"]),
                letter(5, ["城乡建设", "教育"]), letter(6, ["医疗卫生"]), letter(7, ["医疗卫生"], "invalid"),
                letter(8, ["医疗卫生"], "new"), letter(9, ["环境保护"], "done"),
            ])
        async with db.reading() as session:
            quarter = Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31))
            assert await main_topics(session, quarter, tz, limit=4) == ["道路交通", "城乡建设", "教育", "医疗卫生"]
            assert await main_topics(session, Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)), tz) == []
    finally:
        await db.dispose()
