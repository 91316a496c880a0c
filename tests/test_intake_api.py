"""The HTTP intake API over real HTTP, with the bot and the loopback Bot API behind it."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from models.tables import Letter, LetterEvent
from tests.conftest import AUTH, expect, greet

LETTER = {
    "external_id": "W2019-0001",
    "title": "八仙镇<b>路灯</b>不亮 & 无人管",
    "content": "我叫张三，电话13812341234，身份证61092619900101123X。八仙镇村道路灯坏了三个月。<script>alert(1)</script>",
    "sender_name": "张三",
    "sender_phone": "13812341234",
    "received_at": "2019-03-05T10:00:00+08:00",
    "type": "投诉",
}


async def count_letters(bot) -> int:
    async with bot.services.db.reading() as session:
        return await session.scalar(select(func.count()).select_from(Letter))


async def test_healthz_is_open_and_everything_else_needs_the_token(bot, http):
    response = await http.get("/healthz")
    assert response.status == 200 and (await response.json())["status"] == "ok"
    for method, path in (("POST", "/api/letters"), ("GET", "/api/letters/1"), ("GET", "/api/letters?external_id=x")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            response = await http.request(method, path, headers=headers, json=LETTER)
            assert response.status == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    # A header of bytes that are not UTF-8: refused as any wrong token, not a 500.
    host, port = bot.services.intake_url.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /api/letters/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n")
    status_line = await reader.readline()
    writer.close()
    assert b" 401 " in status_line, status_line
    assert await count_letters(bot) == 0


async def test_a_letter_is_stored_once_and_the_admins_see_it_masked_and_escaped(bot, http):
    await greet(bot.admin)
    response = await http.post("/api/letters", json=LETTER, headers=AUTH)
    assert response.status == 201
    body = await response.json()
    assert body["external_id"] == "W2019-0001" and body["status"] == "new" and body["unit"] is None
    assert body["received_at"] == "2019-03-05T10:00:00+08:00"
    assert set(body) == {"id", "external_id", "status", "unit", "received_at", "assigned_at", "accepted_at",
                         "due_date", "due_estimated", "done_at", "reply", "extensions"}

    again = await http.post("/api/letters", json={**LETTER, "title": "changed"}, headers=AUTH)
    assert again.status == 200 and (await again.json())["id"] == body["id"]
    assert await count_letters(bot) == 1

    card = await bot.admin.receive()
    assert f"#{body['id']}" in card.text and "W2019-0001" in card.text
    assert "八仙镇<b>路灯</b>不亮 & 无人管" in card.text  # arrives as typed, not as markup
    assert "<script>alert(1)</script>" in card.text
    assert "张**" in card.text and "张三" not in card.text
    assert "138****1234" in card.text and "13812341234" not in card.text
    assert "610926********123X" in card.text and "61092619900101123X" not in card.text
    assert card.button("八仙镇").startswith(f"letter:assign:{body['id']}:")
    assert card.button(f"letter:invalid:{body['id']}")
    assert bot.api.pending(bot.admin.id) == []  # one card, not one per post

    async with bot.services.db.reading() as session:
        stored = await session.get(Letter, body["id"])
        assert stored.sender_name == "张三" and stored.sender_phone == "13812341234"  # whole in the database
        events = (await session.scalars(select(LetterEvent.action).where(LetterEvent.letter_id == stored.id))).all()
        assert events == ["received"]


async def test_racing_posts_make_one_letter(bot, http):
    responses = await asyncio.gather(*(http.post("/api/letters", json=LETTER, headers=AUTH) for _ in range(12)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 11 + [201]
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1 and await count_letters(bot) == 1


async def test_bad_input_is_refused_naming_each_field(bot, http):
    # A body that is no JSON object is bad input too: 422, naming the body as field errors are named.
    response = await http.post("/api/letters", data=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 422
    assert await response.json() == {"error": "请求内容不是有效的 JSON。", "errors": {"body": "不是有效的 JSON"}}
    for constant in (b"NaN", b"Infinity", b"-Infinity"):  # not JSON, though Python reads them
        body = b'{"external_id": ' + constant + b', "title": "t", "content": "", "received_at": "2026-11-27T10:00:00+08:00"}'
        response = await http.post("/api/letters", data=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status == 422 and (await response.json())["errors"] == {"body": "不是有效的 JSON"}, constant
    for not_an_object in (b'[{"external_id": "W1"}]', b'"W2019-0001"', b"7", b"null"):
        response = await http.post("/api/letters", data=not_an_object, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status == 422, not_an_object
        assert await response.json() == {"error": "请求内容必须是 JSON 对象。", "errors": {"body": "必须是 JSON 对象"}}
    response = await http.post("/api/letters", headers=AUTH)  # no body at all
    assert response.status == 422 and (await response.json())["errors"] == {"body": "不是有效的 JSON"}
    assert await count_letters(bot) == 0
    response = await http.post("/api/letters", data=b"x" * (1024 * 1024 + 1), headers=AUTH)
    assert response.status == 413

    bad = {"external_id": "W2", "content": 42, "received_at": "yesterday", "unit": "火星局", "type": "抱怨", "sender_name": "张" * 101}
    response = await http.post("/api/letters", json=bad, headers=AUTH)
    assert response.status == 422
    errors = (await response.json())["errors"]
    assert set(errors) == {"title", "content", "received_at", "unit", "type", "sender_name"}
    assert "必填" in errors["title"]

    # The website's number and the letter's text are required: without the number a retry would
    # store the letter twice.
    response = await http.post("/api/letters", json={k: v for k, v in LETTER.items() if k not in ("external_id", "content")}, headers=AUTH)
    errors = (await response.json())["errors"]
    assert response.status == 422 and set(errors) == {"external_id", "content"} and "必填" in errors["external_id"]
    response = await http.post("/api/letters", json={**LETTER, "external_id": " ", "content": None}, headers=AUTH)
    assert response.status == 422 and set((await response.json())["errors"]) == {"external_id", "content"}

    response = await http.post("/api/letters", json={**LETTER, "external_id": "W3", "unit": "县"}, headers=AUTH)
    assert response.status == 422 and "县住建局" in (await response.json())["errors"]["unit"]
    response = await http.post("/api/letters", json={**LETTER, "external_id": "W4", "received_at": "2099-01-01T00:00:00+08:00"}, headers=AUTH)
    assert response.status == 422 and "received_at" in (await response.json())["errors"]
    assert await count_letters(bot) == 0


async def test_reading_letters_back(bot, http):
    created = await (await http.post("/api/letters", json=LETTER, headers=AUTH)).json()
    response = await http.get(f"/api/letters/{created['id']}", headers=AUTH)
    assert response.status == 200 and await response.json() == created
    assert (await http.get("/api/letters/999999", headers=AUTH)).status == 404
    assert (await http.get("/api/letters/99999999999999", headers=AUTH)).status == 404  # more than an id holds
    found = await (await http.get("/api/letters", params={"external_id": "W2019-0001"}, headers=AUTH)).json()
    assert found == {"letters": [created]}
    assert await (await http.get("/api/letters", params={"external_id": "nope"}, headers=AUTH)).json() == {"letters": []}
    assert (await http.get("/api/letters", headers=AUTH)).status == 422


async def test_every_route_names_its_bad_input_with_422(bot, http):
    """Bad input anywhere in the API answers as a bad field of a posted letter does: 422, `error`,
    and `errors` naming each bad field or query parameter; a misspelt parameter that would change
    the answer is never silently ignored."""
    created = await (await http.post("/api/letters", json=LETTER, headers=AUTH)).json()

    async def refused(response) -> dict:
        assert response.status == 422, await response.text()
        body = await response.json()
        assert set(body) == {"error", "errors"} and body["error"]
        return body["errors"]

    # A letter's id that is no number (the website's number, a unit, "²" that str.isdigit passes).
    for raw in ("abc", "W2019-0001", "-1", "1.0", "²"):
        errors = await refused(await http.get(f"/api/letters/{raw}", headers=AUTH))
        assert set(errors) == {"id"} and "external_id" in errors["id"], raw
    # A misspelt parameter is named, never read as "no parameter" (here: the current quarter).
    errors = await refused(await http.get("/api/stats", params={"perod": "2019Q1"}, headers=AUTH))
    assert set(errors) == {"perod"} and "不是此接口的参数" in errors["perod"] and "period" in errors["perod"]
    # Each bad one at once: an unknown parameter, a bad period and an unknown unit.
    errors = await refused(await http.get("/api/stats", params={"period": "2019Q5", "unit": "火星局", "format": "csv"}, headers=AUTH))
    assert set(errors) == {"period", "unit", "format"} and "2019Q5" in errors["period"]
    errors = await refused(await http.get("/api/stats", params=[("period", "2019Q1"), ("period", "2019Q2")], headers=AUTH))
    assert errors == {"period": "重复给出"}
    errors = await refused(await http.get("/api/letters", params={"externalid": "W2019-0001"}, headers=AUTH))
    assert set(errors) == {"externalid", "external_id"} and "必填" in errors["external_id"]
    errors = await refused(await http.get("/api/letters", params={"external_id": "W2019-0001", "status": "done"}, headers=AUTH))
    assert set(errors) == {"status"}
    # A letter's field put in the query of a post would be lost: named.
    errors = await refused(await http.post("/api/letters", params={"unit": "八仙镇"}, json={**LETTER, "external_id": "W9"}, headers=AUTH))
    assert errors == {"unit": "应放在 JSON 请求体中，而不是查询参数里"}
    assert await count_letters(bot) == 1  # nothing stored by the refused post
    # Anything else in the query of a post or of one letter changes nothing: passed over (a
    # website's cache-buster must never cost a letter).
    response = await http.post("/api/letters", params={"_": "1764300000", "source": "web"}, json={**LETTER, "external_id": "W10"}, headers=AUTH)
    assert response.status == 201 and (await response.json())["external_id"] == "W10"
    assert (await http.get(f"/api/letters/{created['id']}", params={"_": "1", "source": "web"}, headers=AUTH)).status == 200
    errors = await refused(await http.get(f"/api/letters/{created['id']}", params={"external_id": "NOPE"}, headers=AUTH))
    assert errors == {"external_id": "不是此接口的参数"}  # not "letter 1, whatever its number"
    # A cache-buster by the usual convention (a name starting with "_") changes nothing anywhere.
    assert (await http.get("/api/letters", params={"external_id": "W2019-0001", "_": "1"}, headers=AUTH)).status == 200
    assert (await http.get("/api/stats", params={"period": "2019Q1", "_": "1"}, headers=AUTH)).status == 200

    # What is right still answers as before.
    assert (await http.get(f"/api/letters/{created['id']}", headers=AUTH)).status == 200
    assert (await http.get("/api/stats", params={"period": "2019Q1", "unit": "八仙"}, headers=AUTH)).status == 200


async def test_a_letter_with_a_unit_is_assigned_and_the_unit_told(bot, http):
    from tests.conftest import join

    liaison = bot.person(1101, "八仙联络员")
    await join(bot, liaison, "八仙镇")
    response = await http.post("/api/letters", json={**LETTER, "unit": "baxian"}, headers=AUTH)
    body = await response.json()
    assert response.status == 201 and body["status"] == "assigned" and body["unit"] == "八仙镇"
    # Assigned on Monday 2026-11-30 (the test clock): five working days later is Monday 2026-12-07.
    assert body["due_date"] == "2026-12-07" and body["due_estimated"] is False
    card = await liaison.receive()
    assert "八仙镇" in card.text and "2026-12-07" in card.text
    assert {data for _, data in card.buttons} == {
        f"letter:accept:{body['id']}", f"letter:return:{body['id']}", f"letter:done:{body['id']}", f"letter:extend:{body['id']}",
    }
    assert "张**" in card.text
    # Its history names the unit, as an assignment in chat does.
    bot.admin.send(f"/letter {body['id']}")
    story = await expect(bot.admin, "办理记录")
    assert "网站（API）：交办八仙镇" in story.text, story.text


async def test_long_content_is_shortened_not_refused(bot, http):
    await greet(bot.admin)
    long_letter = {**LETTER, "content": "路灯坏了&" * 2000}
    response = await http.post("/api/letters", json=long_letter, headers=AUTH)
    assert response.status == 201
    card = await bot.admin.receive()
    assert len(card.text) < 4096 and "已截断" in card.text


def unreachable():
    """What SQLAlchemy raises when the database server refuses the connection."""
    from sqlalchemy.exc import OperationalError

    return OperationalError("connect", None, ConnectionRefusedError(111, "Connection refused"))


async def test_a_database_outage_is_a_503_to_retry_and_stores_nothing(bot, http, monkeypatch):
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def down():
        raise unreachable()
        yield  # pragma: no cover

    real_transaction, real_reading = bot.services.db.transaction, bot.services.db.reading
    monkeypatch.setattr(bot.services.db, "transaction", down)
    monkeypatch.setattr(bot.services.db, "reading", down)
    body = {"external_id": "OUT-1", "title": "停电", "content": "全村停电", "received_at": "2026-11-27T10:00:00+08:00"}
    response = await http.post("/api/letters", json=body, headers=AUTH)
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    assert "没有保存" in (await response.json())["error"]
    response = await http.get("/api/letters?external_id=OUT-1", headers=AUTH)
    assert response.status == 503
    assert (await http.get("/healthz")).status == 503

    monkeypatch.setattr(bot.services.db, "transaction", real_transaction)
    monkeypatch.setattr(bot.services.db, "reading", real_reading)
    async with bot.services.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Letter)) == 0
    response = await http.post("/api/letters", json=body, headers=AUTH)  # the website's retry
    assert response.status == 201
