"""The daily loop through chat, with several people: assign, sign, close by reply, return and
reassign, extend, reopen, read, and every refusal."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from models.handling import close
from models.letters import LetterError, Origin
from models.permissions import Actor
from models.stats import Period, report
from models.tables import Letter, LetterEvent, Role, Unit
from tests.conftest import expect, greet, join, post_letter


@pytest.fixture
async def county(bot, http):
    """An admin, two liaisons of 八仙镇 and their bound group, a liaison of 长安镇, a leader."""
    people = {
        "admin": bot.admin, "a1": bot.person(2101, "八仙甲"), "a2": bot.person(2102, "八仙乙"),
        "b": bot.person(2201, "长安丙"), "leader": bot.person(2301, "县长丁"),
    }
    await greet(bot.admin)
    for key, what in (("a1", "八仙镇"), ("a2", "八仙镇"), ("b", "长安镇"), ("leader", "leader")):
        await join(bot, people[key], what)
    group = bot.api.group("八仙镇信访工作群")
    people["a1"].send("/bind", chat=group)
    await people["a1"].receive(chat=group)
    people["group"] = group
    return people


async def assigned_letter(bot, http, county, **fields) -> tuple[int, dict]:
    """Posts a letter, assigns it to 八仙镇 from the admin's card; returns its id and the cards."""
    letter = await post_letter(http, **fields)
    card = await expect(county["admin"], f"#{letter['id']}")
    county["admin"].press(card, card.button("八仙镇"))
    cards = {
        "a1": await expect(county["a1"], f"#{letter['id']}"),
        "a2": await expect(county["a2"], f"#{letter['id']}"),
        "group": await expect(county["a1"], f"#{letter['id']}", chat=county["group"]),
        "admin": card,
    }
    return letter["id"], cards


async def events_of(bot, letter_id: int) -> list[str]:
    async with bot.services.db.reading() as session:
        return list((await session.scalars(select(LetterEvent.action).where(LetterEvent.letter_id == letter_id).order_by(LetterEvent.id))).all())


async def test_the_whole_loop(bot, http, county):
    a1, a2, b, leader, group = county["a1"], county["a2"], county["b"], county["leader"], county["group"]
    letter_id, cards = await assigned_letter(bot, http, county)
    assert {data for _, data in cards["a1"].buttons} == {f"letter:{a}:{letter_id}" for a in ("accept", "return", "done", "extend")}

    callback = a1.press(cards["a1"], cards["a1"].button("签收"))
    assert "已签收" in (await a1.answer_to(callback))["text"]
    await expect(a2, "签收人：八仙甲", kind="edit")

    # Another unit's liaison, in the group and by command: refused, nothing changes.
    callback = b.press(cards["group"], f"letter:accept:{letter_id}")
    assert "其他单位" in (await b.answer_to(callback))["text"]
    b.send(f"/done {letter_id} 我来办结")
    assert "其他单位" in (await b.receive()).text

    # The second liaison closes it by replying to the group's card.
    a2.send("路灯已全部修复，感谢监督。", chat=group, reply_to=cards["group"])
    await expect(a2, "已办结，谢谢", chat=group)
    notice = await expect(county["admin"], "已由八仙乙")
    assert f"#{letter_id}" in notice.text
    edited = await expect(a1, "办结人：八仙乙", kind="edit")
    assert edited.message_id == cards["a1"].message_id and not edited.buttons and "路灯已全部修复" in edited.text

    # The first liaison replies too: told who was first, nothing doubles.
    a1.send("我也修好了", reply_to=cards["a1"])
    assert "已由八仙乙" in (await expect(a1, "已由")).text
    async with bot.services.db.reading() as session:
        letter = await session.get(Letter, letter_id)
    assert letter.status == "done" and letter.reply == "路灯已全部修复，感谢监督。" and letter.closed_by == 2102
    assert await events_of(bot, letter_id) == ["received", "assigned", "accepted", "done"]

    # The leader reads, with no buttons; another unit's liaison may not.
    leader.send(f"/letter {letter_id}")
    card = await leader.receive()
    assert "已办结" in card.text and not card.buttons
    story = await expect(leader, "办理记录")
    for fragment in ("收到来信", "交办八仙镇", "八仙甲（私聊）：签收", "八仙乙（在“八仙镇信访工作群”）：已办结", "网站（API）"):
        assert fragment in story.text, (fragment, story.text)
    b.send(f"/letter {letter_id}")
    assert "没有您可以查看" in (await b.receive()).text
    leader.send(f"/assign {letter_id} 长安镇")
    assert "只有管理员" in (await leader.receive()).text
    leader.send(f"/return {letter_id} 领导退回")
    assert "只有本单位联络员和管理员" in (await leader.receive()).text


