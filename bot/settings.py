"""Settings from the environment or `.env`, with the names PRODUCT.md fixes.

A missing or malformed setting must stop the bot with one line naming it, so loading goes through
`load_settings()`, which turns pydantic's validation errors into `SettingsError`.
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

DEFAULT_UNITS_FILE = Path(__file__).parent / "data" / "pingli-units.yaml"
TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
# The drivers the bot runs on, and the URLs people write for the same databases without a driver.
DATABASE_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite", "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
}


def database_url(value: str) -> str:
    """A database URL the bot can open: SQLite through aiosqlite or PostgreSQL through asyncpg
    (`sqlite:///…` and `postgresql://…` are taken to mean those)."""
    scheme, sep, rest = value.strip().partition("://")
    driver = DATABASE_SCHEMES.get(scheme.lower())
    if not sep or driver is None or not rest:
        raise ValueError("use sqlite+aiosqlite:///path/to/mailbox.db or postgresql+asyncpg://user:password@host/database")
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
            raise ValueError("give a number of working days, e.g. 5 or 5;投诉=10")
        default, by_type = None, {}
        for part in parts:
            name, sep, number = part.partition("=") if "=" in part else part.partition(":")
            text = number if sep else name
            if not text.strip().isdigit() or not 1 <= int(text) <= maximum:
                raise ValueError(f"{part!r}: working days must be a whole number from 1 to {maximum}")
            if sep:
                from models.letter_input import LETTER_TYPES, TYPE_WORDS  # the models, only when a type is named

                letter_type = TYPE_WORDS.get(name.strip().lower())
                if letter_type is None:
                    raise ValueError(f"{name.strip()!r} is not a letter type: use {'、'.join(LETTER_TYPES)}")
                by_type[letter_type] = int(text)
            elif default is None:
                default = int(text)
            else:
                raise ValueError("only one default number of days")
        if default is None:
            raise ValueError("the default number of days is missing, e.g. 5;投诉=10")
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        arbitrary_types_allowed=True,
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_ignore_empty=True,  # `INTAKE_TOKEN=` in .env means "not set", as .env.example shows
    )

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
            raise ValueError(f"give the proxy as a URL with its scheme, e.g. http://127.0.0.1:7890 or socks5://127.0.0.1:1080 ({', '.join(PROXY_SCHEMES)})")
        return value.strip()

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not TOKEN_SHAPE.match(value.get_secret_value()):
            raise ValueError("not a bot token of the form 123456:ABC… from @BotFather")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,;]+", value.strip()) if p]
            for part in parts:
                if not part.isdigit():
                    raise ValueError(f"{part!r} is not a numeric Telegram user id")
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
            zone = f" ({info.data['timezone']})" if "timezone" in info.data else ""
            raise ValueError(f"give the time without an offset or zone, e.g. 09:00: it is read in TIMEZONE{zone}")
        if not SPEAKING_FROM <= value < SPEAKING_UNTIL:
            raise ValueError(f"must be from {SPEAKING_FROM:%H:%M} to before {SPEAKING_UNTIL:%H:%M}, when the bot speaks on its own")
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
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language_alias(cls, value: object) -> object:
        """Accepts zh, zh_CN, en, and POSIX forms such as en_US.UTF-8 or zh_CN:en (first wins)."""
        if not isinstance(value, str):
            return value
        first = value.strip().split(":")[0].split(".")[0].lower().replace("-", "_")
        if first.startswith("zh"):
            return "zh_CN"
        if first.startswith("en"):
            return "en"
        return value

    @field_validator("telegram_api_base_url", "telegram_file_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("units_file")
    @classmethod
    def _units_file_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"file {value} does not exist")
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


class SettingsError(Exception):
    """One line per bad setting: the environment name and what is wrong with it."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems))


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "?"
            why = "missing" if error["type"] == "missing" else _short_reason(error["msg"])
            problems.append((name, why))
        raise SettingsError(problems) from None
    if _same_socket(settings):
        raise SettingsError([("WEBHOOK_PORT", f"{settings.webhook_port} is INTAKE_PORT too; give the webhook and the intake API a port each")])
    return settings


def _same_socket(settings: Settings) -> bool:
    """Would the webhook and the intake API listen on one address and port (the second could not
    start)?"""
    if not (settings.webhook_url and settings.intake_token and settings.webhook_port == settings.intake_port):
        return False
    anywhere = {"0.0.0.0", "::", ""}  # noqa: S104 (names of every address, compared, not bound)
    hosts = {settings.webhook_listen, settings.intake_host}
    return len(hosts) == 1 or bool(hosts & anywhere)


def _short_reason(message: str) -> str:
    return message.removeprefix("Value error, ")
