"""Which units a letter probably belongs to, for the admins' assign buttons. Only a suggestion:
an admin always chooses.

Ranking: a unit named in the letter (its name or an alias) scores 10; a village or community the
units file lists for it scores 8; each different keyword of a department found scores 3. The
three best units with any score are offered, ties in file order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

NAMED, PLACE, KEYWORD = 10, 8, 3
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class UnitProfile:
    id: int
    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    valid_from: dt.date | None = None  # the days it takes letters (see unit_resolver.takes_letters)
    valid_to: dt.date | None = None


def score(text: str, unit: UnitProfile) -> int:
    total = 0
    if any(label in text for label in (unit.name, *unit.aliases) if len(label) >= 2):
        total += NAMED
    if any(place in text for place in unit.places if len(place) >= 2):
        total += PLACE
    total += KEYWORD * sum(1 for keyword in set(unit.keywords) if keyword and keyword in text)
    return total


def suggest_units(text: str, units: list[UnitProfile], *, exclude: int | None = None, limit: int = MAX_SUGGESTIONS) -> list[UnitProfile]:
    scored = [(score(text, u), position, u) for position, u in enumerate(units) if u.id != exclude]
    ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
    return [u for _, _, u in ranked[:limit]]