async def test_the_close_button_asks_for_the_reply(bot, http, county):
    a1 = county["a1"]
    letter_id, cards = await assigned_letter(bot, http, county)
    a1.press(cards["a1"], cards["a1"].button("办结"))
    prompt = await expect(a1, "答复内容")
    a1.send("已安排维修。", reply_to=prompt)
    assert "已办结" in (await a1.receive()).text
    # In the group the question names who pressed: the reply box opens for them (selective).
    other_id, other_cards = await assigned_letter(bot, http, county)
    a1.press(other_cards["group"], other_cards["group"].button("办结"))
    prompt = await expect(a1, "答复内容", chat=county["group"])
    assert prompt.text.startswith("八仙甲 "), prompt.text
    a1.send("已安排维修。", reply_to=prompt, chat=county["group"])
    assert "已办结" in (await expect(a1, f"#{other_id}", chat=county["group"], kind="message")).text


async def test_return_and_reassign(bot, http, county):
    a1, b, admin = county["a1"], county["b"], county["admin"]
    letter_id, cards = await assigned_letter(bot, http, county)
    a1.press(cards["a1"], cards["a1"].button("退回"))
    prompt = await expect(a1, "退回")
    a1.send("不属于本镇辖区，应由长安镇办理", reply_to=prompt)
    assert "已退回" in (await expect(a1, "退回县信息中心")).text
    returned = await expect(admin, "退回理由", kind="message")
    assert "不属于本镇辖区" in returned.text
    assert all("八仙镇" not in text for text, _ in returned.buttons)  # the returning unit is not suggested
    admin.send(f"/assign {letter_id} 长安")
    assert "已交办长安镇" in (await expect(admin, "已交办长安镇")).text
    card = await expect(b, f"#{letter_id}")
    assert "长安镇" in card.text and card.button("签收")
    assert (await events_of(bot, letter_id))[-2:] == ["returned", "assigned"]


async def test_an_admins_mine_lists_what_waits_for_assignment(bot, http, county):
    a1, admin, leader = county["a1"], county["admin"], county["leader"]
    admin.send("/mine")
    assert "没有待交办的信件" in (await admin.receive()).text
    returned_id, cards = await assigned_letter(bot, http, county)
    waiting = await post_letter(http, external_id="W-wait", title="学校门口<路灯>", received_at="2026-11-26T09:00:00+08:00")
    await expect(admin, f"#{waiting['id']}")  # its card
    a1.press(cards["a1"], cards["a1"].button("退回"))
    a1.send("不属于本镇辖区", reply_to=await expect(a1, "退回"))
    await expect(admin, "退回理由", kind="message")

    admin.send("/mine")
    listing = (await expect(admin, "待交办信件")).text
    assert "待交办信件（2 件）" in listing and "发送 /assign 加编号即可交办" in listing
    # The longest waiting first: received on the 26th, then the returned one of the 27th.
    assert listing.index(f"#{waiting['id']} 学校门口<路灯> — 2026-11-26 09:00 来信") < listing.index(f"#{returned_id} ")
    assert f"#{returned_id} 八仙镇村道路灯不亮 — 已退回：不属于本镇辖区" in listing
    # Assigned, it waits no more; a leader's /mine still points to /overdue.
    admin.send(f"/assign {returned_id} 长安")
    await expect(admin, "已交办长安镇")
    admin.send("/mine")
    assert "待交办信件（1 件）" in (await expect(admin, "待交办信件")).text
    # Not in a unit's group, where everyone would see every unit's letters.
    admin.send("/mine", chat=county["group"])
    assert "学校门口" not in (await expect(admin, "私聊中发送 /mine", chat=county["group"], kind="message")).text
    leader.send("/mine")
    assert "/overdue" in (await leader.receive()).text


