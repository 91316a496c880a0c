"""The loopback Bot API refuses what Telegram refuses; otherwise the bot's tests would prove little."""

from __future__ import annotations

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.telegram_stand_in import BadRequest as StandInBadRequest
from bot.telegram_stand_in import html_to_text


@pytest.fixture
async def client(stand_in):
    bot = Bot(stand_in.token, base_url=stand_in.base_url, base_file_url=stand_in.file_base_url)
    async with bot:
        yield bot


@pytest.fixture
async def person(stand_in):
    someone = stand_in.person(77, "测试")
    someone.send("hello")  # a person must write first before a bot may write to them
    return someone


def test_html_subset():
    assert html_to_text("<b>粗</b> &lt;b&gt; &amp; &#39;") == "粗 <b> & '"
    for bad in ("<b>open", "</b>", "<script>x</script>", "a < b", "R&D", "<b><i>x</b></i>"):
        with pytest.raises(StandInBadRequest):
            html_to_text(bad)


async def test_text_length_is_limited(client, person):
    await client.send_message(person.id, "长" * 4096)
    with pytest.raises(BadRequest, match="too long"):
        await client.send_message(person.id, "长" * 4097)
    with pytest.raises(BadRequest, match="empty"):
        await client.send_message(person.id, "   ")


async def test_malformed_html_is_refused(client, person):
    with pytest.raises(BadRequest, match="parse entities"):
        await client.send_message(person.id, "<b>张三 & 李四</b>", parse_mode=ParseMode.HTML)
    sent = await client.send_message(person.id, "<b>张三 &amp; 李四</b>", parse_mode=ParseMode.HTML)
    assert sent.text == "张三 & 李四"


async def test_callback_data_over_64_bytes_is_refused(client, person):
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("签收", callback_data="letter:accept:1")]])
    await client.send_message(person.id, "x", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("签收", callback_data="办" * 22)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await client.send_message(person.id, "x", reply_markup=too_long)


async def test_nobody_is_written_to_uninvited(client):
    with pytest.raises(Forbidden):
        await client.send_message(31337, "hello")


async def test_edits_and_replies(client, person, stand_in):
    sent = await client.send_message(person.id, "第一版")
    await client.edit_message_text("第二版", chat_id=person.id, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="not modified"):
        await client.edit_message_text("第二版", chat_id=person.id, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await client.edit_message_text("x", chat_id=person.id, message_id=9999)
    received = [await person.receive(), await person.receive()]
    assert [m.kind for m in received] == ["message", "edit"] and received[1].text == "第二版"


async def test_files_round_trip(client, person, stand_in):
    document = person.send_document(b"external_id,title\n1,x\n", "letters.csv", "text/csv")
    telegram_file = await client.get_file(document["document"]["file_id"])
    assert bytes(await telegram_file.download_as_bytearray()) == b"external_id,title\n1,x\n"
    await client.send_document(person.id, b"PK\x03\x04xlsx", filename="report.xlsx", caption="<b>报表</b>", parse_mode=ParseMode.HTML)
    await client.send_photo(person.id, b"\x89PNG....", caption="chart")
    document_message, photo_message = await person.receive(), await person.receive()
    assert document_message.file_name == "report.xlsx" and document_message.text == "报表"
    assert photo_message.kind == "photo" and photo_message.file_bytes.startswith(b"\x89PNG")


async def test_faults_can_be_injected(client, person, stand_in):
    stand_in.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter):
        await client.send_message(person.id, "x")
    await client.send_message(person.id, "x")  # only the next call fails


async def test_commands_are_kept_per_scope(client, stand_in):
    from telegram import BotCommand, BotCommandScopeAllGroupChats

    await client.set_my_commands([BotCommand("help", "帮助")], scope=BotCommandScopeAllGroupChats(), language_code="zh")
    assert stand_in.commands_for({"type": "all_group_chats"}, "zh") == [{"command": "help", "description": "帮助"}]
    with pytest.raises(BadRequest):
        await client.set_my_commands([BotCommand("Bad-Name", "x")])
