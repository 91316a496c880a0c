"""Renamed and merged bodies: the units file's valid_from, valid_to and successor. A body takes
letters on its days only; its old name leads to its successor for new work; the figures list
each body for the periods it existed in (and wherever it has letters)."""

from __future__ import annotations

import datetime as dt
import io

import aiohttp
import openpyxl
import pytest
from sqlalchemy import select

from bot.app import build_application, running
from models.letters import LetterError, Origin, assign
from models.tables import Letter, Unit
from models.unit_resolver import UnitRef, UnitResolver
from models.units import UnitsFileError, read_units_file
from tests.conftest import AUTH, Clock, Harness, expect, greet, join, make_settings

UNITS = """
towns:
  - {name: 八仙镇, aliases: [八仙]}
departments:
  - {name: 县农业局, aliases: [农业局], valid_to: 2019-02-28, successor: 县农业农村局}
  - {name: 县农业农村局, aliases: [农业农村局], valid_from: 2019-03-01, keywords: [补贴]}
  - {name: 县档案馆, valid_to: 2020-12-31}
"""

OLD = UnitRef(1, "县农业局", "department", ("农业局",), None, dt.date(2019, 2, 28), 2)
NEW = UnitRef(2, "县农业农村局", "department", ("农业农村局",), dt.date(2019, 3, 1))
GONE = UnitRef(3, "县档案馆", "department", (), None, dt.date(2020, 12, 31))