async def test_reasons_are_masked_like_the_letter(bot, http, county):
    """A reason is free text: the sender's name, a phone or an ID number in it is masked wherever
    the bot shows it (the card, the history, the admin's /mine, the extension request)."""
    a1, admin, leader = county["a1"], county["admin"], county["leader"]
    letter_id, cards = await assigned_letter(bot, http, county, sender_name="张三丰")
    a1.press(cards["a1"], cards["a1"].button("申请延期"))
    a1.send("3 张三丰（13912345678）要求补充材料", reply_to=await expect(a1, "延期"))
    request = await expect(admin, "申请延期", kind="message")
    a1.press(cards["a1"], cards["a1"].button("退回"))
    a1.send("张三丰（13912345678，身份证610926198001011234）反映的是邻县问题", reply_to=await expect(a1, "退回", kind="message"))
    card = await expect(admin, "退回理由", kind="message")
    admin.send("/mine")
    waiting = await expect(admin, "待交办信件")
    leader.send(f"/letter {letter_id}")
    story = await expect(leader, "办理记录")
    for shown in (request, card, waiting, story):
        assert "13912345678" not in shown.text and "610926198001011234" not in shown.text and "张三丰" not in shown.text, shown.text
    assert "139****5678" in card.text and "张**" in story.text


async def test_a_reopen_notice_and_an_invalid_confirmation_are_masked(bot, http, county):
    a1, admin = county["a1"], county["admin"]
    letter_id, _ = await assigned_letter(bot, http, county, sender_name="张三丰")
    a1.send(f"/done {letter_id} 已修好")
    await expect(a1, "已办结")
    admin.send(f"/reopen {letter_id} 张三丰来电（13912345678）称仍未修好，身份证610926198001011234")
    notice = await expect(a1, "重办", kind="message")
    assert "139****5678" in notice.text and "张**" in notice.text, notice.text
    assert "13912345678" not in notice.text and "610926198001011234" not in notice.text and "张三丰" not in notice.text
    other = await post_letter(http, sender_name="李四")
    admin.send(f"/invalid {other['id']} 与李四13812345678此前来信重复")
    confirmation = (await expect(admin, "无效")).text
    assert "138****5678" in confirmation and "13812345678" not in confirmation and "李四" not in confirmation, confirmation


async def test_extensions_twice_then_refused(bot, http, county):
    a1, admin = county["a1"], county["admin"]
    letter_id, cards = await assigned_letter(bot, http, county)
    due = dt.date(2026, 12, 7)  # assigned Monday 2026-11-30: five working days later
    for new_due in (dt.date(2026, 12, 10), dt.date(2026, 12, 15)):
        a1.send(f"/extend {letter_id} 3 需要现场核实")
        await expect(a1, "已提交")
        request = await expect(admin, "申请延期 3 个工作日", kind="message")
        callback = admin.press(request, request.button("同意"))
        assert new_due.isoformat() in (await admin.answer_to(callback))["text"]
        assert new_due.isoformat() in (await expect(a1, "新的办理时限")).text
        due = new_due
    a1.send(f"/extend {letter_id} 2 还需要时间")
    await expect(a1, "已延期 2 次，不能")
    # The card's button says so at once, before any words are typed.
    assert "已延期 2 次，不能" in (await a1.answer_to(a1.press(cards["a1"], cards["a1"].button("申请延期"))))["text"]
    assert not [m.text for m in bot.api.pending(a1.id) if m.kind == "message"]
    async with bot.services.db.reading() as session:
        letter = await session.get(Letter, letter_id)
    assert letter.extensions == 2 and letter.due_date == due


