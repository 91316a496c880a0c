"""Pure unit tests for bot/settings.py: environment parsing and the one-line-per-setting errors."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.settings import DEFAULT_UNITS_FILE, Settings, SettingsError, file_url_for, load_settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SETTING_NAMES = {name.lower() for name in Settings.model_fields}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No setting leaks in from the outer environment (in any letter case) or from a `.env`."""
    for key in list(os.environ):
        if key.lower() in SETTING_NAMES:
            monkeypatch.delenv(key, raising=False)
    for name in SETTING_NAMES:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # belt and braces: no .env in the working directory either


@pytest.fixture
def env(monkeypatch):
    """Set environment variables (BOT_TOKEN defaults to a valid one) and load the settings."""

    def _load(**values: str) -> Settings:
        values.setdefault("BOT_TOKEN", TOKEN)
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return load_settings(_env_file=None)

    return _load


def problems_of(excinfo: pytest.ExceptionInfo[SettingsError]) -> dict[str, str]:
    return dict(excinfo.value.problems)


# --- defaults ----------------------------------------------------------------------------------------


def test_minimal_environment_gives_the_documented_defaults(env):
    settings = env()
    assert settings.bot_token.get_secret_value() == TOKEN
    assert settings.admin_ids == frozenset()
    assert settings.database_url == "sqlite+aiosqlite:///./data/mailbox.db"
    assert settings.is_sqlite is True
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_file_base_url == "https://api.telegram.org/file/bot"
    assert settings.telegram_proxy is None
    assert settings.timezone == "Asia/Shanghai"
    assert settings.tz == ZoneInfo("Asia/Shanghai")
    assert settings.reminder_time == dt.time(9, 0)
    assert settings.handling_days == 5
    assert settings.accept_days == 1
    assert settings.escalate_after == 3
    assert settings.units_file == DEFAULT_UNITS_FILE
    assert settings.units_file.is_file()
    assert (settings.intake_host, settings.intake_port, settings.intake_token) == ("127.0.0.1", 8080, None)
    assert settings.language == "zh_CN"
    assert settings.privacy == "masked"
    assert settings.webhook_url is None


def test_token_is_not_shown_in_repr(env):
    settings = env()
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.bot_token)


def test_postgres_url_is_not_sqlite(env):
    settings = env(DATABASE_URL="postgresql+asyncpg://u:p@db/mailbox")
    assert settings.database_url == "postgresql+asyncpg://u:p@db/mailbox"
    assert settings.is_sqlite is False


@pytest.mark.parametrize(("raw", "expected"), [
    ("postgresql://u:p@db/mailbox", "postgresql+asyncpg://u:p@db/mailbox"),
    ("postgres://u:p@db/mailbox", "postgresql+asyncpg://u:p@db/mailbox"),
    ("sqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
    ("sqlite+aiosqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
])
def test_database_urls_without_a_driver_get_ours(env, raw, expected):
    assert env(DATABASE_URL=raw).database_url == expected


@pytest.mark.parametrize(("name", "raw"), [
    ("DATABASE_URL", "mysql://u:p@h/x"), ("DATABASE_URL", "./data/mailbox.db"), ("DATABASE_URL", "postgresql+psycopg://u@h/x"),
    ("TELEGRAM_PROXY", "127.0.0.1:1080"), ("TELEGRAM_PROXY", "ftp://127.0.0.1:21"), ("TELEGRAM_PROXY", "socks5://"),
])
def test_unusable_urls_are_named_at_start(env, name, raw):
    """Refused with a line naming the setting, where the bot used to stop with a traceback."""
    with pytest.raises(SettingsError) as excinfo:
        env(**{name: raw})
    assert list(problems_of(excinfo)) == [name]


def test_a_proxy_with_its_scheme_is_kept(env):
    assert env(TELEGRAM_PROXY="socks5://127.0.0.1:1080").telegram_proxy == "socks5://127.0.0.1:1080"


def test_keyword_overrides_win_over_the_environment(env, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PRIVACY", "full")
    settings = load_settings(_env_file=None, privacy="masked")
    assert settings.privacy == "masked"


def test_lower_case_environment_names_are_read(monkeypatch):
    monkeypatch.setenv("bot_token", TOKEN)
    assert load_settings(_env_file=None).bot_token.get_secret_value() == TOKEN


def test_env_file_is_read_when_given(tmp_path):
    env_file = tmp_path / "custom.env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\nPRIVACY=full\nADMIN_IDS=7,8\n", encoding="utf-8")
    settings = load_settings(_env_file=env_file)
    assert settings.privacy == "full"
    assert settings.admin_ids == frozenset({7, 8})


# --- BOT_TOKEN ---------------------------------------------------------------------------------------


def test_missing_bot_token():
    with pytest.raises(SettingsError) as excinfo:
        load_settings(_env_file=None)
    assert excinfo.value.problems == [("BOT_TOKEN", "missing")]
    assert str(excinfo.value) == "BOT_TOKEN: missing"


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "123456",
        "123456:",
        "123456:short",
        ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "123456:AAHdqTcvCH1vGWJxf SeofSAs0K5PALDsaw",
        "123456:AAHdqTcvCH1vGWJxf+eofSAs0K5PALDsaw",
    ],
)
def test_malformed_bot_token(env, token):
    with pytest.raises(SettingsError) as excinfo:
        env(BOT_TOKEN=token)
    problems = problems_of(excinfo)
    assert list(problems) == ["BOT_TOKEN"]
    assert "token" in problems["BOT_TOKEN"]
    assert problems["BOT_TOKEN"] != "missing"


