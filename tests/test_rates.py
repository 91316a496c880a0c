"""/rate, the stats API and `python -m bot rate`, on the county's 2019 Q1 notice."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.app import build_application, running
from models.periods import PeriodError, parse_period, split_period
from models.stats import Period
from tests.conftest import AUTH, Clock, Harness, join, make_settings
from tests.notice_data import RECEIVED, _letter, notice_database, seed_notice
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


def unit_lines(text: str) -> list[tuple[str, str]]:
    """The numbered unit lines of a /rate answer, as (name, figures), checking the numbering."""
    listed = []
    for line in text.split("各单位（办结率由低到高）：", 1)[1].strip().splitlines():
        number, _, rest = line.partition(". ")
        assert number == str(len(listed) + 1), line
        name, _, figures = rest.partition("：")
        listed.append((name, figures))
    return listed


NO_LETTERS = "交办 0 · 办结 0 · — · 超期 0"
RANKED_2019Q1 = ["八仙镇", "县农业农村局", "县住建局", "长安镇", "城关镇", "县教科局", "县公安局"]  # 50.0 60.0 66.7 75.0 90.9 100 100 (file order)


async def test_rate_lists_every_unit_laggards_first_then_those_without_letters(notice):
    """`/rate` alone: after the totals, every unit taking letters in the period, not only those with
    letters: the ranked ones, then the rest in the units file's order with 交办 0 and no rate."""
    leader = notice.person(4004, "县长")
    await join(notice, leader, "leader")
    in_file_order = [name for _, name, *_ in notice.services.unit_rows()]
    assert len(in_file_order) == 36
    leader.send("/rate 2019Q1")
    answer = (await leader.receive()).text  # one message, within Telegram's 4096 (the stand-in refuses more)
    listed = unit_lines(answer)
    assert [name for name, _ in listed[:7]] == RANKED_2019Q1
    assert listed[0][1] == "交办 10 · 办结 5 · 50.0% · 超期 5"
    rest = [name for name in in_file_order if name not in RANKED_2019Q1]
    assert listed[7:] == [(name, NO_LETTERS) for name in rest]
    assert notice.api.pending(leader.id) == []

    # A group: every unit of it, and none of the other.
    for word, kind in (("镇", "town"), ("部门", "department")):
        leader.send(f"/rate {word} 2019Q1")
        listed = unit_lines((await leader.receive()).text)
        group = [name for _, name, unit_kind, *_ in notice.services.unit_rows() if unit_kind == kind]
        assert sorted(name for name, _ in listed) == sorted(group)
        ranked = [name for name in RANKED_2019Q1 if name in group]
        assert [name for name, _ in listed[:len(ranked)]] == ranked
        assert listed[len(ranked):] == [(name, NO_LETTERS) for name in group if name not in ranked]

    # A period without letters says so, rather than 36 lines of nothing.
    leader.send("/rate 2018Q1")
    empty = (await leader.receive()).text
    assert "该时段没有交办的信件" in empty and "各单位" not in empty


async def test_many_units_are_listed_over_several_messages_each_within_the_limit(stand_in, database_url, tmp_path):
    towns = [f"第{i:03d}号很长很长名字的示范镇" for i in range(160)]
    path = tmp_path / "units.yaml"
    path.write_text("towns:\n" + "".join(f"  - {{name: {name}}}\n" for name in towns) + "departments:\n  - {name: 县住建局}\n", encoding="utf-8")
    clock = Clock()
    app = build_application(make_settings(stand_in, database_url, units_file=path), clock=clock)
    bot = Harness(app, stand_in, clock)
    async with running(app):
        async with bot.services.db.transaction() as session:  # one letter, for the last town
            ids = {name: unit_id for unit_id, name, *_ in bot.services.unit_rows()}
            session.add(_letter(status="accepted", unit_id=ids[towns[-1]], assigned_at=RECEIVED, due_date=dt.date(2019, 2, 20)))
        leader = bot.person(4005, "县长")
        await join(bot, leader, "leader")
        leader.send("/rate 2019Q1")
        first = await leader.receive()
        parts = [first]
        while not parts[-1].text.rstrip().endswith("县住建局：" + NO_LETTERS):
            parts.append(await leader.receive())
        await stand_in.release_pollers()
    assert len(parts) > 1 and all(len(part.text.encode("utf-16-le")) // 2 <= 4096 for part in parts)
    listed = unit_lines("\n".join(part.text for part in parts))
    assert [name for name, _ in listed] == [towns[-1], *towns[:-1], "县住建局"]
    assert listed[0][1] == "交办 1 · 办结 0 · 0.0% · 超期 1"


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
    listed = unit_lines(out)  # every unit, as /rate lists them
    assert len(listed) == 36 and [name for name, _ in listed[:7]] == RANKED_2019Q1
    assert listed[7:] and all(figures == NO_LETTERS for _, figures in listed[7:])
    code, out, err = await run_cli("rate", "八仙镇", "--period", "2019Q1", cwd=tmp_path, env=env)
    assert "办结率 50.0%" in out
    code, out, err = await run_cli("rate", "--period", "明年", cwd=tmp_path, env=env)
    assert code == 2 and "无法识别" in err
    code, out, err = await run_cli("rate", "八仙镇", "2019Q1", cwd=tmp_path, env=env)  # --period forgotten
    assert code == 0 and "八仙镇" in out and "办结率 50.0%" in out, err
    code, out, err = await run_cli("rate", "八仙镇", "2019Q5", cwd=tmp_path, env=env)
    assert code == 2 and "无法识别时段“2019Q5”" in err and not out
