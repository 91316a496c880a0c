"""`.env.example` documents every setting, each with a comment, and loads as it stands."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_NAMES = {
    "BOT_TOKEN", "ADMIN_IDS", "DATABASE_URL", "TELEGRAM_API_BASE_URL", "TELEGRAM_FILE_BASE_URL",
    "TELEGRAM_PROXY", "TIMEZONE", "REMINDER_TIME", "HANDLING_DAYS", "ACCEPT_DAYS", "ESCALATE_AFTER",
    "UNITS_FILE", "INTAKE_HOST", "INTAKE_PORT", "INTAKE_TOKEN", "LANGUAGE", "PRIVACY", "WEBHOOK_URL",
}


def test_every_setting_is_listed_with_a_comment():
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    listed = {}
    for index, line in enumerate(lines):
        match = re.match(r"^([A-Z_]+)=", line)
        if match:
            listed[match.group(1)] = lines[index - 1].startswith("#")
    fields = {name.upper() for name in Settings.model_fields}
    assert CONTRACT_NAMES <= fields
    assert set(listed) == fields
    assert all(listed.values()), [name for name, commented in listed.items() if not commented]


def test_the_example_loads(monkeypatch, tmp_path):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=ROOT / ".env.example", bot_token="123:" + "a" * 30)
    assert settings.intake_token is None and settings.webhook_url is None
    assert settings.telegram_file_base_url == "https://api.telegram.org/file/bot"
    assert settings.units_file.name == "pingli-units.yaml"
