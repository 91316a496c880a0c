"""Writers at once on one database: the running bot (chat and intake API) and a CLI import in
another process. On SQLite they take turns (BEGIN IMMEDIATE and a busy timeout) instead of failing
with "database is locked"; on PostgreSQL they run side by side."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import func, select

from models import tallies
from models.tables import Letter
from tests.conftest import AUTH, expect, write_letters_csv

ROOT = Path(__file__).resolve().parent.parent


async def test_the_bot_the_intake_api_and_a_cli_import_write_at_once(bot, http, database_url, tmp_path):
    rows = 60_000  # long enough, at 30,000 rows a second, for several rounds of posts and questions
    source = tmp_path / "来信.csv"
    write_letters_csv(source, rows, "C")
    environment = {**os.environ, "BOT_TOKEN": bot.api.token, "DATABASE_URL": database_url, "LANGUAGE": "zh_CN"}
    importing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "import", str(source), cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def post(i: int) -> int:
        body = {"title": f"网站来信{i}", "content": "内容", "received_at": "2026-11-27T10:00:00+08:00", "external_id": f"W{i}"}
        async with http.post("/api/letters", json=body, headers=AUTH) as response:
            return response.status

    async def ask(i: int) -> str:
        bot.admin.send("/rate")
        return (await expect(bot.admin, "办理情况", within=200)).text  # between the new letters' cards

    # Until the import is done: the website posts letters in bursts, the admin asks for figures.
    waiting = asyncio.ensure_future(importing.communicate())
    statuses, answers, overlapped = [], [], 0
    while not waiting.done():
        statuses += await asyncio.gather(*(post(len(statuses) + i) for i in range(4)))
        answers.append(await ask(len(answers)))
        overlapped += not waiting.done()  # posted and answered while the import was still writing
    out, err = await asyncio.wait_for(waiting, 300)
    assert importing.returncode == 0, err.decode()[-2000:]
    assert set(statuses) == {201}, statuses
    assert overlapped >= 1, "the import ended before a round of posts and a question could overlap it"
    async with bot.services.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Letter)) == rows + len(statuses)
        assert await tallies.drift(session) == {}
    assert "locked" not in err.decode().lower()
