"""/remove: a liaison who changed jobs loses access at once; the letters' history keeps their name;
ADMIN_IDS admins and the admin themselves cannot be removed; a new invitation brings them back."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from models.outbox import Kind
from models.tables import Member, Outbox
from tests.conftest import ADMIN_ID, expect, greet, join, post_letter

STRANGER = "请向县信息中心管理员索取邀请链接"


async def role_of(bot, telegram_id: int) -> tuple[str | None, int | None]:
    async with bot.services.db.reading() as session:
        row = (await session.execute(select(Member.role, Member.unit_id).where(Member.telegram_id == telegram_id))).one_or_none()
    return (row.role, row.unit_id) if row else (None, None)


async def test_a_removed_liaison_sees_nothing_and_can_be_invited_again(bot, http):
    admin, liaison = bot.admin, bot.person(8101, "李梅")
    await greet(admin)
    await join(bot, liaison, "八仙镇")
    letter = await post_letter(http, unit="八仙镇")
    card = await expect(liaison, f"#{letter['id']}", kind="message")
    liaison.press(card, card.button("签收"))
    await expect(liaison, "签收人：李梅", kind="edit")

    admin.send("/remove 李梅")
    confirm = await expect(admin, "确认移除李梅（八仙镇联络员）")
    callback = admin.press(confirm, confirm.button("确认移除"))
    assert "已移除" in (await admin.answer_to(callback))["text"]
    assert "已移除李梅（八仙镇联络员）" in (await expect(admin, "已移除李梅", kind="message")).text
    assert "撤销您使用领导信箱的权限" in (await expect(liaison, "撤销")).text
    assert await role_of(bot, liaison.id) == (None, None)
    menu = bot.api.commands_for({"type": "chat", "chat_id": liaison.id})
    assert [c["command"] for c in menu] == ["start"]

    # Nothing of the unit's letters any more: commands, the card's buttons, a reply to the card.
    liaison.send(f"/letter {letter['id']}")
    assert STRANGER in (await liaison.receive()).text
    answer = await liaison.answer_to(liaison.press(card, card.button("办结")))
    assert "邀请链接" in answer["text"]
    liaison.send("路灯修好了", reply_to=card)
    assert STRANGER in (await liaison.receive()).text
    # The history still says who signed for it.
    admin.send(f"/letter {letter['id']}")
    assert "李梅（私聊）：签收" in (await expect(admin, "办理记录")).text

    await join(bot, liaison, "八仙镇")  # a new invitation works as for anyone
    assert (await role_of(bot, liaison.id))[0] == "liaison"


async def test_the_admin_chooses_among_namesakes_and_may_keep(bot):
    admin = bot.admin
    await greet(admin)
    first, second = bot.person(8201, "王伟"), bot.person(8202, "王伟")
    await join(bot, first, "八仙镇")
    await join(bot, second, "leader")
    admin.send("/remove 王伟")
    choice = await expect(admin, "有多人")
    assert {label for label, _ in choice.buttons} == {"王伟 · 八仙镇联络员", "王伟 · 县领导"}
    admin.press(choice, choice.button("县领导"))
    confirm = await expect(admin, "确认移除王伟（县领导）")
    assert "未作任何更改" in (await admin.answer_to(admin.press(confirm, confirm.button("取消"))))["text"]
    assert await role_of(bot, second.id) == ("leader", None)

    admin.send(f"/remove {first.id}")  # by Telegram id
    confirm = await expect(admin, "确认移除王伟（八仙镇联络员）")
    admin.press(confirm, confirm.button("确认移除"))
    await expect(admin, "已移除王伟", kind="message")
    assert (await role_of(bot, first.id))[0] is None
    admin.send(f"/remove {first.id}")  # no role any more: nobody to remove
    assert "没有找到" in (await expect(admin, "没有找到")).text
    callback = admin.press(confirm, confirm.button("确认移除"))  # the old confirmation, pressed again
    assert "已经没有任何身份" in (await admin.answer_to(callback))["text"]


async def test_nobody_removes_themselves_or_an_admin_ids_admin(bot):
    admin, invited = bot.admin, bot.person(8301, "李科长")
    await greet(admin)
    await join(bot, invited, "admin")
    invited.send("/remove 李科长")
    confirm = await expect(invited, "确认移除", kind="message")
    assert "不能移除自己" in (await invited.answer_to(invited.press(confirm, confirm.button("确认移除"))))["text"]
    invited.send(f"/remove {ADMIN_ID}")
    assert "ADMIN_IDS" in (await expect(invited, "ADMIN_IDS")).text  # refused at once, no confirmation
    # and a forged confirmation:
    assert "ADMIN_IDS" in (await invited.answer_to(invited.press(confirm, f"member:remove:{ADMIN_ID}")))["text"]
    assert (await role_of(bot, invited.id))[0] == "admin"

    # The bootstrap admin may remove the invited one, who then may remove nobody.
    admin.send("/remove 李科长")
    confirm = await expect(admin, "确认移除李科长")
    admin.press(confirm, confirm.button("确认移除"))
    await expect(admin, "已移除李科长", kind="message")
    invited.send(f"/remove {ADMIN_ID}")
    assert STRANGER in (await expect(invited, STRANGER)).text
    admin.send("/remove 没有这个人")
    assert "没有找到与“没有这个人”相符的人员" in (await expect(admin, "没有找到")).text
    admin.send("/remove")
    assert "用法：/remove" in (await expect(admin, "用法")).text


async def _outbox_settled(bot, chat_id: int, kind: str) -> list[tuple[str, str | None]]:
    """The states of the queued messages of `kind` to `chat_id`, once none waits any more."""
    for _ in range(100):
        async with bot.services.db.reading() as session:
            rows = (await session.execute(select(Outbox.state, Outbox.error).where(Outbox.chat_id == chat_id, Outbox.kind == kind))).all()
        if rows and all(state in ("sent", "failed") for state, _ in rows):
            return [tuple(row) for row in rows]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{kind} to {chat_id} still waiting: {rows!r}")


async def test_a_card_held_overnight_never_reaches_a_liaison_removed_meanwhile(bot, http):
    admin, leaving, staying = bot.admin, bot.person(8101, "李梅"), bot.person(8102, "赵强")
    await greet(admin)
    await join(bot, leaving, "八仙镇")
    await join(bot, staying, "八仙镇")
    # 22:00 on a working day: a letter from the website waits for working hours.
    bot.clock.now = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
    letter = await post_letter(http, unit="八仙镇", content="我叫张三丰，电话13812345678", received_at="2026-11-30T21:50:00+08:00")
    admin.send("/remove 李梅")  # that evening the liaison leaves the job
    confirm = await expect(admin, "确认移除李梅")
    admin.press(confirm, confirm.button("确认移除"))
    await expect(leaving, "撤销")

    bot.clock.now = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 the next morning
    bot.services.notify()
    await expect(staying, f"#{letter['id']}", kind="message")  # the unit hears of it
    assert await _outbox_settled(bot, leaving.id, Kind.LETTER_CARD) == [("failed", "no longer addressed")]
    assert not [m.text for m in bot.api.pending(leaving.id) if f"#{letter['id']}" in m.text]


async def test_a_removed_admins_cards_stop_following_the_letter(bot, http):
    boss, deputy, liaison = bot.admin, bot.person(8301, "赵副主任"), bot.person(8101, "李梅")
    await greet(boss)
    await join(bot, deputy, "admin")
    await join(bot, liaison, "八仙镇")
    letter = await post_letter(http, unit="八仙镇")
    await expect(deputy, f"#{letter['id']}", kind="message")  # the deputy's admin card
    card = await expect(liaison, f"#{letter['id']}", kind="message")
    boss.send("/remove 赵副主任")
    confirm = await expect(boss, "确认移除赵副主任")
    boss.press(confirm, confirm.button("确认移除"))
    await expect(deputy, "撤销")

    liaison.send("已联系供电所，路灯于12月1日修复", reply_to=card)
    await expect(liaison, "已办结")
    edit = await expect(deputy, f"#{letter['id']} 号信件的这张卡片已不再更新", kind="edit")
    assert "路灯于12月1日修复" not in edit.text and not edit.buttons
    # The admin who stayed sees the reply on theirs.
    assert "路灯于12月1日修复" in (await expect(boss, "路灯于12月1日修复", kind="edit")).text


async def test_a_removed_admins_links_let_nobody_in(bot):
    boss, deputy, friend = bot.admin, bot.person(8301, "赵副主任"), bot.person(8302, "钱某")
    await greet(boss)
    await join(bot, deputy, "admin")
    links = []
    for what in ("admin", "八仙镇"):  # made while still an admin, kept aside
        deputy.send(f"/invite {what}")
        links.append((await deputy.receive()).text.split("?start=")[1].split()[0])
    boss.send("/remove 赵副主任")
    confirm = await expect(boss, "确认移除赵副主任")
    boss.press(confirm, confirm.button("确认移除"))
    await expect(boss, "已移除赵副主任", kind="message")
    await expect(deputy, "撤销")

    deputy.send(f"/start {links[0]}")  # their own way back
    friend.send(f"/start {links[1]}")  # or a way in for someone else
    for person in (deputy, friend):
        assert "此邀请链接已失效：创建它的人已不再是管理员" in (await person.receive()).text
        assert await role_of(bot, person.id) == (None, None)
    assert not bot.api.pending(deputy.id)  # and nobody tells them who tried
    # A link the bootstrap admin made still works.
    await join(bot, friend, "八仙镇")
    assert (await role_of(bot, friend.id))[0] == "liaison"


async def test_remove_by_a_number_no_telegram_id_can_be(bot):
    admin = bot.admin
    await greet(admin)
    for text in ("99999999999999999999999", "-99999999999999999999999", "²"):
        admin.send(f"/remove {text}")
        assert "没有找到" in (await expect(admin, "没有找到")).text


async def test_an_admins_card_in_a_group_keeps_following_the_letter(bot, http):
    """/assign typed in the admins' own group puts the card there: a group is no removed admin."""
    admin, a1 = bot.admin, bot.person(2101, "八仙甲")
    await greet(admin)
    await join(bot, a1, "八仙镇")
    office = bot.api.group("信息中心工作群")
    letter = await post_letter(http)
    await expect(admin, f"#{letter['id']}")
    admin.send(f"/assign {letter['id']}", chat=office)
    card = await expect(admin, f"#{letter['id']}", chat=office)
    admin.press(card, card.button("八仙镇"))
    edited = await expect(admin, f"#{letter['id']}", chat=office, kind="edit")
    assert "不再更新" not in edited.text and "八仙镇" in edited.text, edited.text


