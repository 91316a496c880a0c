"""What the command line says before it can work, in LANGUAGE (the environment, then `.env`): the
settings' and the units file's errors, and argparse's help and errors, all from the catalogs."""

from __future__ import annotations

import argparse
import gettext
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings, SettingsError, configured_language, load_settings
from locales import Refusal, Translator, translations
from locales.arguments import ARGPARSE_PLURALS, ARGPARSE_WORDS, speaking, width
from locales.reasons import reason_of
from models.units import UnitsFileError, read_topics, read_units_file

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123:" + "a" * 30
SETTING_NAMES = {name.lower() for name in Settings.model_fields}
ZH, EN = Translator("zh_CN"), Translator("en")
ENGLISH_WORDS = re.compile(r"[A-Za-z]{3,} [A-Za-z]{3,}")  # "Input should": a phrase, not a name or a list of words
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No setting from the outer environment, no `.env` but the test's own."""
    for key in list(os.environ):
        if key.lower() in SETTING_NAMES:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def settings_lines(t: Translator, **values: str) -> list[str]:
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, **{"bot_token": TOKEN, **values})
    return refused.value.lines(t)


# --- the settings' reasons ----------------------------------------------------------------------------


BAD_SETTINGS = {
    "bot_token": "bad", "admin_ids": "1,x", "database_url": "mysql://h/x", "telegram_proxy": "1.2.3.4",
    "telegram_api_base_url": "ftp://x", "timezone": "Mars/Olympus", "reminder_time": "25:00",
    "handling_days": "5;抱怨=3", "accept_days": "0", "escalate_after": "0", "intake_port": "x",
    "language": "fr", "privacy": "none", "webhook_port": "70000", "webhook_secret": "a b", "units_file": "/nowhere.yaml",
}


@pytest.mark.parametrize(("name", "raw"), BAD_SETTINGS.items())
def test_each_settings_reason_is_in_chinese_then_in_english(name, raw):
    [chinese] = settings_lines(ZH, **{name: raw})
    [english] = settings_lines(EN, **{name: raw})
    assert chinese.startswith(f"配置项 {name.upper()} 有误：") and english.startswith(f"Setting {name.upper()} is not usable: ")
    reason = chinese.split("：", 1)[1]
    assert CHINESE.search(reason) and not ENGLISH_WORDS.search(reason), chinese
    assert "Input should" not in english and "Value error" not in english


def test_the_reviewers_settings_read_as_chinese():
    lines = settings_lines(ZH, bot_token="bad", reminder_time="25:00", escalate_after="0", privacy="none")
    assert lines == [
        "配置项 BOT_TOKEN 有误：不是 @BotFather 给出的 123456:ABC… 形式的机器人 token",
        "配置项 REMINDER_TIME 有误：应为“时:分”形式的时刻，例如 09:30",
        "配置项 ESCALATE_AFTER 有误：不能小于 1",
        "配置项 PRIVACY 有误：只能是以下之一：masked, full",
    ]


def test_limits_and_choices_keep_their_values():
    assert settings_lines(EN, webhook_port="70000") == ["Setting WEBHOOK_PORT is not usable: must be 65535 or less"]
    assert settings_lines(EN, language="fr") == ["Setting LANGUAGE is not usable: must be one of: zh_CN, en"]
    assert settings_lines(ZH, handling_days="61") == ["配置项 HANDLING_DAYS 有误：“61”：工作日天数应为 1 到 60 之间的整数"]


def test_a_pydantic_error_not_mapped_gets_a_generic_reason_naming_the_setting():
    """UNITS_FILE given as a number (a program's mistake): pydantic's path_type, mapped by no one."""
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, bot_token=TOKEN, units_file=5)
    assert refused.value.lines(ZH) == ["配置项 UNITS_FILE 有误：不是 UNITS_FILE 能接受的值"]
    assert ZH.refusal(reason_of({"type": "something_new", "msg": "Input should be new"}, "X")) == "不是 X 能接受的值"