async def test_extension_refused_and_none_after_the_deadline(bot, http, county):
    a1, admin = county["a1"], county["admin"]
    letter_id, cards = await assigned_letter(bot, http, county)
    a1.send(f"/extend {letter_id} 2 需要协调")
    await expect(a1, "已提交")
    a1.send(f"/extend {letter_id} 2 再来一次")
    await expect(a1, "等待审批")
    request = await expect(admin, "申请延期 2 个工作日")
    callback = admin.press(request, request.button("不同意"))
    assert "2026-12-07" in (await admin.answer_to(callback))["text"]
    assert "未获同意" in (await expect(a1, "未获同意")).text
    callback = admin.press(request, request.button("同意"))  # a second admin's stale press
    assert "已由" in (await admin.answer_to(callback))["text"]

    bot.clock.now += dt.timedelta(days=9)  # past the deadline
    a1.send(f"/extend {letter_id} 2 来不及了")
    await expect(a1, "已过")
    assert "已过" in (await a1.answer_to(a1.press(cards["a1"], cards["a1"].button("申请延期"))))["text"]


async def test_approving_an_extension_while_the_letter_closes_does_not_deadlock(bot, http, county, database_url):
    """Closing takes the letter, then lapses its requests; approving took the request, then the
    letter. Now both take the letter first: the approval waits for the close and is then refused."""
    from models.handling import decide_extension
    from models.letters import lapse_requests, letter_for_update
    from models.tables import ExtensionRequest

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one writer in at a time: nothing to interleave")
    a1 = county["a1"]
    letter_id, cards = await assigned_letter(bot, http, county)
    a1.send(f"/extend {letter_id} 2 需要协调")
    await expect(a1, "已提交")
    services = bot.services
    async with services.db.reading() as session:
        request_id = await session.scalar(select(ExtensionRequest.id).where(ExtensionRequest.letter_id == letter_id))
    admin_actor = Actor(telegram_id=1001, role=Role.ADMIN)
    closing_holds_the_letter = asyncio.Event()

    async def closing() -> None:
        async with services.db.transaction() as session:
            await letter_for_update(session, letter_id)
            closing_holds_the_letter.set()
            await asyncio.sleep(0.5)  # the approval starts meanwhile
            await lapse_requests(session, letter_id, services.now())

    async def approving() -> str:
        await closing_holds_the_letter.wait()
        try:
            async with services.db.transaction() as session:
                await decide_extension(session, services.rules, request_id, True, Origin("person", admin_actor), services.now())
        except LetterError as exc:
            return exc.message
        return "approved"

    _, outcome = await asyncio.wait_for(asyncio.gather(closing(), approving()), 30)
    assert "out of date" in outcome or "already decided" in outcome, outcome


async def test_a_letter_of_a_retired_unit_is_not_reopened(bot, http, county):
    admin, a1 = county["admin"], county["a1"]
    letter_id, _ = await assigned_letter(bot, http, county)
    a1.send(f"/done {letter_id} 已修复")
    await expect(a1, "已办结")
    async with bot.services.db.transaction() as session:
        letter = await session.get(Letter, letter_id)
        unit = await session.get(Unit, letter.unit_id)
        unit.active = False  # dropped from the units file
    admin.send(f"/reopen {letter_id} 群众不满意")
    assert "八仙镇已不存在" in (await expect(admin, "不能重办")).text
    async with bot.services.db.reading() as session:
        assert (await session.get(Letter, letter_id)).status == "done"


