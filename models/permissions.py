"""Who may do what. One check, `can()`, used by every handler, the CLI and the API alike.

Permissions follow the person, never the chat: a liaison acting in a group is still only a liaison
of their own unit, and a stranger in a bound group is still a stranger.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from models.tables import Role


class Action(enum.StrEnum):
    INVITE = "invite"
    VIEW_UNITS = "view_units"
    BIND_GROUP = "bind_group"
    VIEW_ALL_LETTERS = "view_all_letters"
    VIEW_STATS = "view_stats"
    MANAGE_LETTERS = "manage_letters"  # ingest, assign, invalidate, approve extensions, reopen
    HANDLE_UNIT_LETTERS = "handle_unit_letters"  # 签收, 退回, 办结, ask for 延期


@dataclass(frozen=True)
class Actor:
    """The person behind an update, as the rules see them."""

    telegram_id: int
    role: Role | None
    unit_id: int | None = None
    unit_name: str | None = None
    full_name: str = ""
    language: str | None = None
    bootstrap_admin: bool = False

    @property
    def is_stranger(self) -> bool:
        return self.role is None


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.LEADER: frozenset({Action.VIEW_UNITS, Action.VIEW_ALL_LETTERS, Action.VIEW_STATS}),
    Role.LIAISON: frozenset({Action.VIEW_UNITS, Action.BIND_GROUP, Action.HANDLE_UNIT_LETTERS, Action.VIEW_STATS}),
}

# Actions a liaison may take only on their own unit's things.
_UNIT_SCOPED = frozenset({Action.BIND_GROUP, Action.HANDLE_UNIT_LETTERS, Action.VIEW_STATS})


def can(actor: Actor, action: Action, unit_id: int | None = None) -> bool:
    """May `actor` do `action`, on `unit_id` where the action concerns one unit?

    Admins may do everything. A liaison's unit-scoped actions need the unit to be their own; asked
    without a unit, the answer is whether they may do it on their own unit.
    """
    if actor.role is None or action not in _ALLOWED[actor.role]:
        return False
    if actor.role is Role.LIAISON and action in _UNIT_SCOPED:
        # A liaison whose unit is gone (removed from the file) holds no unit rights at all.
        return actor.unit_id is not None and unit_id in (None, actor.unit_id)
    return True


def effective_role(telegram_id: int, stored_role: str | None, admin_ids: frozenset[int]) -> Role | None:
    """ADMIN_IDS always win, so a bootstrap admin can never be locked out through the database."""
    if telegram_id in admin_ids:
        return Role.ADMIN
    return Role(stored_role) if stored_role else None
