"""`python -m bot import` starts light: it opens the database as the bot does, without loading the
bot's Telegram side, the handlers, the report code or pypinyin (it asserts what is loaded, never a
time)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.cli import _open_database, _open_for_import
from bot.settings import Settings
from models.holidays import store_overrides

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("telegram", "openpyxl", "matplotlib", "pypinyin", "handlers", "bot.app")


def test_the_import_verb_loads_nothing_it_does_not_use(tmp_path):
    source = tmp_path / "letters.csv"
    source.write_text("编号,标题,来信时间,办理单位,交办时间\nS1,路灯不亮,2019-03-05 09:00,八仙镇,2019-03-05 10:00\n", encoding="utf-8")
    probe = (
        "import json, sys\n"
        "from bot.cli import main\n"
        f"code = main(['import', {str(source)!r}])\n"
        f"print(json.dumps([code, sorted(m for m in sys.modules if m.startswith({HEAVY!r}))]))\n"
    )
    env = {**os.environ, "BOT_TOKEN": "123:" + "a" * 30, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/mailbox.db"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0 and "新导入 1 件" in done.stdout
    assert loaded == []


async def test_the_import_verb_opens_the_database_as_the_bot_does(tmp_path):
    settings = Settings(_env_file=None, bot_token="1:" + "a" * 30, database_url=f"sqlite+aiosqlite:///{tmp_path}/mailbox.db")
    services = await _open_database(settings)
    try:
        async with services.db.transaction() as session:
            await store_overrides(session, {dt.date(2031, 1, 2): (False, "test")}, services.now())
    finally:
        await services.db.dispose()
    opened = []
    for open_ in (_open_database, _open_for_import):
        services = await _open_database(settings) if open_ is _open_database else await _open_for_import(settings)
        await services.db.dispose()
        opened.append((services.resolver.units, services.rules.deadlines.calendar.overrides))
    assert opened[0] == opened[1]
    assert opened[0][0] and opened[0][1] == {dt.date(2031, 1, 2): False}