async def test_an_edited_message_is_not_acted_on_again(bot, http, county):
    a1, group = county["a1"], county["group"]
    letter_id, cards = await assigned_letter(bot, http, county)
    sent = a1.send("路灯已修", reply_to=cards["a1"])
    await expect(a1, "已办结，谢谢")
    a1.edit(sent, "路灯已全部修复，感谢监督")
    assert "以您第一次发送的内容为准" in (await expect(a1, "修改过的消息", kind="message")).text
    command = a1.send(f"/extend {letter_id} 2 需要协调")
    refusal = (await expect(a1, f"#{letter_id}", kind="message")).text  # closed: nothing to extend
    a1.edit(command, f"/extend {letter_id} 3 需要协调")
    assert "修改过" not in refusal
    await expect(a1, "修改过的消息", kind="message")
    chatter = a1.send("今天开会", chat=group)
    a1.edit(chatter, "今天下午开会")  # a group's own talk, edited: no word from the bot
    a1.send("/help", chat=group)
    await expect(a1, "/rate", chat=group, kind="message")
    assert not [m for m in bot.api.pending(group["id"]) if "修改过" in m.text]
    async with bot.services.db.reading() as session:
        assert (await session.get(Letter, letter_id)).reply == "路灯已修"
    assert (await events_of(bot, letter_id)).count("done") == 1
    a1.send("/lang en")  # the app stays Chinese: the word about an edit follows the choice
    await expect(a1, "English")
    command = a1.send("/mine")
    await expect(a1, "no open letters", kind="message")
    a1.edit(command, "/mine ")
    assert "what you sent first stands" in (await expect(a1, "edited", kind="message")).text


async def test_a_leader_reads_a_card_with_nothing_to_do_on_it(bot, http, county):
    leader = county["leader"]
    waiting = await post_letter(http, external_id="R1", title="路灯来信")
    assigned_id, _ = await assigned_letter(bot, http, county, external_id="R2")
    for letter_id in (waiting["id"], assigned_id):
        leader.send(f"/letter {letter_id}")
        card = await expect(leader, f"#{letter_id} 号来信", kind="message")
        assert not card.buttons and "回复本条消息" not in card.text and "交办的" not in card.text, card.text
    assert "八仙镇" in card.text  # the assigned one names its unit in its status


async def test_illegal_transitions_change_nothing(bot, http, county):
    admin, a1 = county["admin"], county["a1"]
    fresh = await post_letter(http, external_id="N1")
    await expect(admin, f"#{fresh['id']}")
    admin.send(f"/done {fresh['id']} 直接办结")
    assert "待交办" in (await admin.receive()).text
    admin.send(f"/reopen {fresh['id']} 重办")
    assert "不能重办" in (await admin.receive()).text
    admin.send(f"/invalid {fresh['id']}")
    reasons = await admin.receive()
    admin.press(reasons, reasons.button("无法联系来信人"))
    await expect(admin, "无法联系来信人", kind="edit")
    letter_id, cards = await assigned_letter(bot, http, county, external_id="N2")
    a1.send(f"/done {letter_id} 好了")
    await expect(a1, "谢谢")
    callback = a1.press(cards["a1"], f"letter:accept:{letter_id}")  # a stale button
    assert "已由八仙甲" in (await a1.answer_to(callback))["text"]
    a1.send(f"/return {letter_id} 不想办")
    await expect(a1, "已由八仙甲", kind="message")
    a1.send(f"/reopen {letter_id} 再办")
    await expect(a1, "只有管理员")
    a1.send("/done 12")
    await expect(a1, "用法")
    assert await events_of(bot, letter_id) == ["received", "assigned", "done"]


async def test_reopen_sends_it_back_with_a_new_deadline(bot, http, county):
    admin, a1 = county["admin"], county["a1"]
    letter_id, _ = await assigned_letter(bot, http, county)
    a1.send(f"/done {letter_id} 已处理")
    await expect(a1, "谢谢")
    bot.clock.now += dt.timedelta(days=2)  # Wednesday 2026-12-02
    admin.send(f"/reopen {letter_id} 群众不满意，请重新核实")
    assert "退回原单位" in (await expect(admin, "退回原单位")).text
    assert "群众不满意" in (await expect(a1, "退回重办")).text
    card = await expect(a1, f"#{letter_id}", kind="message")
    assert "2026-12-09" in card.text and card.button("签收")


