"""One resolver for every place a person types a unit: exact name or alias, an unambiguous part
(八仙 → 八仙镇), pinyin (baxian), homophones and small typos. It returns every unit of the best
matching tier; the caller asks the person when there is more than one, so it never guesses.

Tiers, best first; the first tier with any match wins:
1. exact name or alias;
2. containment: the text is part of a name or alias (八仙 → 八仙镇), or names one inside it
   (平利县八仙镇 → 八仙镇);
3. same pinyin (baxian, or a homophone typo such as 八先镇), or the initials (bxz);
4. a pinyin prefix of at least three letters that ends on a syllable (zhujian) or inside the last
   one (bax), but not on a different whole syllable: `zhen` is 镇, not the start of 正阳镇 (zheng);
5. a small typo: one edit for short names, two for long ones, counted on the characters and on
   the pinyin (八仙正, baxain); of the pinyin of text typed in characters, one edit at most.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from rapidfuzz.distance import OSA

_NOISE = re.compile(r"[\s·・.,，。、'\"“”‘’()（）\-_]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class UnitRef:
    id: int
    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    # A renamed or merged body (the units file's valid_from, valid_to, successor): the days it takes
    # letters, and the unit that takes them after it.
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    successor_id: int | None = None


def takes_letters(unit, day: dt.date) -> bool:
    """Does the unit (anything with valid_from and valid_to) take new letters on `day`?"""
    return (unit.valid_from is None or unit.valid_from <= day) and (unit.valid_to is None or day <= unit.valid_to)


@dataclass(frozen=True)
class Resolution:
    query: str
    matches: tuple[UnitRef, ...] = field(default_factory=tuple)
    # With a day (`UnitResolver.resolve_on`): units the text names that take no letters that day
    # and have no successor that does.
    retired: tuple[UnitRef, ...] = ()

    @property
    def unit(self) -> UnitRef | None:
        """The unit, when exactly one matched."""
        return self.matches[0] if len(self.matches) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.matches) > 1


def normalize(text: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", text)).lower()


@lru_cache(maxsize=4096)
def _pinyin(label: str) -> tuple[str, str, tuple[str, ...]]:
    """Toneless pinyin, initials and syllables of a label: 八仙镇 → ("baxianzhen", "bxz", (…))."""
    # pypinyin takes most of a second to load its dictionaries: only when a name is not found by its
    # characters (an import of 100,000 letters by exact unit names never needs it).
    from pypinyin import Style, lazy_pinyin

    syllables = tuple(s.lower() for s in lazy_pinyin(label, style=Style.NORMAL, errors="default") if s)
    return "".join(syllables), "".join(s[0] for s in syllables), syllables


@lru_cache(maxsize=1)
def _all_syllables() -> frozenset[str]:
    """Every toneless Mandarin syllable pypinyin knows (about 420), loaded on first need."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(to_normal(p) for readings in pinyin_dict.values() for p in readings.split(","))


def _is_syllable_prefix(query: str, syllables: tuple[str, ...]) -> bool:
    """Does `query` spell the first syllables, possibly ending partway into the next one, where
    that unfinished part cannot be read as a whole syllable of its own?"""
    position = 0
    for syllable in syllables:
        rest = query[position:]
        if not rest:
            return True
        if rest.startswith(syllable):
            position += len(syllable)
            continue
        return syllable.startswith(rest) and rest not in _all_syllables()
    return position == len(query)


def _typo_budget(length: int) -> int:
    if length < 3:
        return 0
    return 1 if length <= 7 else 2


@dataclass(frozen=True)
class _Label:
    text: str
    unit: UnitRef

    @cached_property
    def _sound(self) -> tuple[str, str, tuple[str, ...]]:
        """Worked out on first need (see _pinyin)."""
        return _pinyin(self.text)

    @property
    def pinyin(self) -> str:
        return self._sound[0]

    @property
    def initials(self) -> str:
        return self._sound[1]

    @property
    def syllables(self) -> tuple[str, ...]:
        return self._sound[2]