def test_malformed_token_is_not_echoed(env):
    secret = "123456:AAHdqTcvCH1vGWJ/xfSeofSAs0K5PALDsaw"
    with pytest.raises(SettingsError) as excinfo:
        env(BOT_TOKEN=secret)
    assert "BOT_TOKEN" in str(excinfo.value)
    assert "AAHdqTcvCH1vGWJ" not in str(excinfo.value)


@pytest.mark.parametrize("token", [TOKEN, "1:" + "a" * 20, "42:abc_DEF-123456789012345"])
def test_well_formed_bot_token(env, token):
    assert env(BOT_TOKEN=token).bot_token.get_secret_value() == token


# --- ADMIN_IDS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1, 2;3", frozenset({1, 2, 3})),
        ("900001", frozenset({900001})),
        ("  5  6\t7 ", frozenset({5, 6, 7})),
        ("1,1,2", frozenset({1, 2})),
        ("", frozenset()),
        (" , ; ", frozenset()),
    ],
)
def test_admin_ids_parse(env, raw, expected):
    assert env(ADMIN_IDS=raw).admin_ids == expected


@pytest.mark.parametrize("raw", ["1,abc", "abc", "1.5", "-5", "1,2,x3"])
def test_admin_ids_malformed(env, raw):
    with pytest.raises(SettingsError) as excinfo:
        env(ADMIN_IDS=raw)
    problems = problems_of(excinfo)
    assert list(problems) == ["ADMIN_IDS"]
    assert "numeric" in problems["ADMIN_IDS"]


def test_admin_ids_error_names_the_bad_part(env):
    with pytest.raises(SettingsError) as excinfo:
        env(ADMIN_IDS="1,abc")
    assert "'abc'" in problems_of(excinfo)["ADMIN_IDS"]
    assert str(excinfo.value).startswith("ADMIN_IDS: ")


# --- TIMEZONE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "Europe/Berlin"])
def test_known_timezone(env, zone):
    settings = env(TIMEZONE=zone)
    assert settings.timezone == zone
    assert settings.tz == ZoneInfo(zone)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Beijing", "../../etc/passwd", "Asia/"])
def test_bad_timezone(env, zone):
    with pytest.raises(SettingsError) as excinfo:
        env(TIMEZONE=zone)
    problems = problems_of(excinfo)
    assert list(problems) == ["TIMEZONE"]
    assert "time zone" in problems["TIMEZONE"]


# --- REMINDER_TIME ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("09:30", dt.time(9, 30)), ("18:05", dt.time(18, 5)), ("08:00", dt.time(8, 0)), ("19:59", dt.time(19, 59))])
def test_reminder_time_parses(env, raw, expected):
    assert env(REMINDER_TIME=raw).reminder_time == expected


def test_reminder_time_without_leading_zero_parses(env):
    assert env(REMINDER_TIME="9:30").reminder_time == dt.time(9, 30)


@pytest.mark.parametrize("raw", ["25:00", "09:60", "nine", "9h30", "00:00", "07:59", "20:00", "21:30"])
def test_bad_reminder_time(env, raw):
    """Out of the hours the bot speaks on its own (08:00–20:00), reminders would be queued, held
    and dropped the next day: refused at start."""
    with pytest.raises(SettingsError) as excinfo:
        env(REMINDER_TIME=raw)
    assert list(problems_of(excinfo)) == ["REMINDER_TIME"]


@pytest.mark.parametrize("raw", ["09:00+08:00", "01:00Z", "09:00-05:00"])
def test_reminder_time_with_a_zone_of_its_own_is_refused(env, raw):
    """TIMEZONE is the one source of the zone: a time carrying an offset would be compared with
    the local time of day at start and break it, so it is refused, naming TIMEZONE."""
    with pytest.raises(SettingsError) as excinfo:
        env(REMINDER_TIME=raw, TIMEZONE="Asia/Shanghai")
    problems = problems_of(excinfo)
    assert list(problems) == ["REMINDER_TIME"]
    assert "without an offset" in problems["REMINDER_TIME"] and "TIMEZONE (Asia/Shanghai)" in problems["REMINDER_TIME"]


