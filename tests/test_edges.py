"""Edges found in review: long texts, stale requests, group takeovers, documents in groups."""

from __future__ import annotations

from tests.conftest import expect, greet, join, post_letter
from tests.test_sweep import at, settle


async def test_a_group_bound_to_one_unit_cannot_be_taken_by_another(bot):
    baxian, changan = bot.person(5101, "八仙联络员"), bot.person(5102, "长安联络员")
    await join(bot, baxian, "八仙镇")
    await join(bot, changan, "长安镇")
    group = bot.api.group("八仙镇群")
    baxian.send("/bind", chat=group)
    await baxian.receive(chat=group)
    changan.send("/bind", chat=group)
    assert "已绑定八仙镇" in (await changan.receive(chat=group)).text
    bot.admin.send("/bind 长安镇", chat=group)  # an admin may
    assert "长安镇" in (await bot.admin.receive(chat=group)).text


async def test_an_old_units_extension_request_lapses_on_reassignment(bot, http):
    await greet(bot.admin)
    a, b = bot.person(5201, "八仙甲"), bot.person(5202, "长安乙")
    await join(bot, a, "八仙镇")
    await join(bot, b, "长安镇")
    letter = await post_letter(http, unit="八仙镇")
    await expect(a, f"#{letter['id']}")
    a.send(f"/extend {letter['id']} 10 需要协调")
    await expect(a, "已提交")
    request = await expect(bot.admin, "申请延期 10 个工作日", kind="message")
    a.send(f"/return {letter['id']} 应由长安镇办理")
    await expect(a, "退回县信息中心")
    bot.admin.send(f"/assign {letter['id']} 长安镇")
    await expect(bot.admin, "已交办长安镇")
    callback = bot.admin.press(request, request.button("同意"))
    assert "已过时" in (await bot.admin.answer_to(callback))["text"]
    b.send(f"/extend {letter['id']} 2 需要核实")  # the new unit may ask
    await expect(b, "已提交")
    old_card = await expect(a, "不再由本单位办理", kind="edit")
    assert not old_card.buttons


async def test_long_texts_never_break_a_message(bot, http):
    await greet(bot.admin)
    liaison = bot.person(5301, "八仙丙")
    await join(bot, liaison, "八仙镇")
    letter = await post_letter(http, title="标" * 500, content="&<" * 3000, unit="八仙镇")
    card = await expect(liaison, f"#{letter['id']}")
    assert len(card.text) < 4096
    liaison.send(f"/return {letter['id']} " + "理由&" * 1000)
    returned = await expect(bot.admin, "退回理由", kind="message")
    assert len(returned.text) < 4096 and "已截断" in returned.text
    bot.admin.send(f"/letter {letter['id']}")
    parts = [await bot.admin.receive() for _ in range(5)]  # the card, then in full what it shortened
    assert parts[1].text == "标题：" + "标" * 500
    assert "".join(p.text for p in parts[2:4]) == "&<" * 3000
    assert "办理记录" in parts[4].text


async def test_big_digests_are_capped(bot, http):
    liaison = bot.person(5401, "八仙丁")
    await join(bot, liaison, "八仙镇")
    for i in range(40):
        await post_letter(http, external_id=f"D{i}", unit="八仙镇", title=f"第{i}件")
    await settle(bot)
    bot.api.pending(liaison.id)
    at(bot, "2026-12-10")
    from scheduler.jobs import scheduled_sweep

    await scheduled_sweep(bot.services, "schedule")
    await settle(bot)
    digest = await expect(liaison, "办理提醒")
    assert "另有 10 件" in digest.text and len(digest.text) < 4096 and len(digest.buttons) == 8


async def test_documents_in_groups_are_not_imports(bot):
    liaison = bot.person(5501, "八仙戊")
    await join(bot, liaison, "八仙镇")
    group = bot.api.group("八仙镇群")
    liaison.send("/bind", chat=group)
    await liaison.receive(chat=group)
    liaison.send_document(b"%PDF-1.4 reply scan", "答复.pdf", "application/pdf", chat=group)
    bot.admin.send_document(b"external_id,title\n", "stats.csv", "text/csv", chat=group)
    liaison.send("/help", chat=group)
    assert "/mine" in (await liaison.receive(chat=group)).text  # nothing answered the documents


