"""Letters typed in with /new or forwarded, and the admins' card: assign and invalid."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import Letter, LetterEvent
from tests.conftest import expect, greet, join, post_letter


async def stored(bot) -> list[Letter]:
    async with bot.services.db.reading() as session:
        return list((await session.scalars(select(Letter).order_by(Letter.id))).all())


async def test_new_letter_step_by_step(bot):
    admin = bot.admin
    admin.send("/new")
    assert "标题" in (await admin.receive()).text
    admin.send("西河镇<自来水>停水 & 无人管")
    assert "内容" in (await admin.receive()).text
    admin.send("西河镇老街停水三天了，电话 13912345678")
    assert "姓名" in (await admin.receive()).text
    admin.send("/skip")
    assert "电话" in (await admin.receive()).text
    admin.send("13912345678")
    assert "时间" in (await admin.receive()).text
    admin.send("明天上午")
    assert "不是有效" in (await admin.receive()).text
    admin.send("2019-03-05 10:00")
    # The answer, and the card to assign it (sent by the outbox, so it may come first).
    saved, card = sorted([await admin.receive(), await admin.receive()], key=lambda m: m.text.startswith("📨"))
    assert "已保存为 #1" in saved.text
    assert "西河镇<自来水>停水 & 无人管" in card.text and "139****5678" in card.text
    assert card.button("西河镇").startswith("letter:assign:1:")
    [letter] = await stored(bot)
    assert letter.sender_phone == "13912345678" and letter.sender_name is None and letter.external_id is None


async def test_a_refused_answer_is_asked_again_and_the_rest_kept(bot):
    """What only the whole letter's check finds (a name too long, a time in the future) is asked
    for again, named in the admin's words; nothing else typed is lost."""
    admin = bot.admin
    admin.send("/new")
    await admin.receive()
    for answer in ("路灯不亮", "村道路灯坏了", "张" * 101, "13912345678"):
        admin.send(answer)
        await admin.receive()
    admin.send("2099-03-05 10:00")  # a date, so this step takes it; the whole check refuses two fields
    asked = (await admin.receive()).text
    assert asked.startswith("来信人姓名太长") and "sender_name" not in asked, asked
    admin.send("张三")  # the next refused field is asked at once: the answers after the name stand
    assert (await admin.receive()).text.startswith("来信时间晚于当前时间")
    admin.send("2019-03-05 10:00")
    assert "#1" in (await admin.receive()).text
    [letter] = await stored(bot)
    assert (letter.title, letter.content, letter.sender_name, letter.sender_phone) == ("路灯不亮", "村道路灯坏了", "张三", "13912345678")


async def test_cancel_at_any_step_saves_nothing(bot):
    admin = bot.admin
    admin.send("/new")
    await admin.receive()
    admin.send("标题")
    await admin.receive()
    admin.send("/cancel")
    assert "取消" in (await admin.receive()).text
    admin.send("这句话不再是内容")
    admin.send("/help")
    assert "/new" in (await admin.receive()).text  # the chatter above got no answer
    assert await stored(bot) == []


async def test_forwarded_message_starts_a_letter(bot):
    admin = bot.admin
    admin.forward("县城管局执法人员态度恶劣\n昨天在城关镇摆摊被没收")
    assert "转发" in (await admin.receive()).text
    admin.send("/skip")  # the title becomes the first line
    await admin.receive()
    admin.send("李某")
    await admin.receive()
    admin.send("/skip")
    await admin.receive()
    admin.send("/skip")
    assert "#1" in (await admin.receive()).text
    [letter] = await stored(bot)
    assert letter.title == "县城管局执法人员态度恶劣" and "摆摊" in letter.content and letter.sender_name == "李某"


async def test_a_new_start_mid_letter_starts_over_and_a_reply_to_a_card_is_the_cards(bot, http):
    """/new or a forward while a letter is being typed in starts the new one; a reply to a letter's
    message meanwhile closes that letter, and the typing goes on where it was."""
    admin = bot.admin
    await greet(admin)
    admin.send("/new")
    await admin.receive()
    admin.send("第一封的标题")
    assert "内容" in (await admin.receive()).text
    admin.send("/new")
    assert "标题" in (await admin.receive()).text  # asked again: a new letter
    admin.forward("老街停水三天了\n无人管")
    assert "转发" in (await admin.receive()).text
    letter = await post_letter(http, unit="八仙镇")
    await expect(admin, f"#{letter['id']}")  # the admins' card
    admin.send(f"/letter {letter['id']}")  # a command meanwhile is answered as ever
    card = await admin.receive()
    await expect(admin, "办理记录")
    admin.send("已电话答复来信人", reply_to=card)
    assert "已办结" in (await expect(admin, f"#{letter['id']}", kind="message")).text
    admin.send("/skip")  # the title step of the forwarded letter, still where it was
    await expect(admin, "姓名", kind="message")  # the closed letter's card refresh may come between
    for answer in ("/skip", "/skip", "/skip"):
        admin.send(answer)
    saved = await expect(admin, "已保存为")
    [typed] = [row for row in await stored(bot) if row.external_id is None]
    assert (typed.title, typed.content) == ("老街停水三天了", "老街停水三天了\n无人管"), saved.text
    async with bot.services.db.reading() as session:
        assert (await session.get(Letter, letter["id"])).reply == "已电话答复来信人"