def test_days_per_letter_type_name_real_types(env):
    settings = env(HANDLING_DAYS="5;complaint=10;举报=7")  # English words for the types too
    assert (settings.handling_days.for_type("投诉"), settings.handling_days.for_type("举报"), settings.handling_days.for_type("咨询")) == (10, 7, 5)
    with pytest.raises(SettingsError) as excinfo:
        env(HANDLING_DAYS="5;抱怨=7")  # no such type: it would never apply
    assert list(problems_of(excinfo)) == ["HANDLING_DAYS"] and "抱怨" in problems_of(excinfo)["HANDLING_DAYS"]


# --- day counts and ports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HANDLING_DAYS", "0"),
        ("HANDLING_DAYS", "-1"),
        ("HANDLING_DAYS", "61"),
        ("HANDLING_DAYS", "five"),
        ("ACCEPT_DAYS", "0"),
        ("ACCEPT_DAYS", "31"),
        ("ESCALATE_AFTER", "0"),
        ("INTAKE_PORT", "-1"),
        ("INTAKE_PORT", "65536"),
        ("WEBHOOK_PORT", "http"),
    ],
)
def test_bad_numbers(env, name, raw):
    with pytest.raises(SettingsError) as excinfo:
        env(**{name: raw})
    assert list(problems_of(excinfo)) == [name]


def test_good_numbers(env):
    settings = env(HANDLING_DAYS="10", ACCEPT_DAYS="2", ESCALATE_AFTER="1", INTAKE_PORT="9090")
    assert (settings.handling_days, settings.accept_days, settings.escalate_after) == (10, 2, 1)
    assert settings.intake_port == 9090


# --- LANGUAGE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zh", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("ZH_cn", "zh_CN"),
        ("zh_CN.UTF-8", "zh_CN"),
        ("zh_CN:en", "zh_CN"),
        ("en", "en"),
        ("EN", "en"),
        ("en_US", "en"),
        ("en_US.UTF-8", "en"),
        ("en:zh_CN", "en"),
        (" en ", "en"),
    ],
)
def test_language_accepted(env, raw, expected):
    assert env(LANGUAGE=raw).language == expected


@pytest.mark.parametrize("raw", ["fr", "fr_FR.UTF-8", "fr:zh_CN", "C"])
def test_language_refused(env, raw):
    with pytest.raises(SettingsError) as excinfo:
        env(LANGUAGE=raw)
    assert list(problems_of(excinfo)) == ["LANGUAGE"]


# --- PRIVACY ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("masked", "masked"), ("full", "full"), (" FULL ", "full")])
def test_privacy_accepted(env, raw, expected):
    assert env(PRIVACY=raw).privacy == expected


@pytest.mark.parametrize("raw", ["none", "partial", "mask"])
def test_privacy_refused(env, raw):
    with pytest.raises(SettingsError) as excinfo:
        env(PRIVACY=raw)
    problems = problems_of(excinfo)
    assert list(problems) == ["PRIVACY"]
    assert "masked" in problems["PRIVACY"] and "full" in problems["PRIVACY"]


# --- Telegram URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot"),
        ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
        ("http://127.0.0.1:8081/bot/", "http://127.0.0.1:8081/file/bot"),
        ("http://bot-api:8081/bot", "http://bot-api:8081/file/bot"),
        ("https://proxy.example.org/telegram/bot", "https://proxy.example.org/telegram/file/bot"),
        ("https://proxy.example.org/tg", "https://proxy.example.org/tg/file/bot"),
    ],
)
def test_file_url_for(api, expected):
    assert file_url_for(api) == expected


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
        ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot"),
    ],
)
def test_file_base_url_derived_from_api_base_url(env, api, expected):
    settings = env(TELEGRAM_API_BASE_URL=api)
    assert settings.telegram_api_base_url == api
    assert settings.telegram_file_base_url == expected


def test_file_base_url_kept_when_given(env):
    settings = env(
        TELEGRAM_API_BASE_URL="http://127.0.0.1:8081/bot",
        TELEGRAM_FILE_BASE_URL="https://files.example.org/somewhere",
    )
    assert settings.telegram_file_base_url == "https://files.example.org/somewhere"


@pytest.mark.parametrize("name", ["TELEGRAM_API_BASE_URL", "TELEGRAM_FILE_BASE_URL", "WEBHOOK_URL"])
@pytest.mark.parametrize("raw", ["ftp://example.org/bot", "api.telegram.org/bot", "https:///bot"])
def test_urls_must_be_http(env, name, raw):
    with pytest.raises(SettingsError) as excinfo:
        env(**{name: raw})
    problems = problems_of(excinfo)
    assert list(problems) == [name]
    assert "http" in problems[name]