async def a_bound_group_and_its_supergroup(bot, user_id: int, name: str, new_id: int) -> tuple:
    """A liaison of 八仙镇 and the group they bound; the supergroup it is about to become."""
    liaison = bot.person(user_id, name)
    await join(bot, liaison, "八仙镇")
    group = bot.api.group("八仙镇群")
    liaison.send("/bind", chat=group)
    await liaison.receive(chat=group)
    return liaison, group, {"id": new_id, "type": "supergroup", "title": "八仙镇群"}


async def test_a_group_upgraded_to_a_supergroup_is_followed(bot, http):
    from sqlalchemy import select

    from models.tables import UnitChat

    liaison, group, new_group = await a_bound_group_and_its_supergroup(bot, 5601, "八仙己", -1009999)
    liaison.send("hi", chat=new_group)  # the supergroup exists on Telegram's side
    bot.api.fail_next("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
                      migrate_to=new_group["id"], chat_id=group["id"])
    letter = await post_letter(http, unit="八仙镇")
    card_private = await expect(liaison, f"#{letter['id']}")
    assert card_private.button("签收")
    card_group = await expect(liaison, f"#{letter['id']}", chat=new_group)
    assert card_group.button("签收")
    async with bot.services.db.reading() as session:
        assert (await session.scalars(select(UnitChat.chat_id))).all() == [new_group["id"]]


async def test_an_upgraded_group_bound_again_gets_its_cards_once(bot, http):
    """/bind in the supergroup before Telegram told us of the upgrade: both ids are bound, and the
    send to the old one is refused. The old binding goes; the new group gets each card once, and
    no message is left claimed."""
    from sqlalchemy import select

    from models.tables import Outbox, OutboxState, UnitChat

    liaison, group, new_group = await a_bound_group_and_its_supergroup(bot, 5602, "八仙壬", -1009998)
    liaison.send("/bind", chat=new_group)
    await liaison.receive(chat=new_group)
    bot.api.fail_next("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
                      migrate_to=new_group["id"], chat_id=group["id"])
    letter = await post_letter(http, unit="八仙镇")
    await expect(liaison, f"#{letter['id']}")
    card = await expect(liaison, f"#{letter['id']}", chat=new_group)
    liaison.press(card, card.button("签收"))  # the card edits reach every other chat
    await expect(liaison, "签收人", kind="edit")
    await settle(bot)
    assert [m for m in bot.api.pending(new_group["id"]) if m.kind == "message"] == []  # not a second copy
    async with bot.services.db.reading() as session:
        assert (await session.scalars(select(UnitChat.chat_id))).all() == [new_group["id"]]
        assert (await session.scalars(select(Outbox.id).where(Outbox.state == OutboxState.SENDING))).all() == []


async def test_joining_works_when_the_inviter_blocked_the_bot(bot):
    bot.admin.send("/invite 八仙镇")
    code = (await bot.admin.receive()).text.split("?start=")[1].split()[0]
    bot.api.started.discard(bot.admin.id)  # the admin blocked the bot meanwhile
    liaison = bot.person(5701, "八仙庚")
    liaison.send(f"/start {code}")
    assert "欢迎" in (await liaison.receive()).text
    liaison.send("/help")
    assert "/mine" in (await liaison.receive()).text  # no "something went wrong" in between


async def test_a_liaison_of_a_removed_unit_holds_no_unit_rights(bot):
    from sqlalchemy import update

    from models.tables import Unit

    liaison = bot.person(5801, "八仙辛")
    await join(bot, liaison, "八仙镇")
    async with bot.services.db.transaction() as session:
        await session.execute(update(Unit).where(Unit.name == "八仙镇").values(active=False))
    liaison.send("/rate")
    assert "无权查看" in (await liaison.receive()).text
    liaison.send("/mine")
    assert "/mine" in (await liaison.receive()).text