async def test_reply_to_a_list_asks_which_letter(bot, http, county):
    a1 = county["a1"]
    first, _ = await assigned_letter(bot, http, county, external_id="L1")
    second, _ = await assigned_letter(bot, http, county, external_id="L2")
    a1.send("/mine")
    listing = await expect(a1, "在办信件")
    assert f"#{first}" in listing.text and f"#{second}" in listing.text and "还剩 5 个工作日" in listing.text
    a1.send("两件都在办，先答复一件", reply_to=listing)
    question = await a1.receive()
    assert "哪一件" in question.text
    callback = a1.press(question, f"reply:letter:{second}")
    assert "已办结" in (await a1.answer_to(callback))["text"]
    async with bot.services.db.reading() as session:
        assert (await session.get(Letter, second)).reply == "两件都在办，先答复一件"
        assert (await session.get(Letter, first)).status == "assigned"


async def test_each_reply_waiting_for_its_letter_keeps_its_own_words(bot, http, county):
    """Two replies to lists, each asked which letter: each question's buttons close with its own
    reply, and every letter of the list has a button (twelve here)."""
    a1 = county["a1"]
    ids = [(await assigned_letter(bot, http, county, external_id=f"M{i}"))[0] for i in range(12)]
    questions = []
    for words in ("答复甲：已修复", "答复乙：已转交"):
        a1.send("/mine")
        a1.send(words, reply_to=await expect(a1, "在办信件"))
        questions.append(await expect(a1, "哪一件"))
    assert {data for _, data in questions[0].buttons} == {f"reply:letter:{i}" for i in ids}
    assert f"“{min(ids)} ……”" in questions[0].text  # how to name the letter instead
    assert "已办结" in (await a1.answer_to(a1.press(questions[0], f"reply:letter:{ids[11]}")))["text"]
    assert "已办结" in (await a1.answer_to(a1.press(questions[1], f"reply:letter:{ids[0]}")))["text"]
    async with bot.services.db.reading() as session:
        assert (await session.get(Letter, ids[11])).reply == "答复甲：已修复"
        assert (await session.get(Letter, ids[0])).reply == "答复乙：已转交"
    # Each reply closes one letter: a second press finds nothing waiting.
    callback = a1.press(questions[0], f"reply:letter:{ids[5]}")
    assert "已失效" in (await a1.answer_to(callback))["text"]


async def test_overdue_lists_by_unit(bot, http, county):
    admin, leader, b = county["admin"], county["leader"], county["b"]
    letter_id, _ = await assigned_letter(bot, http, county)
    admin.send("/overdue")
    await expect(admin, "没有超期")  # card refreshes of the assignment may come first
    bot.clock.now += dt.timedelta(days=10)  # Thursday 2026-12-10: three working days past 12-07
    leader.send("/overdue 八仙")
    listing = await leader.receive()
    assert "八仙镇" in listing.text and f"#{letter_id}" in listing.text and "超期 3 个工作日" in listing.text
    b.send("/overdue 八仙镇")
    assert "只能查看本单位" in (await b.receive()).text


async def test_late_on_a_day_off_reads_late(bot, http, county):
    """Due Friday 2026-12-11, looked at on Saturday: no working day has passed, yet it is late."""
    admin = county["admin"]
    shanghai = dt.timezone(dt.timedelta(hours=8))
    bot.clock.now = dt.datetime(2026, 12, 4, 10, 0, tzinfo=shanghai).astimezone(dt.UTC)  # a Friday
    letter_id, _ = await assigned_letter(bot, http, county)
    bot.clock.now = dt.datetime(2026, 12, 12, 10, 0, tzinfo=shanghai).astimezone(dt.UTC)
    admin.send("/overdue")
    listing = (await expect(admin, f"#{letter_id}", kind="message")).text
    assert "2026-12-11" in listing and "已过期限" in listing and "超期 0" not in listing, listing


