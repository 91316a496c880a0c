"""The spine end to end: people talk to the real bot through the loopback Bot API."""

from __future__ import annotations

from tests.conftest import join


async def test_stranger_learns_how_to_join_and_nothing_else(bot):
    stranger = bot.person(555, "路人甲")
    stranger.send("/start")
    answer = await stranger.receive()
    assert "邀请" in answer.text
    stranger.send("/units")
    answer = await stranger.receive()
    assert "邀请" in answer.text and "八仙镇" not in answer.text
    stranger.send("/rate 八仙镇")
    answer = await stranger.receive()
    assert "邀请" in answer.text and "%" not in answer.text


async def test_commands_are_registered_per_scope_and_language(bot):
    api = bot.api
    default = [c["command"] for c in api.commands_for({"type": "default"})]
    assert default == ["start"]
    english_group = api.commands_for({"type": "all_group_chats"}, "en")
    assert {c["command"] for c in english_group} >= {"help", "bind", "unbind"}
    assert any(c["description"].startswith("Bind") for c in english_group)
    chinese_group = api.commands_for({"type": "all_group_chats"}, "zh")
    assert all(not c["description"].startswith("Bind") for c in chinese_group)


async def test_admin_invites_liaison_of_baxian_who_joins(bot):
    admin = bot.admin
    admin.send("/invite baxian")
    answer = await admin.receive()
    assert "八仙镇" in answer.text
    link = answer.text.split("\n")[1]
    assert link.startswith(f"https://t.me/{bot.api.bot_user['username']}?start=")
    code = link.split("?start=")[1]
    assert len(code) >= 22  # ≥ 128 bits in URL-safe base64

    liaison = bot.person(1001, "李联络")
    liaison.send(f"/start {code}")
    welcome = await liaison.receive()
    assert "八仙镇" in welcome.text and "联络员" in welcome.text
    notice = await admin.receive()
    assert "李联络" in notice.text and "八仙镇" in notice.text
    menu = [c["command"] for c in bot.api.commands_for({"type": "chat", "chat_id": 1001})]
    assert "units" in menu and "invite" not in menu

    # The code works once.
    other = bot.person(1002, "赵某")
    other.send(f"/start {code}")
    assert "已被使用" in (await other.receive()).text

    # The liaison is now listed under the unit.
    admin.send("/units")
    listing = await admin.receive()
    assert "八仙镇 — 联络员：李联络" in listing.text
    assert listing.text.index("镇 (11)") < listing.text.index("部门 (25)")


async def test_invitation_expires_after_seven_days(bot):
    import datetime as dt

    bot.admin.send("/invite leader")
    code = (await bot.admin.receive()).text.split("?start=")[1].split()[0]
    bot.clock.now += dt.timedelta(days=7, minutes=1)
    leader = bot.person(2001, "县长")
    leader.send(f"/start {code}")
    assert "已过期" in (await leader.receive()).text
    leader.send(f"/start {'x' * 30}")
    assert "无效" in (await leader.receive()).text


async def test_unit_names_resolve_and_ambiguity_asks(bot):
    admin = bot.admin
    admin.send("/invite 住建局")
    assert "县住建局" in (await admin.receive()).text

    admin.send("/invite 县")
    question = await admin.receive()
    assert "哪一个" in question.text
    assert len(question.buttons) == 8 and all(data.startswith("invite:u:") for _, data in question.buttons)
    callback = admin.press(question, question.button("县水利局"))
    await admin.answer_to(callback)
    edited = await admin.receive()
    assert edited.kind == "edit" and not edited.buttons
    invitation = await admin.receive()
    assert "县水利局" in invitation.text and "?start=" in invitation.text

    admin.send("/invite 火星局")
    assert "没有找到" in (await admin.receive()).text


async def test_lang_switches_everything_to_english(bot):
    liaison = bot.person(1003, "陈联络", language_code="zh-hans")
    await join(bot, liaison, "八仙")
    liaison.send("/lang en")
    assert "English" in (await liaison.receive()).text
    liaison.send("/help")
    help_text = (await liaison.receive()).text
    assert "What you can do" in help_text and "Towns and departments" in help_text
    menu = bot.api.commands_for({"type": "chat", "chat_id": 1003})
    assert any(c["description"].startswith("Towns") for c in menu)
    liaison.send("/units")
    assert "Towns (11)" in (await liaison.receive()).text
    liaison.send("/lang zh")
    assert "中文" in (await liaison.receive()).text


async def test_telegram_language_is_used_until_a_choice_is_made(bot):
    liaison = bot.person(1004, "Chen", language_code="en")
    bot.admin.send("/invite 长安")
    code = (await bot.admin.receive()).text.split("?start=")[1].split()[0]
    liaison.send(f"/start {code}")
    assert "Welcome" in (await liaison.receive()).text


async def test_group_binding_follows_the_person(bot):
    baxian = bot.person(1005, "八仙联络员")
    changan = bot.person(1006, "长安联络员")
    await join(bot, baxian, "八仙镇")
    await join(bot, changan, "长安镇")
    group = bot.api.group("八仙镇信访群")

    baxian.send("/bind", chat=group)
    assert "八仙镇" in (await baxian.receive(chat=group)).text
    changan.send("/unbind", chat=group)
    assert "只有" in (await changan.receive(chat=group)).text
    changan.send("/bind 八仙镇", chat=group)
    assert "只能" in (await changan.receive(chat=group)).text

    # A stranger chatting in the group gets no answer; their commands get the explanation.
    stranger = bot.person(556, "路人乙")
    stranger.send("大家好", chat=group)
    stranger.send("/units", chat=group)
    assert "邀请" in (await stranger.receive(chat=group)).text

    bot.admin.send("/unbind", chat=group)
    assert "不再" in (await bot.admin.receive(chat=group)).text


async def test_forged_and_stale_buttons_are_refused(bot):
    admin = bot.admin
    admin.send("/invite 县")
    question = await admin.receive()
    callback = admin.press(question, "invite:u:999999")
    answer = await admin.answer_to(callback)
    assert "失效" in answer["text"] and answer.get("show_alert") in (True, "true")
    callback = admin.press(question, "letter:done:1; DROP TABLE letters")
    assert "失效" in (await admin.answer_to(callback))["text"]

    liaison = bot.person(1007, "孙联络")
    await join(bot, liaison, "八仙")
    liaison.send("/units")
    await liaison.receive()
    callback = liaison.press(question, question.button("县水利局"))  # someone else's button
    assert "失效" in (await liaison.answer_to(callback))["text"]


async def test_handler_failure_is_reported_in_the_persons_language(bot):
    from telegram.ext import CommandHandler

    async def broken(update, context):
        raise RuntimeError("boom")

    bot.app.add_handler(CommandHandler("boom", broken), group=0)
    bot.expected_errors = 1
    bot.admin.send("/boom")
    answer = await bot.admin.receive()
    assert "出错" in answer.text
    bot.admin.send("/help")
    assert "/invite" in (await bot.admin.receive()).text  # still alive, and the error was handled
    assert len(bot.errors) == 1 and str(bot.errors[0]) == "boom"


async def test_citizen_like_text_is_escaped(bot):
    admin = bot.admin
    admin.send("/invite <b>&amp")
    answer = await admin.receive()
    assert "<b>&amp" in answer.text


async def test_usage_lines_arrive_intact(bot):
    bot.admin.send("/invite")
    assert "/invite <单位>" in (await bot.admin.receive()).text
    group = bot.api.group("测试群")
    bot.admin.send("/bind", chat=group)
    assert "/bind <单位>" in (await bot.admin.receive(chat=group)).text