def test_a_missing_token_is_still_told_the_way_to_the_demo():
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, privacy="none")
    assert refused.value.problems[0] == ("BOT_TOKEN", "missing")
    lines = refused.value.lines(EN)
    assert lines[0].startswith("Setting BOT_TOKEN is not set") and "python -m bot demo" in lines[-1]
    assert "Setting PRIVACY is not usable: must be one of: masked, full" in lines


# --- LANGUAGE, from the environment or .env -------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "dotenv", "expected"),
    [
        (None, None, "zh_CN"),
        ("en", None, "en"),
        ("en_US.UTF-8", None, "en"),
        (None, "LANGUAGE=en\n", "en"),
        (None, "LANGUAGE=en\nBOT_TOKEN=bad\nESCALATE_AFTER=zero\n", "en"),  # the rest of .env is bad
        ("zh", "LANGUAGE=en\n", "zh_CN"),  # the environment wins, as for every setting
        ("fr", None, "zh_CN"),
        (None, b"LANGUAGE=en\n\xff\xfe\n", "zh_CN"),  # an unreadable .env: the default, no traceback
    ],
)
def test_configured_language(monkeypatch, tmp_path, environment, dotenv, expected):
    if environment is not None:
        monkeypatch.setenv("LANGUAGE", environment)
    if isinstance(dotenv, bytes):
        (tmp_path / ".env").write_bytes(dotenv)
    elif dotenv is not None:
        (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    assert configured_language() == expected


def test_settings_errors_follow_language_in_dotenv(monkeypatch, tmp_path, capsys):
    (tmp_path / ".env").write_text("LANGUAGE=en\nBOT_TOKEN=bad\n", encoding="utf-8")
    monkeypatch.setenv("ESCALATE_AFTER", "0")
    assert main(["units"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "Setting BOT_TOKEN is not usable: not a bot token of the form 123456:ABC… from @BotFather",
        "Setting ESCALATE_AFTER is not usable: must be 1 or more",
    ]


# --- the units file -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chinese"),
    [
        ("towns:\n  - {name: 甲镇}\n  - {name: 甲镇}\n", "units.yaml：单位重复列出：甲镇"),
        ("towns:\n  - {name: 甲镇, kind: moon}\n", "units.yaml：towns 第 1 项的 kind：只能是以下之一：town, department"),
        ("towns:\n  - {name: 甲镇, colour: red}\n", "units.yaml：towns 第 1 项的 colour：不是此文件能用的字段"),
        ("towns:\n  - {name: ''}\n", "units.yaml：towns 第 1 项的 name：不能为空"),
        ("towns:\n  - {name: 甲镇\n", "units.yaml：第 3 行第 1 列不是有效的 YAML（出错的部分从第 2 行第 5 列开始）"),  # the { left open
        ("towns:\n  - name: 甲镇\n  kind: town\n", "units.yaml：第 3 行第 3 列不是有效的 YAML（出错的部分从第 2 行第 3 列开始）"),
        ("towns:\n  - {name: 甲镇, valid_to: 2020-13-01}\n", "units.yaml：有无法读取的值，例如不存在的日期"),
        ("- 甲镇\n", "units.yaml：应包含 towns、departments 或 units 列表"),
        ("towns: []\n", "units.yaml：没有任何单位"),
    ],
)
def test_units_file_errors_are_read_in_the_readers_language(tmp_path, text, chinese):
    path = tmp_path / "units.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UnitsFileError) as refused:
        read_units_file(path)
    said = ZH.refusal(refused.value)
    assert said == f"{tmp_path}/{chinese}"
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)  # the English, for logs


def test_a_units_file_of_a_list_is_refused_by_the_topics_too(tmp_path):
    path = tmp_path / "units.yaml"
    path.write_text("- 甲镇\n", encoding="utf-8")
    with pytest.raises(UnitsFileError) as refused:
        read_topics(path)  # read first, when the bot starts: it used to stop with a traceback
    assert EN.refusal(refused.value) == f"{path}: expected the keys towns, departments or units"