async def test_two_closes_at_once_close_once(bot, http, county):
    letter_id, _ = await assigned_letter(bot, http, county)
    services = bot.services
    people = [Actor(2101, Role.LIAISON, unit_id=8, full_name="八仙甲"), Actor(2102, Role.LIAISON, unit_id=8, full_name="八仙乙")]

    async def attempt(actor: Actor, text: str):
        try:
            async with services.db.transaction() as session:
                await close(session, services.rules, letter_id, text, Origin("person", actor, actor.telegram_id), services.now())
            return "closed"
        except LetterError as exc:
            return exc.message

    results = await asyncio.gather(attempt(people[0], "甲的答复"), attempt(people[1], "乙的答复"))
    assert sorted(results) == sorted(["closed", "Letter #{id} was already closed by {name} at {time}."])
    assert (await events_of(bot, letter_id)).count("done") == 1


async def test_a_button_answer_shows_names_as_written(bot, http, county):
    """A button's answer is plain text: a name with & and < reads as written, not as HTML."""
    a2 = county["a2"]
    odd = bot.person(2103, "Tom & <Jerry>")
    await join(bot, odd, "八仙镇")
    letter_id, cards = await assigned_letter(bot, http, county)
    odd.send(f"/done {letter_id} 已修复")
    await expect(odd, "已办结")
    alert = (await a2.answer_to(a2.press(cards["a2"], f"letter:accept:{letter_id}")))["text"]
    assert "Tom & <Jerry>" in alert and "&amp;" not in alert, alert


async def test_english_counts_read_in_the_singular_and_the_plural(bot, http, county):
    """One working day, one extension: the English catalog has a form for each (Chinese has one)."""
    a1, admin = county["a1"], county["admin"]
    for person in (a1, admin):
        person.send("/lang en")
        await expect(person, "English")
    letter_id, _ = await assigned_letter(bot, http, county)  # due 2026-12-07, five working days on
    a1.send(f"/extend {letter_id} 1 需要现场核实")
    await expect(a1, "went to the information centre")
    request = await expect(admin, "asks 1 more working day for", kind="message")
    assert "working days" not in request.text, request.text
    callback = admin.press(request, request.button("Approve"))
    await admin.answer_to(callback)
    a1.send(f"/letter {letter_id}")
    card = (await expect(a1, "Extended 1 time")).text
    assert "Extended 1 times" not in card, card
    assert "asked for 1 more working day:" in (await expect(a1, "History of letter")).text
    a1.send(f"/extend {letter_id} 2 还需要时间")
    await expect(a1, "went to the information centre")
    request = await expect(admin, "asks 2 more working days for", kind="message")
    admin.press(request, request.button("Approve"))
    await expect(a1, "the new deadline is 2026-12-10")
    a1.send("/mine")
    listing = (await expect(a1, f"#{letter_id}", "left")).text
    assert "due 2026-12-10 (8 working days left)" in listing, listing
    bot.clock.now += dt.timedelta(days=11)  # Friday 2026-12-11: one working day past the 10th
    a1.send("/mine")
    listing = (await expect(a1, f"#{letter_id}", "overdue")).text
    assert "(overdue by 1 working day)" in listing, listing