async def test_small_words_where_there_was_silence(bot):
    admin = bot.admin
    admin.send("/cancel")
    assert "没有可以取消" in (await admin.receive()).text
    group = bot.api.group("信息中心群")
    admin.send("/new", chat=group)
    assert "私聊" in (await admin.receive(chat=group)).text
    admin.send("/new")
    await admin.receive()
    admin.send("路灯不亮")
    await admin.receive()
    admin.send("/skip")  # no content: a title may say it all
    assert "姓名" in (await admin.receive()).text


async def test_strangers_and_liaisons_cannot_type_letters(bot):
    liaison = bot.person(1401, "赵联络")
    await join(bot, liaison, "城关镇")
    liaison.send("/new")
    assert "只有管理员" in (await liaison.receive()).text
    liaison.forward("随便转发一条")
    assert "只有管理员" in (await liaison.receive()).text
    assert await stored(bot) == []


async def test_assign_from_the_card_tells_the_unit_and_updates_the_card(bot):
    admin = bot.admin
    liaison = bot.person(1402, "钱联络")
    await join(bot, liaison, "西河镇")
    admin.send("/new")
    for answer in ("西河镇停水", "老街停水三天", "/skip", "/skip", "/skip"):
        await admin.receive()
        admin.send(answer)
    await admin.receive()
    card = await admin.receive()

    callback = admin.press(card, card.button("西河镇"))
    assert "西河镇" in (await admin.answer_to(callback))["text"]
    unit_card = await liaison.receive()
    assert "西河镇" in unit_card.text and unit_card.button("签收") == "letter:accept:1"
    edited = await admin.receive()
    assert edited.kind == "edit" and edited.message_id == card.message_id and not edited.buttons
    assert "已交办" in edited.text

    callback = admin.press(card, card.button("西河镇"))  # pressed twice: refused, nothing doubles
    assert "不能交办" in (await admin.answer_to(callback))["text"]
    callback = liaison.press(unit_card, "letter:assign:1:3")  # a forged admin button
    assert "只有管理员" in (await liaison.answer_to(callback))["text"]
    async with bot.services.db.reading() as session:
        actions = (await session.scalars(select(LetterEvent.action).where(LetterEvent.letter_id == 1))).all()
    assert actions == ["received", "assigned"]


async def test_any_unit_by_pages_and_invalid_with_reasons(bot):
    admin = bot.admin
    admin.send("/new")
    for answer in ("没有地名的来信", "内容", "/skip", "/skip", "/skip"):
        await admin.receive()
        admin.send(answer)
    await admin.receive()
    card = await admin.receive()
    assert [text for text, _ in card.buttons] == ["其他单位…", "无效…"]  # no suggestion fits

    admin.press(card, card.button("其他单位"))
    page = await admin.receive()
    assert page.buttons[0] == ("城关镇", "letter:assign:1:1") and page.button("下一页") == "letter:units:1:1"
    admin.press(page, page.button("下一页"))
    second = await admin.receive()
    assert second.buttons[0][0] == "长安镇"  # the ninth unit of the file
    admin.press(second, second.button("返回"))
    back = await admin.receive()
    assert [text for text, _ in back.buttons] == ["其他单位…", "无效…"]

    admin.press(back, back.button("无效"))
    reasons = await admin.receive()
    callback = admin.press(reasons, reasons.button("重复来信"))
    assert "无效" in (await admin.answer_to(callback))["text"]
    refreshed = await admin.receive()
    assert "重复来信" in refreshed.text and not refreshed.buttons
    [letter] = await stored(bot)
    assert letter.status == "invalid" and letter.invalid_reason == "重复来信"

    admin.send("/invalid 1 又一次")
    assert "不能标为无效" in (await admin.receive()).text
    admin.send("/invalid 99 不存在")
    assert "没有 #99 号信件" in (await admin.receive()).text
    admin.send("/invalid")
    assert "用法" in (await admin.receive()).text


async def test_a_very_long_invalid_reason_is_confirmed_shortened(bot, http):
    """Stored (cut at 2,000 characters) and confirmed with the reason shortened, not refused by
    Telegram as too long after the change was made."""
    admin = bot.admin
    await greet(admin)
    letter = await post_letter(http, external_id="LONG1")
    await expect(admin, f"#{letter['id']}")
    admin.send(f"/invalid {letter['id']} " + "重复来信，" * 820)
    confirmation = await expect(admin, "标为无效")
    assert len(confirmation.text) < 1000 and "…" in confirmation.text
    [stored_letter] = await stored(bot)
    assert stored_letter.status == "invalid" and len(stored_letter.invalid_reason) == 2000
