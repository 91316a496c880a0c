"""Settings from the environment or `.env`, with the names PRODUCT.md fixes.

A missing or malformed setting must stop the bot with one line naming it, so loading goes through
`load_settings()`, which turns pydantic's validation errors into `SettingsError`: for each setting,
why, as a `Refusal` its reader reads in LANGUAGE (`SettingsError.lines`, `configured_language`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from locales import DEFAULT_LANGUAGE, LANGUAGES, N_, Refusal, Translator
from locales.reasons import reason_of

DEFAULT_UNITS_FILE = Path(__file__).parent / "data" / "pingli-units.yaml"
TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
# The drivers the bot runs on, and the URLs people write for the same databases without a driver.
DATABASE_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite", "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
}


class Unusable(Refusal, ValueError):
    """Why a setting's value is refused, raised by the validators below: pydantic takes it as a
    ValueError and `load_settings` hands it on, to be read in the reader's language."""


def database_url(value: str) -> str:
    """A database URL the bot can open: SQLite through aiosqlite or PostgreSQL through asyncpg
    (`sqlite:///…` and `postgresql://…` are taken to mean those)."""
    scheme, sep, rest = value.strip().partition("://")
    driver = DATABASE_SCHEMES.get(scheme.lower())
    if not sep or driver is None or not rest:
        raise Unusable(N_("use sqlite+aiosqlite:///path/to/mailbox.db or postgresql+asyncpg://user:password@host/database"))
    return f"{driver}://{rest}"


# The hours of a working day in which the bot speaks on its own (reminders, cards from the website).
SPEAKING_FROM, SPEAKING_UNTIL = dt.time(8, 0), dt.time(20, 0)


class DaysRule:
    """A number of working days, optionally per letter type: `5` or `5;投诉=10;咨询=3`. Compares
    equal to its default, so `settings.handling_days == 5` reads naturally."""

    def __init__(self, default: int, by_type: dict[str, int] | None = None):
        self.default = default
        self.by_type = dict(by_type or {})

    @classmethod
    def parse(cls, value: object, maximum: int) -> DaysRule:
        if isinstance(value, DaysRule):
            return value
        parts = [p.strip() for p in re.split(r"[;；,，]", str(value)) if p.strip()]
        if not parts:
            raise Unusable(N_("give a number of working days, e.g. 5 or 5;投诉=10"))
        default, by_type = None, {}
        for part in parts:
            name, sep, number = part.partition("=") if "=" in part else part.partition(":")
            text = number if sep else name
            if not text.strip().isdigit() or not 1 <= int(text) <= maximum:
                raise Unusable(N_("'{part}': working days must be a whole number from 1 to {maximum}"), part=part, maximum=maximum)
            if sep:
                from models.letter_input import LETTER_TYPES, TYPE_WORDS  # the models, only when a type is named

                letter_type = TYPE_WORDS.get(name.strip().lower())
                if letter_type is None:
                    raise Unusable(N_("'{name}' is not a letter type: use {types}"), name=name.strip(), types="、".join(LETTER_TYPES))
                by_type[letter_type] = int(text)
            elif default is None:
                default = int(text)
            else:
                raise Unusable(N_("only one default number of days"))
        if default is None:
            raise Unusable(N_("the default number of days is missing, e.g. 5;投诉=10"))
        return cls(default, by_type)

    def for_type(self, letter_type: str | None) -> int:
        return self.by_type.get(letter_type or "", self.default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DaysRule):
            return (self.default, self.by_type) == (other.default, other.by_type)
        return other == self.default

    def __hash__(self) -> int:
        return hash(self.default)

    def __int__(self) -> int:
        return self.default

    def __repr__(self) -> str:
        return f"DaysRule({self.default}, {self.by_type})"


# Where the settings come from, and how they are read (`Settings`, and `configured_language`).
SOURCES = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
    env_ignore_empty=True,  # `INTAKE_TOKEN=` in .env means "not set", as .env.example shows
)


