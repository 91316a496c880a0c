"""`python -m bot` as an operator runs it: a real process, the loopback Bot API, a real database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from bot.telegram_stand_in import TelegramStandIn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bare_environment(**values: str) -> dict[str, str]:
    """Only what a fresh shell has, plus the given settings: nothing from the developer's env."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": ROOT}
    env.update(values)
    return env


async def run_cli(*args: str, cwd, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, out.decode(), err.decode()


async def wait_for_call(api: TelegramStandIn, method: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(name == method for name, _ in api.calls):
        if loop.time() > deadline:
            raise AssertionError(f"the bot never called {method}")
        await asyncio.sleep(0.05)


async def test_bot_starts_with_only_token_and_api_url(stand_in, tmp_path):
    env = bare_environment(BOT_TOKEN=stand_in.token, TELEGRAM_API_BASE_URL=stand_in.base_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_for_call(stand_in, "getUpdates")
        assert (tmp_path / "data" / "mailbox.db").exists()
        assert stand_in.commands_for({"type": "default"}), "no command menu registered"
        stranger = stand_in.person(4242, "张三")
        stranger.send("/start")
        assert "邀请" in (await stranger.receive(timeout=20)).text
    finally:
        await stand_in.release_pollers()
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert stand_in.token not in err.decode(), "the bot token leaked into the log"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ", "TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"BOT_TOKEN": "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ", "REMINDER_TIME": "25:00"}, "REMINDER_TIME"),
        ({"BOT_TOKEN": "123:ABCDEFGHIJKLMNOPQRSTUVWXYZ", "WEBHOOK_URL": "https://bot.example.gov.cn/telegram", "WEBHOOK_PORT": "8080",
          "INTAKE_TOKEN": "intake-secret-0123456789", "INTAKE_HOST": "0.0.0.0"}, "WEBHOOK_PORT"),
    ],
)
async def test_bad_setting_stops_with_one_line_naming_it(tmp_path, env, named):
    code, out, err = await run_cli(cwd=tmp_path, env=bare_environment(**env))
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert named in lines[0], err
    if env:
        assert len(lines) == 1, err
    else:  # a newcomer without a token is shown the way to see the bot work without one
        assert len(lines) == 2 and "未设置" in lines[0] and "python -m bot demo" in lines[1], err
    assert "Traceback" not in err


async def test_a_token_telegram_refuses_stops_in_one_line_without_the_token(stand_in, tmp_path):
    wrong = stand_in.token[:-1] + ("x" if stand_in.token[-1] != "x" else "y")  # one character off: nearly the real one
    env = bare_environment(BOT_TOKEN=wrong, TELEGRAM_API_BASE_URL=stand_in.base_url, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/m.db")
    code, out, err = await run_cli(cwd=tmp_path, env=env)
    assert code == 3 and "Traceback" not in err, err
    assert wrong not in err and wrong.split(":")[1] not in err and "Telegram" in err, err


async def test_env_file_is_read(stand_in, tmp_path):
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN={stand_in.token}\nTELEGRAM_API_BASE_URL={stand_in.base_url}\nLANGUAGE=en\n", encoding="utf-8"
    )
    code, out, err = await run_cli("units", cwd=tmp_path, env=bare_environment())
    assert code == 0, err
    assert "Towns (11)" in out and "Departments (25)" in out and "八仙镇 — no liaison yet" in out


async def test_cli_invite_resolves_units_and_refuses_ambiguity(stand_in, tmp_path):
    env = bare_environment(BOT_TOKEN=stand_in.token, TELEGRAM_API_BASE_URL=stand_in.base_url)
    code, out, err = await run_cli("invite", "baxian", cwd=tmp_path, env=env)
    assert code == 0, err
    link = out.strip()
    assert link.startswith(f"https://t.me/{stand_in.bot_user['username']}?start=")

    code, out, err = await run_cli("invite", "县", cwd=tmp_path, env=env)
    assert code == 2 and "县住建局" in err and "t.me" not in out

    # The printed link works in the running bot.
    from bot.app import build_application, running
    from tests.conftest import make_settings

    app = build_application(make_settings(stand_in, f"sqlite+aiosqlite:///{tmp_path}/data/mailbox.db"))
    async with running(app):
        liaison = stand_in.person(3003, "刘联络")
        liaison.send(f"/start {link.split('?start=')[1]}")
        assert "八仙镇" in (await liaison.receive()).text
        await stand_in.release_pollers()


async def test_units_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "units.yaml"
    bad.write_text("towns:\n  - {name: 八仙镇, kind: moon}\n", encoding="utf-8")
    env = bare_environment(BOT_TOKEN="123:ABCDEFGHIJKLMNOPQRSTUVWXYZ", UNITS_FILE=str(bad))
    code, out, err = await run_cli("units", cwd=tmp_path, env=env)
    assert code == 2 and "Traceback" not in err and "units.yaml" in err