async def test_letter_shows_in_full_what_the_card_shortened(bot, http, county):
    """A long title, letter and reply (emoji count twice, as Telegram counts them): the card stays
    within Telegram's limit and is updated when the letter closes; /letter sends all of each."""
    a1, leader = county["a1"], county["leader"]
    title = "八仙镇" + "😀" * 150 + "标题完"
    content = "🙏" * 1450 + "信件完"
    letter_id, cards = await assigned_letter(bot, http, county, title=title, content=content)
    reply = "经核查，" + "镇政府已组织人员现场查看并安排维修，" * 60 + "答复完毕。"
    a1.send(reply, reply_to=cards["a1"])
    await expect(a1, "已办结，谢谢")
    closed = await expect(a1, "办结人：八仙甲", kind="edit")
    assert "答复完毕" not in closed.text and "/letter" in closed.text
    leader.send(f"/letter {letter_id}")
    sent = [await leader.receive()]
    while "办理记录" not in sent[-1].text:  # the history comes last
        sent.append(await leader.receive())
    assert all(len(m.text.encode("utf-16-le")) // 2 <= 4096 for m in sent)
    texts = "\n".join(m.text for m in sent)
    for end in ("标题完", "信件完", "答复完毕。"):
        assert end in texts, end


async def test_a_late_letter_redone_quickly_is_still_late(bot, http, county):
    """重办 after a late closing: the second round adds its working days to the first, and the
    letter is not on time because the second round was quick."""
    from tests.test_sweep import at

    a1, admin = county["a1"], county["admin"]
    letter_id, _ = await assigned_letter(bot, http, county)  # Monday 2026-11-30, due 2026-12-07
    at(bot, "2026-12-14", "10:00")  # a week late
    a1.send(f"/done {letter_id} 已处理")
    await expect(a1, "已办结，谢谢", kind="message")
    admin.send(f"/reopen {letter_id} 群众不满意")
    await expect(admin, "退回原单位重办")
    at(bot, "2026-12-15", "10:00")
    a1.send(f"/done {letter_id} 已重新处理")
    await expect(a1, "已办结，谢谢", kind="message")
    async with bot.services.db.reading() as session:
        letter = await session.get(Letter, letter_id)
        figures = (await report(session, Period(dt.date(2026, 10, 1), dt.date(2026, 12, 31)), bot.services.settings.tz, dt.date(2026, 12, 15))).total
    assert (letter.closed_on_time, letter.handling_workdays) == (False, 10 + 1)
    assert (figures.done, figures.on_time) == (1, 0)


async def test_a_reopened_letter_keeps_the_extensions_it_had(bot, http, county):
    a1, admin = county["a1"], county["admin"]
    letter_id, _ = await assigned_letter(bot, http, county)
    for _ in range(2):
        a1.send(f"/extend {letter_id} 1 需要现场核实")
        await expect(a1, "已提交")
        request = await expect(admin, "申请延期 1 个工作日", kind="message")
        await admin.answer_to(admin.press(request, request.button("同意")))
    a1.send(f"/done {letter_id} 已处理")
    await expect(a1, "已办结，谢谢", kind="message")
    admin.send(f"/reopen {letter_id} 群众不满意")
    await expect(admin, "退回原单位重办")
    a1.send(f"/extend {letter_id} 3 还需要时间")  # a letter is extended at most twice
    await expect(a1, "已延期 2 次，不能")
    # Returned and assigned to the same unit again, it still counts them; another unit starts afresh.
    for unit, extensions, carried in (("八仙镇", 2, True), ("长安镇", 0, False)):
        a1.send(f"/return {letter_id} 请重新交办")
        await expect(a1, "已退回", kind="message")
        admin.send(f"/assign {letter_id} {unit}")
        await expect(admin, f"已交办{unit}")
        if unit == "八仙镇":
            await expect(a1, f"交办八仙镇的 #{letter_id}", kind="message")
        async with bot.services.db.reading() as session:
            letter = await session.get(Letter, letter_id)
        assert (letter.extensions, letter.handling_workdays is not None) == (extensions, carried), unit
        if unit == "八仙镇":
            a1.send(f"/extend {letter_id} 1 还要核实")
            await expect(a1, "已延期 2 次，不能")


async def test_assigning_to_a_unit_nobody_hears_for_says_so(bot, http, county):
    admin = county["admin"]
    letter = await post_letter(http)
    card = await expect(admin, f"#{letter['id']}")
    admin.send(f"/assign {letter['id']} 西河")  # 西河镇: no liaison, no group
    warned = await expect(admin, "已交办西河镇")
    assert "没有人会收到" in warned.text and "/invite 西河镇" in warned.text
    other = await post_letter(http)
    card = await expect(admin, f"#{other['id']}")
    callback = admin.press(card, card.button("八仙镇"))  # 八仙镇 has its liaisons: no warning
    assert "没有人会收到" not in (await admin.answer_to(callback))["text"]
