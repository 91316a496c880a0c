"""/rate, the stats API and `python -m bot rate`, on the county's 2019 Q1 notice."""

from __future__ import annotations

import datetime as dt

import pytest

from models.periods import PeriodError, parse_period, split_period
from models.stats import Period
from tests.conftest import AUTH, join
from tests.notice_data import notice_database, seed_notice
from tests.test_cli import bare_environment, run_cli

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2019Q1", "2019-01-01", "2019-03-31"), ("2019q4", "2019-10-01", "2019-12-31"),
        ("2019-03", "2019-03-01", "2019-03-31"), ("2019", "2019-01-01", "2019-12-31"),
        ("2019-01-01..2019-03-31", "2019-01-01", "2019-03-31"), ("2019年第一季度", "2019-01-01", "2019-03-31"),
        ("2019年第3季度", "2019-07-01", "2019-09-30"), ("2019年3月", "2019-03-01", "2019-03-31"),
        ("2020-02", "2020-02-01", "2020-02-29"), ("本季度", "2026-10-01", "2026-12-31"), ("", "2026-10-01", "2026-12-31"),
        ("上季度", "2026-07-01", "2026-09-30"), ("本月", "2026-11-01", "2026-11-30"), ("今年", "2026-01-01", "2026-12-31"),
        ("去年", "2025-01-01", "2025-12-31"), ("上月", "2026-10-01", "2026-10-31"),
    ],
)
def test_periods(text, start, end):
    assert parse_period(text, TODAY) == Period(dt.date.fromisoformat(start), dt.date.fromisoformat(end))


@pytest.mark.parametrize("text", ["2019Q5", "2019-13", "2019-02-30..2019-03-01", "2019-03-31..2019-01-01", "下个世纪", "Q1"])
def test_bad_periods(text):
    with pytest.raises(PeriodError):
        parse_period(text, TODAY)


@pytest.mark.parametrize(
    ("text", "target", "period"),
    [
        ("八仙镇 2019Q1", "八仙镇", "2019Q1"), ("2019年第一季度 八仙镇", "八仙镇", "2019Q1"), ("城关镇2019Q1", "城关镇", "2019Q1"),
        ("镇 本月", "镇", "本月"), ("县 农业局 2019-01-01..2019-03-31", "县 农业局", "2019Q1"), ("八仙镇", "八仙镇", ""), ("", "", ""),
    ],
)
def test_a_unit_and_its_period(text, target, period):
    assert split_period(text, TODAY) == (target, parse_period(period, TODAY))


@pytest.mark.parametrize(("text", "named"), [("八仙镇 2019Q5", "2019Q5"), ("八仙镇 2019年第五季度", "2019年第五季度"), ("城关镇2019-13", "城关镇2019-13")])
def test_a_mistyped_period_is_refused_not_replaced(text, named):
    """A leader asking about a period must never read the current quarter's figures instead."""
    with pytest.raises(PeriodError) as refused:
        split_period(text, TODAY)
    assert str(refused.value) == named


@pytest.fixture
async def notice(bot):
    async with bot.services.db.transaction() as session:
        await seed_notice(session)
    return bot


async def test_rate_reproduces_the_notice(notice, http):
    leader = notice.person(4001, "县长")
    await join(notice, leader, "leader")
    leader.send("/rate 2019Q1")
    answer = await leader.receive()
    assert "2019年第1季度" in answer.text and "截至 2026-11-30" in answer.text
    assert "合计：交办 47 · 办结 35 · 74.5%" in answer.text
    assert "镇：交办 29 · 办结 21 · 72.4%" in answer.text
    assert "部门：交办 18 · 办结 14 · 77.8%" in answer.text
    ranking = answer.text.split("各单位")[1]
    assert ranking.index("八仙镇") < ranking.index("县农业农村局") < ranking.index("县公安局")

    leader.send("/rate baxian 2019年第一季度")
    unit = (await leader.receive()).text
    assert "八仙镇" in unit and "交办 10 件，已办结 5 件，办结率 50.0%" in unit and "按期办结 4 件，按期办结率 40.0%" in unit
    leader.send("/rate 部门 2019-01-01..2019-03-31")
    group = (await leader.receive()).text
    assert "部门：交办 18" in group and "八仙镇" not in group
    leader.send("/rate 2019Q5")
    assert "无法识别" in (await leader.receive()).text
    leader.send("/rate 八仙镇 2019Q5")
    assert "无法识别时段“2019Q5”" in (await leader.receive()).text
    leader.send("/rate 2019年第一季度 八仙镇")
    assert "交办 10 件，已办结 5 件" in (await leader.receive()).text
    leader.send("/rate")
    assert "2026年第4季度" in (await leader.receive()).text

    response = await http.get("/api/stats", params={"period": "2019Q1"}, headers=AUTH)
    body = await response.json()
    assert response.status == 200
    assert (body["total"]["assigned"], body["total"]["done"], body["total"]["rate"]) == (47, 35, "74.5")
    assert (body["towns"]["rate"], body["departments"]["rate"]) == ("72.4", "77.8")
    assert body["period"] == {"start": "2019-01-01", "end": "2019-03-31"}
    one = await (await http.get("/api/stats", params={"period": "2019Q1", "unit": "八仙"}, headers=AUTH)).json()
    assert [u["unit"] for u in one["units"]] == ["八仙镇"] and one["units"][0]["rate"] == "50.0"
    assert (await http.get("/api/stats", params={"period": "someday"}, headers=AUTH)).status == 422
    several = await http.get("/api/stats", params={"period": "2019Q1", "unit": "镇"}, headers=AUTH)
    assert several.status == 422 and "城关镇、兴隆镇" in (await several.json())["errors"]["unit"]
    assert (await http.get("/api/stats")).status == 401


async def test_liaisons_see_their_unit_and_strangers_nothing(notice):
    liaison = notice.person(4002, "八仙联络员")
    await join(notice, liaison, "八仙镇")
    liaison.send("/rate 2019Q1")
    assert "交办 10 件" in (await liaison.receive()).text
    liaison.send("/rate 长安镇 2019Q1")
    assert "只能查看本单位" in (await liaison.receive()).text
    stranger = notice.person(4003, "路人")
    stranger.send("/rate 2019Q1")
    answer = (await stranger.receive()).text
    assert "邀请" in answer and "47" not in answer and "%" not in answer


async def test_cli_rate(tmp_path, database_url, stand_in):
    await notice_database(database_url)
    env = bare_environment(BOT_TOKEN=stand_in.token, DATABASE_URL=database_url)
    code, out, err = await run_cli("rate", "--period", "2019Q1", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "合计：交办 47 · 办结 35 · 74.5%" in out and "<" not in out
    code, out, err = await run_cli("rate", "八仙镇", "--period", "2019Q1", cwd=tmp_path, env=env)
    assert "办结率 50.0%" in out
    code, out, err = await run_cli("rate", "--period", "明年", cwd=tmp_path, env=env)
    assert code == 2 and "无法识别" in err
    code, out, err = await run_cli("rate", "八仙镇", "2019Q1", cwd=tmp_path, env=env)  # --period forgotten
    assert code == 0 and "八仙镇" in out and "办结率 50.0%" in out, err
    code, out, err = await run_cli("rate", "八仙镇", "2019Q5", cwd=tmp_path, env=env)
    assert code == 2 and "无法识别时段“2019Q5”" in err and not out