def language_code(value: object) -> object:
    """zh, zh_CN, en, and POSIX forms such as en_US.UTF-8 or zh_CN:en (first wins) as one of
    LANGUAGES; anything else as it is (for the validator to refuse)."""
    if not isinstance(value, str):
        return value
    first = value.strip().split(":")[0].split(".")[0].lower().replace("-", "_")
    if first.startswith("zh"):
        return "zh_CN"
    if first.startswith("en"):
        return "en"
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(arbitrary_types_allowed=True, **SOURCES)

    bot_token: SecretStr
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    database_url: str = "sqlite+aiosqlite:///./data/mailbox.db"
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str | None = None
    telegram_proxy: str | None = None
    timezone: str = "Asia/Shanghai"
    reminder_time: dt.time = dt.time(9, 0)
    handling_days: DaysRule = DaysRule(5)
    accept_days: DaysRule = DaysRule(1)
    escalate_after: int = Field(default=3, ge=1, le=60)
    units_file: Path = DEFAULT_UNITS_FILE
    intake_host: str = "127.0.0.1"
    intake_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    intake_token: SecretStr | None = None
    language: Literal["zh_CN", "en"] = "zh_CN"
    privacy: Literal["masked", "full"] = "masked"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # Telegram sends it back in X-Telegram-Bot-Api-Secret-Token; posts without it are refused.
    # Every instance behind one load balancer needs the same; unset, it is derived from the token.
    webhook_secret: SecretStr | None = None

    @property
    def webhook_secret_token(self) -> str:
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        return hashlib.sha256(self.bot_token.get_secret_value().encode()).hexdigest()[:64]

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        return database_url(value)

    @field_validator("telegram_proxy")
    @classmethod
    def _proxy_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
            raise Unusable(N_("give the proxy as a URL with its scheme, e.g. http://127.0.0.1:7890 or socks5://127.0.0.1:1080 ({schemes})"), schemes=", ".join(PROXY_SCHEMES))
        return value.strip()

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise Unusable(N_("1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"))
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not TOKEN_SHAPE.match(value.get_secret_value()):
            raise Unusable(N_("not a bot token of the form 123456:ABC… from @BotFather"))
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,;]+", value.strip()) if p]
            for part in parts:
                if not part.isdigit():
                    raise Unusable(N_("'{value}' is not a numeric Telegram user id"), value=part)
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("handling_days", "accept_days", mode="before")
    @classmethod
    def _days_rule(cls, value: object, info) -> object:
        return DaysRule.parse(value, maximum=60 if info.field_name == "handling_days" else 30)

    @field_validator("reminder_time", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        """Accepts 9:30 as well as 09:30."""
        if isinstance(value, str) and re.fullmatch(r"\d:\d\d", value.strip()):
            return "0" + value.strip()
        return value

    @field_validator("reminder_time")
    @classmethod
    def _while_the_bot_speaks(cls, value: dt.time, info) -> dt.time:
        """A time of day in TIMEZONE, the one source of the zone: a time with an offset or zone of
        its own (09:00+08:00, 01:00Z) is refused rather than read one way here and another there.
        Reminders wait for the hours the bot speaks on its own; one queued after them would wait
        for the next day and be dropped then as out of date."""
        if value.tzinfo is not None:
            if "timezone" in info.data:
                raise Unusable(N_("give the time without an offset or zone, e.g. 09:00: it is read in TIMEZONE ({zone})"), zone=info.data["timezone"])
            raise Unusable(N_("give the time without an offset or zone, e.g. 09:00: it is read in TIMEZONE"))
        if not SPEAKING_FROM <= value < SPEAKING_UNTIL:
            raise Unusable(N_("must be from {start} to before {end}, when the bot speaks on its own"), start=f"{SPEAKING_FROM:%H:%M}", end=f"{SPEAKING_UNTIL:%H:%M}")
        return value

    @field_validator("privacy", mode="before")
    @classmethod
    def _lower_privacy(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise Unusable(N_("unknown time zone '{zone}'"), zone=value) from None
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language_alias(cls, value: object) -> object:
        """Accepts zh, zh_CN, en, and POSIX forms such as en_US.UTF-8 or zh_CN:en (first wins)."""
        return language_code(value)

    @field_validator("telegram_api_base_url", "telegram_file_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise Unusable(N_("must be an http:// or https:// URL"))
        return value

    @field_validator("units_file")
    @classmethod
    def _units_file_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise Unusable(N_("file {path} does not exist"), path=value)
        return value

    @model_validator(mode="after")
    def _derive_file_url(self) -> Settings:
        if not self.telegram_file_base_url:
            self.telegram_file_base_url = file_url_for(self.telegram_api_base_url)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def file_url_for(api_base_url: str) -> str:
    """`…/bot` → `…/file/bot`, as Telegram and the self-hosted Bot API server lay out file URLs."""
    head, sep, tail = api_base_url.rstrip("/").rpartition("/bot")
    if sep and not tail:
        return f"{head}/file/bot"
    return api_base_url.rstrip("/") + "/file/bot"


MISSING = "missing"  # the reason of a setting not set: its reader is told where to set it


class SettingsError(Exception):
    """What is wrong with each bad setting: its environment name and why, a `Refusal` (`reasons`);
    `problems` and `str()` give the English, "missing" for a setting not set."""

    def __init__(self, reasons: list[tuple[str, Refusal | str]]):
        self.reasons = [(name, why if isinstance(why, Refusal) else Refusal(why)) for name, why in reasons]
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.problems))

    @property
    def problems(self) -> list[tuple[str, str]]:
        return [(name, str(why)) for name, why in self.reasons]

    def lines(self, t: Translator) -> list[str]:
        """What the bot prints before it stops: a line per setting, in t's language."""
        lines = [
            t("Setting {name} is not set: put it in .env (see .env.example) or the environment.", name=name)
            if why.message == MISSING else t("Setting {name} is not usable: {why}", name=name, why=t.refusal(why))
            for name, why in self.reasons
        ]
        if ("BOT_TOKEN", MISSING) in self.problems:
            lines.append(t("No token yet? `python -m bot demo` shows the bot at work without one, offline."))
        return lines


class _Language(BaseSettings):
    model_config = SettingsConfigDict(**SOURCES)

    language: str = DEFAULT_LANGUAGE


def configured_language(env_file: Path | str | None = ".env") -> str:
    """LANGUAGE as the settings read it (the environment, then `.env`), for what is said before
    they are loaded or when they cannot be: `--help`, and the settings' own errors. Never fails:
    an unknown or unreadable value is the default language."""
    try:
        language = language_code(_Language(_env_file=env_file).language)  # type: ignore[call-arg]
    except Exception:  # noqa: BLE001 (a .env the settings will refuse in their own words)
        return DEFAULT_LANGUAGE
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons: list[tuple[str, Refusal | str]] = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "?"
            reasons.append((name, MISSING if error["type"] == "missing" else reason_of(error, name)))
        raise SettingsError(reasons) from None
    if _same_socket(settings):
        raise SettingsError([("WEBHOOK_PORT", Unusable(N_("{port} is INTAKE_PORT too; give the webhook and the intake API a port each"), port=settings.webhook_port))])
    return settings


def _same_socket(settings: Settings) -> bool:
    """Would the webhook and the intake API listen on one address and port (the second could not
    start)?"""
    if not (settings.webhook_url and settings.intake_token and settings.webhook_port == settings.intake_port):
        return False
    anywhere = {"0.0.0.0", "::", ""}  # noqa: S104 (names of every address, compared, not bound)
    hosts = {settings.webhook_listen, settings.intake_host}
    return len(hosts) == 1 or bool(hosts & anywhere)