def test_an_old_name_leads_to_the_successor_for_new_work():
    resolver = UnitResolver([OLD, NEW, GONE])
    assert resolver.resolve("农业局").unit == OLD  # for reading: the body itself
    assert resolver.resolve_on("农业局", dt.date(2019, 2, 28)).unit == OLD
    assert resolver.resolve_on("农业局", dt.date(2026, 11, 30)).unit == NEW
    assert resolver.resolve_on("农业农村局", dt.date(2019, 1, 5)).matches == ()  # not yet
    gone = resolver.resolve_on("县档案馆", dt.date(2026, 11, 30))
    assert gone.matches == () and gone.retired == (GONE,)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("{name: 甲镇, aliases: [乙镇]}", "also names 乙镇"),
        ("{name: 丙镇, aliases: [丁]}\n  - {name: 丁镇, aliases: [丁]}", "also names 丙镇"),
        ("{name: 甲镇, valid_to: 2020-01-01, successor: 不存在镇}", "不存在镇 is not another unit"),
        ("{name: 甲镇, successor: 乙镇}", "needs valid_to"),
        ("{name: 甲镇, valid_from: 2021-01-01, valid_to: 2020-01-01}", "is before valid_from"),
        ("{name: 丙镇, valid_to: 2020-01-01, successor: 丁镇}\n  - {name: 丁镇, valid_to: 2021-01-01, successor: 丙镇}", "in a circle: 丙镇 → 丁镇 → 丙镇"),
    ],
)
def test_a_units_file_that_contradicts_itself_is_refused(tmp_path, entry, says):
    path = tmp_path / "units.yaml"
    path.write_text(f"towns:\n  - {{name: 乙镇}}\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(UnitsFileError, match=says):
        read_units_file(path)


@pytest.fixture
async def county(stand_in, database_url, tmp_path):
    path = tmp_path / "units.yaml"
    path.write_text(UNITS, encoding="utf-8")
    clock = Clock()
    app = build_application(make_settings(stand_in, database_url, units_file=path), clock=clock)
    harness = Harness(app, stand_in, clock)
    async with running(app):
        async with aiohttp.ClientSession(base_url=harness.services.intake_url) as http:
            yield harness, http
        await stand_in.release_pollers()


async def test_new_letters_go_to_the_body_of_today(county):
    bot, http = county
    await greet(bot.admin)
    letter = {"title": "补贴没发", "content": "去年的补贴没发", "received_at": "2026-11-27T10:00:00+08:00"}
    response = await http.post("/api/letters", headers=AUTH, json={**letter, "external_id": "R-1", "unit": "县农业局"})
    assert response.status == 201 and (await response.json())["unit"] == "县农业农村局"
    response = await http.post("/api/letters", headers=AUTH, json={**letter, "external_id": "R-2", "unit": "县档案馆"})
    assert response.status == 422 and "县档案馆" in str(await response.json())
    response = await http.post("/api/letters", headers=AUTH, json={**letter, "external_id": "R-3", "title": "农业局的种粮补贴"})
    card = await expect(bot.admin, "种粮补贴", kind="message")  # 农业局 names the old body
    assert card.button("交办县农业农村局") and not [b for b in card.buttons if "县农业局" in b[0] or "档案" in b[0]]
    letter_id = (await response.json())["id"]
    bot.admin.send(f"/assign {letter_id} 县档案馆")
    assert "县档案馆 在 2026-11-30 不承办信件" in (await expect(bot.admin, "县档案馆")).text
    bot.admin.send("/units")
    listing = (await expect(bot.admin, "县农业农村局")).text
    assert "县农业局 —" not in listing and "县档案馆" not in listing


async def test_each_period_lists_the_bodies_of_its_days(county):
    bot, http = county
    leader = bot.person(5101, "县长")
    await join(bot, leader, "leader")
    for period, shown, hidden in (("2018Q4", "县农业局", "县农业农村局"), ("2026Q4", "县农业农村局", "县农业局"), ("2019Q1", "县农业农村局", None)):
        body = await (await http.get("/api/stats", params={"period": period}, headers=AUTH)).json()
        names = [u["unit"] for u in body["units"]]
        assert shown in names and (hidden is None or hidden not in names), (period, names)
    leader.send("/report 2026Q4")
    await leader.receive()
    table = await leader.receive()
    rows = [[c.value for c in r] for r in openpyxl.load_workbook(io.BytesIO(table.file_bytes)).active.iter_rows()]
    assert "县农业农村局" in [r[1] for r in rows] and "县农业局" not in [r[1] for r in rows] and "县档案馆" not in [r[1] for r in rows]

    # /rate lists every body of the period's days, with letters or not, and no other.
    response = await http.post("/api/letters", headers=AUTH, json={
        "external_id": "R-5", "title": "路灯", "content": "", "received_at": "2026-11-27T10:00:00+08:00", "unit": "八仙镇"})
    assert response.status == 201
    leader.send("/rate 2026Q4")
    listing = (await expect(leader, "各单位")).text.split("各单位", 1)[1]
    assert "1. 八仙镇：交办 1" in listing and "2. 县农业农村局：交办 0 · 办结 0 · — · 超期 0" in listing
    assert "县农业局：" not in listing and "县档案馆" not in listing


async def test_assigning_to_a_body_past_its_days_names_its_successor(county):
    bot, http = county
    response = await http.post("/api/letters", headers=AUTH, json={
        "external_id": "R-9", "title": "补贴", "content": "", "received_at": "2026-11-27T10:00:00+08:00"})
    letter_id = (await response.json())["id"]
    services = bot.services
    async with services.db.transaction() as session:
        old = await session.scalar(select(Unit).where(Unit.name == "县农业局"))
        with pytest.raises(LetterError) as refused:
            await assign(session, services.rules, letter_id, old.id, Origin("cli"), services.now())
    assert refused.value.values == {"unit": "县农业局", "date": "2019-02-28", "successor": "县农业农村局"}
    async with services.db.reading() as session:
        assert (await session.get(Letter, letter_id)).unit_id is None


def test_a_units_file_that_is_not_yaml_is_refused_in_one_line(tmp_path):
    path = tmp_path / "units.yaml"
    path.write_text("towns:\n  - {name: 甲镇\n  - name: 乙镇\n", encoding="utf-8")
    with pytest.raises(UnitsFileError) as refused:
        read_units_file(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)


def test_a_history_row_names_the_body_of_its_own_days():
    """An invalid 2019 letter naming a body closed in 2020 is history, not new work for today."""
    from zoneinfo import ZoneInfo

    from models.letter_input import LetterRecord, build_record

    resolver = UnitResolver([OLD, NEW, GONE])
    now = dt.datetime(2026, 11, 30, 2, tzinfo=dt.UTC)
    row = {"title": "重复来信", "received_at": "2019-01-05 10:00", "status": "无效", "invalid_reason": "重复"}
    for unit, expected in (("县档案馆", GONE.id), ("县农业局", OLD.id)):
        record = build_record({**row, "unit": unit}, tz=ZoneInfo("Asia/Shanghai"), resolver=resolver, now=now)
        assert isinstance(record, LetterRecord) and record.unit_id == expected, record
    arriving = build_record({"title": "补贴", "received_at": "2019-01-05 10:00", "unit": "县农业局"}, tz=ZoneInfo("Asia/Shanghai"), resolver=resolver, now=now)
    assert arriving.unit_id == NEW.id  # assigned on arrival, today: the body of today
