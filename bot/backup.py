"""`python -m bot backup FILE`: a consistent copy of the database while the bot keeps running.

SQLite: the online backup API copies every page in one step, under one read snapshot: the database
is in WAL mode, so the bot, the intake API and imports go on writing meanwhile. (Copied in smaller
steps, each write of another process would start the copy over, and a busy bot's backup would never
end.) The copy is written next to FILE and renamed into place only once it
passed an integrity check, so a crash never leaves half a backup under FILE's name.
PostgreSQL: `pg_dump --format=custom` (from the PostgreSQL client tools), which is consistent by
itself. Restore is in the README ("Backups and restore").
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from locales import N_, Refusal


class BackupError(Refusal):
    """Why no backup was written, for the operator's terminal (a tool's own words as `detail`)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    letters: int | None  # counted in the copy (SQLite), None for a PostgreSQL dump


def backup(database_url: str, target: Path) -> Backup:
    url = make_url(database_url)
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        return _sqlite(Path(url.database or ""), target)
    if url.get_backend_name() == "postgresql":
        return _postgres(url, target)
    raise BackupError(N_("no backup method for {backend}"), backend=url.get_backend_name())


def _sqlite(source: Path, target: Path) -> Backup:
    if not source.is_file():
        raise BackupError(N_("{path} does not exist"), path=str(source))
    if source.resolve() == target:
        raise BackupError(N_("the backup must not overwrite the database itself"))
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with sqlite3.connect(source) as origin, sqlite3.connect(partial) as copy:
            origin.execute("PRAGMA busy_timeout=15000")
            origin.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(N_("the copy failed its integrity check"))
            letters = copy.execute("SELECT count(*) FROM letters").fetchone()[0]
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(N_("SQLite says: {detail}"), detail=str(exc)) from exc
    finally:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            leftover.unlink(missing_ok=True)
    return Backup(target, target.stat().st_size, letters)


def _postgres(url, target: Path) -> Backup:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(N_("pg_dump is not installed (the PostgreSQL client tools); see the README on backups"))
    partial = target.with_name(target.name + ".partial")
    environment = {**os.environ, "PGPASSWORD": url.password or os.environ.get("PGPASSWORD", "")}
    command = [pg_dump, "--format=custom", "--no-owner", f"--file={partial}", "--host", url.host or "127.0.0.1",
               "--port", str(url.port or 5432), "--username", url.username or "postgres", url.database or ""]
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(N_("pg_dump says: {detail}"), detail=done.stderr.strip() or str(done.returncode))
    os.replace(partial, target)
    return Backup(target, target.stat().st_size, None)