async def test_a_message_telegram_took_is_not_sent_again_when_recording_it_fails(bot, monkeypatch):
    """A full disk after Telegram took the message: the full record fails; the bare fact that it
    was sent is recorded instead, and the message never goes out again."""
    import sqlite3

    from models.outbox import ADMINS, enqueue_notice

    admin, delivery = bot.admin, bot.services.delivery
    await greet(admin)
    record, failed = delivery._record, []

    async def full_disk(row, state, *args):
        if state == "sent" and not failed:
            failed.append(row.id)
            raise sqlite3.OperationalError("database or disk is full")
        return await record(row, state, *args)

    monkeypatch.setattr(delivery, "_record", full_disk)
    async with bot.services.db.transaction() as session:
        enqueue_notice(session, [ADMIN_ID], ADMINS, "Letter #{id} is closed. Thank you.", id=4242)
    bot.services.notify()
    await expect(admin, "#4242")
    assert await _outbox_settled(bot, ADMIN_ID, Kind.NOTICE) == [("sent", None)] and failed
    for _ in range(3):  # later passes of the loop, minutes on
        bot.clock.now += dt.timedelta(minutes=2)
        await delivery.deliver_pending()
    assert not [m.text for m in bot.api.pending(admin.id) if "#4242" in m.text]