class UnitResolver:
    def __init__(self, units: Iterable[UnitRef]):
        self.units: tuple[UnitRef, ...] = tuple(units)
        self._labels: list[_Label] = []
        for unit in self.units:
            for label in dict.fromkeys((unit.name, *unit.aliases)):
                text = normalize(label)
                if text:
                    self._labels.append(_Label(text, unit))
        self._by_id = {u.id: u for u in self.units}
        self._answers: dict[str, Resolution] = {}  # imports ask for the same few names many times
        self.dated = any(u.valid_from or u.valid_to for u in self.units)

    def resolve(self, text: str) -> Resolution:
        answer = self._answers.get(text)
        if answer is None:
            answer = self._resolve(text)
            if len(self._answers) < 10_000:
                self._answers[text] = answer
        return answer

    def by_id(self, unit_id: int) -> UnitRef | None:
        return self._by_id.get(unit_id)

    def resolve_on(self, text: str, day: dt.date) -> Resolution:
        """`resolve` for new work on `day`: a unit named by its old name is its successor then
        (县扶贫局 → 县乡村振兴局); one with none that day is left out, in `retired`."""
        resolution = self.resolve(text)
        if not self.dated:
            return resolution
        current: dict[UnitRef, None] = {}
        retired = []
        for unit in resolution.matches:
            taker = self.taker_on(unit, day)
            if taker is None:
                retired.append(unit)
            else:
                current[taker] = None
        return Resolution(resolution.query, tuple(current), tuple(retired))

    def taker_on(self, unit: UnitRef, day: dt.date) -> UnitRef | None:
        """The unit that takes `unit`'s new letters on `day`: itself, its successor, theirs…"""
        seen: set[int] = set()
        while unit is not None and unit.id not in seen:
            if takes_letters(unit, day):
                return unit
            seen.add(unit.id)
            ended = unit.valid_to is not None and day > unit.valid_to
            unit = self._by_id.get(unit.successor_id) if ended and unit.successor_id is not None else None  # type: ignore[arg-type]
        return None

    def _resolve(self, text: str) -> Resolution:
        query = normalize(text)
        if not query:
            return Resolution(text)
        for tier in (self._exact, self._containing, self._same_sound, self._pinyin_prefix, self._typo):
            found = tier(query)
            if found:
                return Resolution(text, tuple(self._ordered(found)))
        return Resolution(text)

    def _ordered(self, units: set[UnitRef]) -> list[UnitRef]:
        order = {u.id: i for i, u in enumerate(self.units)}
        return sorted(units, key=lambda u: order[u.id])

    def _exact(self, query: str) -> set[UnitRef]:
        return {label.unit for label in self._labels if label.text == query}

    def _containing(self, query: str) -> set[UnitRef]:
        if not _HAN.search(query):
            return set()
        inside = {label.unit for label in self._labels if query in label.text}
        if inside:
            return inside
        return {label.unit for label in self._labels if len(label.text) >= 2 and label.text in query}

    def _same_sound(self, query: str) -> set[UnitRef]:
        full = _pinyin(query)[0]
        found = {label.unit for label in self._labels if label.pinyin == full}
        if not found and query.isascii() and len(query) >= 2:
            found = {label.unit for label in self._labels if label.initials == query}
        return found

    def _pinyin_prefix(self, query: str) -> set[UnitRef]:
        if not query.isascii() or len(query) < 3:
            return set()
        return {label.unit for label in self._labels if _is_syllable_prefix(query, label.syllables)}

    def _typo(self, query: str) -> set[UnitRef]:
        found: set[UnitRef] = set()
        query_pinyin = _pinyin(query)[0]
        # Typed in characters, a slip of the input method is one letter of pinyin (八仙正); two
        # would take 县供电局 (gongdian) for 县公安局 (gongan), a unit the person never meant.
        most = 2 if query.isascii() else 1
        for label in self._labels:
            budget = _typo_budget(min(len(query), len(label.text)))
            if budget and not query.isascii() and OSA.distance(query, label.text, score_cutoff=budget) <= budget:
                found.add(label.unit)
                continue
            budget = min(most, _typo_budget(min(len(query_pinyin), len(label.pinyin))))
            if budget and OSA.distance(query_pinyin, label.pinyin, score_cutoff=budget) <= budget:
                found.add(label.unit)
        return found