def test_webhook_url_accepted(env):
    assert env(WEBHOOK_URL="https://bot.example.org/hook").webhook_url == "https://bot.example.org/hook"


@pytest.mark.parametrize(
    ("name", "attribute", "default"),
    [
        ("TELEGRAM_FILE_BASE_URL", "telegram_file_base_url", "https://api.telegram.org/file/bot"),
        ("WEBHOOK_URL", "webhook_url", None),
        ("TELEGRAM_PROXY", "telegram_proxy", None),
        ("INTAKE_TOKEN", "intake_token", None),
        ("ADMIN_IDS", "admin_ids", frozenset()),
        ("TIMEZONE", "timezone", "Asia/Shanghai"),
        ("REMINDER_TIME", "reminder_time", dt.time(9, 0)),
        ("HANDLING_DAYS", "handling_days", 5),
        ("UNITS_FILE", "units_file", DEFAULT_UNITS_FILE),
        ("LANGUAGE", "language", "zh_CN"),
        ("PRIVACY", "privacy", "masked"),
    ],
)
def test_empty_setting_means_not_set(env, name, attribute, default):
    """`NAME=` as `.env.example` shows it: the default, never an error."""
    assert getattr(env(**{name: ""}), attribute) == default


def test_empty_bot_token_is_missing(env):
    with pytest.raises(SettingsError) as excinfo:
        env(BOT_TOKEN="")
    assert excinfo.value.problems == [("BOT_TOKEN", "missing")]


# --- UNITS_FILE ---------------------------------------------------------------------------------------


def test_units_file_that_does_not_exist(env, tmp_path):
    missing = tmp_path / "nowhere" / "units.yaml"
    with pytest.raises(SettingsError) as excinfo:
        env(UNITS_FILE=str(missing))
    problems = problems_of(excinfo)
    assert list(problems) == ["UNITS_FILE"]
    assert str(missing) in problems["UNITS_FILE"]
    assert "does not exist" in problems["UNITS_FILE"]


def test_units_file_that_is_a_directory(env, tmp_path):
    with pytest.raises(SettingsError) as excinfo:
        env(UNITS_FILE=str(tmp_path))
    assert list(problems_of(excinfo)) == ["UNITS_FILE"]


def test_units_file_that_exists(env, tmp_path):
    units = tmp_path / "units.yaml"
    units.write_text("towns:\n  - {name: 甲镇}\n", encoding="utf-8")
    assert env(UNITS_FILE=str(units)).units_file == Path(units)


# --- several problems at once -----------------------------------------------------------------------


def test_every_bad_setting_is_named(env, tmp_path):
    with pytest.raises(SettingsError) as excinfo:
        env(
            BOT_TOKEN="not-a-token",
            ADMIN_IDS="1,abc",
            TIMEZONE="Mars/Olympus",
            REMINDER_TIME="25:00",
            HANDLING_DAYS="0",
            LANGUAGE="fr",
            PRIVACY="none",
            UNITS_FILE=str(tmp_path / "missing.yaml"),
            TELEGRAM_API_BASE_URL="ftp://x",
        )
    problems = excinfo.value.problems
    named = [name for name, _ in problems]
    assert sorted(named) == sorted(
        [
            "BOT_TOKEN",
            "ADMIN_IDS",
            "TIMEZONE",
            "REMINDER_TIME",
            "HANDLING_DAYS",
            "LANGUAGE",
            "PRIVACY",
            "UNITS_FILE",
            "TELEGRAM_API_BASE_URL",
        ]
    )
    assert all(why and why != "missing" for _, why in problems)
    assert not any(why.startswith("Value error") for _, why in problems)
    message = str(excinfo.value)
    assert "\n" not in message
    for name in named:
        assert f"{name}: " in message


def test_missing_token_and_a_bad_setting_together(monkeypatch):
    monkeypatch.setenv("PRIVACY", "none")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(_env_file=None)
    problems = problems_of(excinfo)
    assert set(problems) == {"BOT_TOKEN", "PRIVACY"}
    assert problems["BOT_TOKEN"] == "missing"
    assert problems["PRIVACY"] != "missing"


# --- SettingsError itself ---------------------------------------------------------------------------


def test_settings_error_message():
    error = SettingsError([("BOT_TOKEN", "missing"), ("TIMEZONE", "unknown time zone 'x'")])
    assert error.problems == [("BOT_TOKEN", "missing"), ("TIMEZONE", "unknown time zone 'x'")]
    assert str(error) == "BOT_TOKEN: missing; TIMEZONE: unknown time zone 'x'"