def test_the_units_verb_says_a_units_file_error_in_chinese(monkeypatch, tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("towns:\n  - {name: 甲镇}\n  - {name: 甲镇}\n", encoding="utf-8")
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("UNITS_FILE", str(path))
    assert main(["units"]) == 2
    assert capsys.readouterr().err.strip() == f"单位文件有误：{path}：单位重复列出：甲镇"


# --- --help and argparse's errors, before the settings ------------------------------------------------


def run_help(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def test_help_needs_no_settings_and_speaks_chinese(tmp_path):
    done = run_help("--help", cwd=tmp_path)  # no BOT_TOKEN, no .env
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("用法：python -m bot [-h] 命令 ...")
    for words in ("领导信箱机器人", "运行机器人（默认）", "位置参数", "选项", "显示本帮助并退出"):
        assert words in done.stdout, done.stdout
    assert not ENGLISH_WORDS.search(done.stdout.replace("python -m bot", "")), done.stdout
    assert done.stderr == ""


def test_a_verbs_help_follows_language_in_dotenv(tmp_path):
    (tmp_path / ".env").write_text("LANGUAGE=en\nBOT_TOKEN=bad\n", encoding="utf-8")
    done = run_help("report", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m bot report [-h] [--period P] [--out DIR]")
    assert "where to write the files (default: ./reports)" in done.stdout and "show this help message and exit" in done.stdout


def test_a_verbs_help_lines_up_in_chinese(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["report", "-h"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "[--period 期间] [--out 目录]" in out
    helps = [re.match(r"^(\s+\S.*?\s{2,})\S", line) for line in out.splitlines() if line.startswith("  -")]
    columns = {width(match.group(1)) for match in helps}
    assert len(helps) == 3 and len(columns) == 1, out


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["nonsense"], "python -m bot：错误：参数 命令：没有 'nonsense' 这一项（可选："),
        (["invite"], "python -m bot invite：错误：缺少以下参数：单位|leader|admin"),
        (["rate", "--period"], "python -m bot rate：错误：参数 --period：需要一个值"),
        (["units", "--bogus"], "python -m bot：错误：无法识别的参数：--bogus"),
    ],
)
def test_argument_errors_come_before_the_settings_in_chinese(capsys, argv, said):
    with pytest.raises(SystemExit) as exited:
        main(argv)  # no BOT_TOKEN: the arguments are refused first
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("用法：") and said in err, err
    assert "配置项" not in err


def test_argparse_is_left_as_it_was(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert argparse._ is gettext.gettext and argparse.ngettext is gettext.ngettext
    assert argparse.ArgumentParser(prog="x").format_usage() == "usage: x [-h]\n"


def test_argparse_translations_keep_argparses_placeholders():
    chinese = translations("zh_CN")
    percent = re.compile(r"%(?:\([a-z_]+\))?[sr]")
    for message in ARGPARSE_WORDS:
        assert sorted(percent.findall(chinese.gettext(message))) == sorted(percent.findall(message)), message
    for singular, plural in ARGPARSE_PLURALS:
        assert percent.findall(chinese.ngettext(singular, plural, 2)) == percent.findall(plural)
    with speaking("zh_CN"):
        assert argparse._("usage: ") == "用法："
        assert argparse._(None) is None  # argparse passes a missing description through


def test_a_refusal_inside_a_refusal_is_translated():
    inner = Refusal("must be a whole number")
    outer = Refusal("{path}: {key}[{index}] {field}: {reason}", path="u.yaml", key="towns", index=2, field="code", reason=inner)
    assert str(outer) == "u.yaml: towns[2] code: must be a whole number"
    assert ZH.refusal(outer) == "u.yaml：towns 第 2 项的 code：应为整数"
