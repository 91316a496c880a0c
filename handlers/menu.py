"""The commands each kind of person sees: one list, used for Telegram's command menus
(setMyCommands, per role and language) and for /help."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from locales import LANGUAGES, N_, Translator
from models.permissions import Actor
from models.tables import Role

log = logging.getLogger(__name__)

EVERYONE = frozenset({None, Role.ADMIN, Role.LEADER, Role.LIAISON})
MEMBERS = frozenset({Role.ADMIN, Role.LEADER, Role.LIAISON})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class MenuCommand:
    name: str
    description: str  # a msgid
    roles: frozenset
    usage: str = ""  # a msgid: arguments, shown by /help
    in_groups: bool = False


COMMANDS: tuple[MenuCommand, ...] = (
    MenuCommand("start", N_("Start, or join with an invitation"), EVERYONE),
    MenuCommand("help", N_("What I can do for you"), MEMBERS, in_groups=True),
    MenuCommand("rate", N_("Handling rates"), MEMBERS, N_("[unit|镇|部门] [period]"), in_groups=True),
    MenuCommand("report", N_("The quarterly notice, its table and chart"), frozenset({Role.ADMIN, Role.LEADER}), N_("[period]")),
    MenuCommand("mine", N_("My unit's open letters"), frozenset({Role.LIAISON}), in_groups=True),
    MenuCommand("mine", N_("Letters waiting for assignment"), ADMINS),
    MenuCommand("letter", N_("A letter and its whole history"), MEMBERS, N_("<id>"), in_groups=True),
    MenuCommand("overdue", N_("Overdue letters"), MEMBERS, N_("[unit]"), in_groups=True),
    MenuCommand("done", N_("Close a letter with the reply"), frozenset({Role.ADMIN, Role.LIAISON}), N_("<id> <reply>"), in_groups=True),
    MenuCommand("return", N_("Return a letter to the information centre"), frozenset({Role.ADMIN, Role.LIAISON}), N_("<id> <reason>"), in_groups=True),
    MenuCommand("extend", N_("Ask for more working days"), frozenset({Role.ADMIN, Role.LIAISON}), N_("<id> <days> <reason>"), in_groups=True),
    MenuCommand("new", N_("Type in a new letter"), ADMINS),
    MenuCommand("assign", N_("Assign a letter to a unit"), ADMINS, N_("<id> [unit]")),
    MenuCommand("invalid", N_("Mark a letter invalid"), ADMINS, N_("<id> <reason>")),
    MenuCommand("reopen", N_("Send a closed letter back for handling again"), ADMINS, N_("<id> <reason>")),
    MenuCommand("remind", N_("Run the reminder sweep now"), ADMINS),
    MenuCommand("holidays", N_("The working-day calendar"), frozenset({Role.ADMIN, Role.LEADER})),
    MenuCommand("units", N_("Towns and departments, with their liaisons"), MEMBERS),
    MenuCommand("invite", N_("Invite a liaison, a leader or an admin"), ADMINS, N_("<unit>|leader|admin")),
    MenuCommand("remove", N_("Take a person's access away"), ADMINS, N_("<person>")),
    MenuCommand("bind", N_("Bind this group to a unit"), frozenset({Role.ADMIN, Role.LIAISON}), N_("[unit]"), in_groups=True),
    MenuCommand("unbind", N_("Unbind this group from its unit"), frozenset({Role.ADMIN, Role.LIAISON}), in_groups=True),
    MenuCommand("lang", N_("Language: 中文 or English"), MEMBERS, "zh|en"),
)


def commands_for(role: Role | None, *, group: bool = False) -> list[MenuCommand]:
    return [c for c in COMMANDS if role in c.roles and (c.in_groups or not group)]


def _bot_commands(commands: list[MenuCommand], t: Translator) -> list[BotCommand]:
    return [BotCommand(c.name, t(c.description)) for c in commands]


def _group_commands() -> list[MenuCommand]:
    return [c for c in COMMANDS if c.in_groups and c.roles & MEMBERS]


async def publish_default_menus(bot: Bot, default_language: str) -> None:
    """What a stranger sees and the group menu: language-neutral in the default language, and once
    for each language Telegram may ask for."""
    targets = [(default_language, None)] + [(lang, lang.split("_")[0]) for lang in LANGUAGES]
    for language, code in targets:
        t = Translator(language)
        await bot.set_my_commands(
            _bot_commands(commands_for(None), t), scope=BotCommandScopeDefault(), language_code=code
        )
        await bot.set_my_commands(
            _bot_commands(_group_commands(), t), scope=BotCommandScopeAllGroupChats(), language_code=code
        )


async def publish_member_menu(bot: Bot, actor: Actor, language: str) -> bool:
    """A member's private chat gets their role's commands, language-neutral, so their /lang choice
    wins over the language of their Telegram app. Telegram refuses chats that never wrote to the
    bot; that is logged, not fatal: the menu follows when they first write."""
    try:
        await bot.set_my_commands(
            _bot_commands(commands_for(actor.role), Translator(language)),
            scope=BotCommandScopeChat(actor.telegram_id),
        )
    except TelegramError as exc:
        log.info("command menu for %s not set: %s", actor.telegram_id, exc)
        return False
    return True
