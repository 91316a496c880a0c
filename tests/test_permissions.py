"""Pure unit tests for models/permissions.py: the whole role × action × unit matrix, and effective_role."""

from __future__ import annotations

import pytest

from models.permissions import Action, Actor, can, effective_role
from models.tables import Role

OWN_UNIT = 1
OTHER_UNIT = 2

ACTORS: dict[str, Actor] = {
    "stranger": Actor(telegram_id=100, role=None),
    "admin": Actor(telegram_id=101, role=Role.ADMIN),
    "leader": Actor(telegram_id=102, role=Role.LEADER),
    "liaison": Actor(telegram_id=103, role=Role.LIAISON, unit_id=OWN_UNIT, unit_name="八仙镇"),
}

# The unit an action is asked about: none given, the liaison's own unit, another unit.
UNIT_CASES: dict[str, int | None] = {"none": None, "own": OWN_UNIT, "other": OTHER_UNIT}

Y, N = True, False

# EXPECTED[role][action] = (no unit, own unit 1, other unit 2)
EXPECTED: dict[str, dict[Action, tuple[bool, bool, bool]]] = {
    "stranger": {
        Action.INVITE: (N, N, N),
        Action.VIEW_UNITS: (N, N, N),
        Action.BIND_GROUP: (N, N, N),
        Action.VIEW_ALL_LETTERS: (N, N, N),
        Action.VIEW_STATS: (N, N, N),
        Action.MANAGE_LETTERS: (N, N, N),
        Action.HANDLE_UNIT_LETTERS: (N, N, N),
    },
    "admin": {
        Action.INVITE: (Y, Y, Y),
        Action.VIEW_UNITS: (Y, Y, Y),
        Action.BIND_GROUP: (Y, Y, Y),
        Action.VIEW_ALL_LETTERS: (Y, Y, Y),
        Action.VIEW_STATS: (Y, Y, Y),
        Action.MANAGE_LETTERS: (Y, Y, Y),
        Action.HANDLE_UNIT_LETTERS: (Y, Y, Y),
    },
    "leader": {
        Action.INVITE: (N, N, N),
        Action.VIEW_UNITS: (Y, Y, Y),
        Action.BIND_GROUP: (N, N, N),
        Action.VIEW_ALL_LETTERS: (Y, Y, Y),
        Action.VIEW_STATS: (Y, Y, Y),
        Action.MANAGE_LETTERS: (N, N, N),  # "cannot change letters"
        Action.HANDLE_UNIT_LETTERS: (N, N, N),
    },
    "liaison": {
        Action.INVITE: (N, N, N),
        Action.VIEW_UNITS: (Y, Y, Y),  # not unit-scoped
        Action.BIND_GROUP: (Y, Y, N),
        Action.VIEW_ALL_LETTERS: (N, N, N),
        Action.VIEW_STATS: (Y, Y, N),
        Action.MANAGE_LETTERS: (N, N, N),
        Action.HANDLE_UNIT_LETTERS: (Y, Y, N),
    },
}


def test_matrix_covers_every_role_and_every_action():
    assert set(EXPECTED) == set(ACTORS)
    for role, row in EXPECTED.items():
        assert set(row) == set(Action), role
    assert {a.role for a in ACTORS.values()} == {None, *Role}


MATRIX = [
    pytest.param(role, action, unit_case, EXPECTED[role][action][index], id=f"{role}-{action.value}-{unit_case}")
    for role in EXPECTED
    for action in Action
    for index, unit_case in enumerate(UNIT_CASES)
]


@pytest.mark.parametrize(("role", "action", "unit_case", "allowed"), MATRIX)
def test_can_matrix(role, action, unit_case, allowed):
    assert can(ACTORS[role], action, UNIT_CASES[unit_case]) is allowed


def test_can_without_unit_argument_equals_unit_none():
    for actor in ACTORS.values():
        for action in Action:
            assert can(actor, action) is can(actor, action, None)


@pytest.mark.parametrize("action", [Action.BIND_GROUP, Action.HANDLE_UNIT_LETTERS, Action.VIEW_STATS])
def test_liaison_of_another_unit_is_refused_on_mine(action):
    liaison_of_2 = Actor(telegram_id=200, role=Role.LIAISON, unit_id=OTHER_UNIT)
    assert can(liaison_of_2, action, OTHER_UNIT) is True
    assert can(liaison_of_2, action, OWN_UNIT) is False


@pytest.mark.parametrize("action", [Action.BIND_GROUP, Action.HANDLE_UNIT_LETTERS, Action.VIEW_STATS])
def test_liaison_without_a_unit_may_act_on_no_concrete_unit(action):
    orphan = Actor(telegram_id=201, role=Role.LIAISON, unit_id=None)
    assert can(orphan, action) is False
    assert can(orphan, action, OWN_UNIT) is False
    assert can(orphan, action, OTHER_UNIT) is False


@pytest.mark.parametrize("unit_id", [None, OWN_UNIT, OTHER_UNIT])
def test_stranger_flagged_as_bootstrap_or_with_a_unit_is_still_a_stranger(unit_id):
    stranger = Actor(telegram_id=300, role=None, unit_id=OWN_UNIT, unit_name="八仙镇", bootstrap_admin=True)
    assert stranger.is_stranger is True
    assert not any(can(stranger, action, unit_id) for action in Action)


def test_is_stranger():
    assert ACTORS["stranger"].is_stranger is True
    for role in ("admin", "leader", "liaison"):
        assert ACTORS[role].is_stranger is False


def test_actions_have_stable_values():
    # The values are stored and logged; renaming one is a contract change.
    assert {a.value for a in Action} == {
        "invite",
        "view_units",
        "bind_group",
        "view_all_letters",
        "view_stats",
        "manage_letters",
        "handle_unit_letters",
    }


# --- effective_role ---------------------------------------------------------------------------------

ADMINS = frozenset({11, 12})


@pytest.mark.parametrize("stored", [None, "", "admin", "leader", "liaison"])
def test_admin_ids_always_win(stored):
    assert effective_role(11, stored, ADMINS) is Role.ADMIN
    assert effective_role(12, stored, ADMINS) is Role.ADMIN


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("admin", Role.ADMIN), ("leader", Role.LEADER), ("liaison", Role.LIAISON), (None, None), ("", None)],
)
def test_stored_role_for_people_not_in_admin_ids(stored, expected):
    assert effective_role(99, stored, ADMINS) is expected


def test_stored_role_accepts_the_enum_itself():
    assert effective_role(99, Role.LIAISON, ADMINS) is Role.LIAISON


def test_none_stays_stranger_with_no_admin_ids():
    assert effective_role(11, None, frozenset()) is None


def test_effective_role_feeds_can():
    bootstrap = Actor(telegram_id=11, role=effective_role(11, "liaison", ADMINS), unit_id=OWN_UNIT)
    assert can(bootstrap, Action.MANAGE_LETTERS) is True
    assert can(bootstrap, Action.HANDLE_UNIT_LETTERS, OTHER_UNIT) is True
    nobody = Actor(telegram_id=99, role=effective_role(99, None, ADMINS))
    assert nobody.is_stranger
    assert can(nobody, Action.VIEW_UNITS) is False
