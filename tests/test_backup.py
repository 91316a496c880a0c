"""`python -m bot backup FILE` while the bot runs and takes letters, and the restore the README
describes: the copy opens as a working database with every letter that was committed before it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.backup import BackupError, backup
from models import tallies
from models.db import Database
from models.tables import Letter
from tests.conftest import POSTGRES_ADMIN_URL, post_letter

ROOT = Path(__file__).resolve().parent.parent


async def letter_titles(url: str) -> list[str]:
    db = Database(url)
    await db.migrate()
    async with db.reading() as session:
        titles = list((await session.scalars(select(Letter.title).order_by(Letter.id))).all())
        assert await tallies.drift(session) == {}
    await db.dispose()
    return titles


async def restore_postgres(dump: Path) -> str:
    """README: create an empty database, then pg_restore into it."""
    name = f"restored_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = make_url(POSTGRES_ADMIN_URL)
    subprocess.run(["pg_restore", "--no-owner", "--host", url.host, "--port", str(url.port or 5432),
                    "--username", url.username, "--dbname", name, str(dump)], check=True, capture_output=True)
    return f"postgresql+asyncpg://{url.username}@{url.host}:{url.port or 5432}/{name}"


async def test_a_backup_taken_while_letters_arrive_restores_whole(bot, http, database_url, tmp_path):
    for i in range(5):
        await post_letter(http, title=f"备份前来信{i}", external_id=f"B{i}")
    target = tmp_path / "copies" / "mailbox-backup"
    # The bot keeps taking letters while the copy is made.
    arriving = asyncio.gather(*(post_letter(http, title=f"备份时来信{i}", external_id=f"D{i}") for i in range(5)))
    made, _ = await asyncio.gather(asyncio.to_thread(backup, database_url, target), arriving)
    assert made.path == target.resolve() and made.size > 0
    assert not list(target.parent.glob("*.partial")), "no half-written file is left beside the backup"
    if database_url.startswith("sqlite"):
        assert made.letters is not None and 5 <= made.letters <= 10
        restored = tmp_path / "restored.db"
        shutil.copyfile(target, restored)  # README: stop the bot, copy the backup over the database file
        titles = await letter_titles(f"sqlite+aiosqlite:///{restored}")
        assert len(titles) == made.letters
    else:
        titles = await letter_titles(await restore_postgres(target))
        assert 5 <= len(titles) <= 10
    assert [f"备份前来信{i}" for i in range(5)] == titles[:5]


async def test_backup_refuses_to_overwrite_the_database_or_copy_a_missing_one(tmp_path):
    with pytest.raises(BackupError):
        backup(f"sqlite+aiosqlite:///{tmp_path}/absent.db", tmp_path / "copy.db")
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/mailbox.db")
    await db.migrate()
    await db.dispose()
    with pytest.raises(BackupError):
        backup(f"sqlite+aiosqlite:///{tmp_path}/mailbox.db", tmp_path / "mailbox.db")


def test_the_backup_verb(tmp_path):
    database = tmp_path / "mailbox.db"
    env = {**os.environ, "BOT_TOKEN": "123:" + "a" * 30, "DATABASE_URL": f"sqlite+aiosqlite:///{database}", "LANGUAGE": "zh_CN"}
    subprocess.run([sys.executable, "-m", "bot", "units"], env=env, cwd=ROOT, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "bot", "backup", str(tmp_path / "b.db")], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "备份已写入" in done.stdout and "0 封来信" in done.stdout
    refused = subprocess.run([sys.executable, "-m", "bot", "backup", str(database)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert refused.stderr.startswith("未写出备份") and "备份不能覆盖数据库文件本身" in refused.stderr, refused.stderr
    assert not (tmp_path / "b.db-wal").exists()  # one self-contained file
    with sqlite3.connect(tmp_path / "b.db") as copy:
        assert copy.execute("SELECT count(*) FROM letters").fetchone()[0] == 0


def test_a_backup_ends_while_another_process_keeps_writing(tmp_path):
    """Each write of another connection would start a copy made in steps over; made in one step
    under one snapshot, it ends however busy the bot is, and holds what was committed before it."""
    import threading

    database = tmp_path / "mailbox.db"
    with sqlite3.connect(database) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE letters (id INTEGER PRIMARY KEY, body TEXT)")
        setup.executemany("INSERT INTO letters (body) VALUES (?)", (("x" * 2000,) for _ in range(4000)))  # about 2,000 pages
    stop = threading.Event()
    writes = 0

    def keep_writing() -> None:
        nonlocal writes
        with sqlite3.connect(database, isolation_level=None) as writer:
            while not stop.is_set():
                writer.execute("INSERT INTO letters (body) VALUES ('new')")
                writes += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        made = backup(f"sqlite+aiosqlite:///{database}", tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join()
    assert writes > 0 and made.letters >= 4000
    assert not list(tmp_path.glob("copy.db.partial*"))
