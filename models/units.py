"""Units: the YAML file admins edit, its sync into the database, and listing them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import N_, Refusal
from locales.reasons import reason_of
from models.routing import UnitProfile
from models.tables import Member, Role, Unit, UnitKind
from models.unit_resolver import UnitRef, UnitResolver, takes_letters


class UnitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    kind: UnitKind
    code: str | None = None
    aliases: list[str] = []
    keywords: list[str] = []
    places: list[str] = []  # villages and communities, for routing suggestions
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    successor: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class UnitsFileError(Refusal):
    """Why the units file cannot be used, in one line, read in the reader's language (`str()`
    gives the English)."""


# libyaml's safe loader where PyYAML was built with it (its wheels are): the units file is read at
# every start of the bot and of every CLI verb, and the pure-Python parser takes tens of ms.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise UnitsFileError(N_("{path}: no such file"), path=path) from None
    except PermissionError:
        raise UnitsFileError(N_("{path}: the bot may not read it"), path=path) from None
    except IsADirectoryError:
        raise UnitsFileError(N_("{path}: a folder, not a file"), path=path) from None
    except OSError as exc:
        raise UnitsFileError(N_("{path}: cannot be read (error {number})"), path=path, number=exc.errno) from None
    except UnicodeDecodeError:
        raise UnitsFileError(N_("{path}: not UTF-8 text"), path=path) from None
    except yaml.YAMLError as exc:
        mark, opened = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        if mark is None:
            raise UnitsFileError(N_("{path}: not valid YAML"), path=path) from None
        if opened is not None and (opened.line, opened.column) != (mark.line, mark.column):  # an unclosed [ or {, say
            raise UnitsFileError(
                N_("{path}: not valid YAML at line {line}, column {column}, in what begins at line {start_line}, column {start_column}"),
                path=path, line=mark.line + 1, column=mark.column + 1, start_line=opened.line + 1, start_column=opened.column + 1,
            ) from None
        raise UnitsFileError(N_("{path}: not valid YAML at line {line}, column {column}"), path=path, line=mark.line + 1, column=mark.column + 1) from None
    except ValueError:  # a value YAML parses but cannot build, as the date 2020-13-01
        raise UnitsFileError(N_("{path}: a value that cannot be read, such as a date that does not exist"), path=path) from None


def read_units_file(path: Path) -> list[UnitSpec]:
    """Accepts `towns:` and `departments:` lists (kind implied) and/or a `units:` list with `kind`."""
    raw = _load_yaml(path)
    if not isinstance(raw, dict):
        raise UnitsFileError(N_("{path}: expected the keys towns, departments or units"), path=path)
    specs: list[UnitSpec] = []
    for key, kind in (("towns", UnitKind.TOWN), ("departments", UnitKind.DEPARTMENT), ("units", None)):
        for index, entry in enumerate(raw.get(key) or [], start=1):
            if not isinstance(entry, dict):
                raise UnitsFileError(N_("{path}: {key}[{index}] is not a mapping"), path=path, key=key, index=index)
            data = dict(entry) if kind is None else {"kind": kind, **entry}
            try:
                specs.append(UnitSpec.model_validate(data))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise UnitsFileError(
                    N_("{path}: {key}[{index}] {field}: {reason}"), path=path, key=key, index=index, field=where, reason=reason_of(first, where),
                ) from None
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UnitsFileError(N_("{path}: unit listed twice: {names}"), path=path, names=", ".join(duplicates))
    if not specs:
        raise UnitsFileError(N_("{path}: no units"), path=path)
    _check_names_and_dates(path, specs)
    return specs


def _check_names_and_dates(path: Path, specs: list[UnitSpec]) -> None:
    """Each name and alias names one unit (one shared would make a unit impossible to name by its
    own name); a successor is a unit of the file; a unit's days run forward."""
    owner = {spec.name: spec.name for spec in specs}
    for spec in specs:
        for alias in spec.aliases:
            other = owner.setdefault(alias, spec.name)
            if other != spec.name:
                raise UnitsFileError(N_("{path}: {unit}: the alias {alias} also names {other}"), path=path, unit=spec.name, alias=alias, other=other)
    names = {spec.name for spec in specs}
    for spec in specs:
        if spec.successor is not None and (spec.successor not in names or spec.successor == spec.name):
            raise UnitsFileError(N_("{path}: {unit}: its successor {successor} is not another unit of the file"), path=path, unit=spec.name, successor=spec.successor)
        if spec.successor is not None and spec.valid_to is None:
            raise UnitsFileError(N_("{path}: {unit}: a successor needs valid_to, the last day the unit takes letters"), path=path, unit=spec.name)
        if spec.valid_from and spec.valid_to and spec.valid_to < spec.valid_from:
            raise UnitsFileError(N_("{path}: {unit}: valid_to {valid_to} is before valid_from {valid_from}"), path=path, unit=spec.name, valid_to=spec.valid_to, valid_from=spec.valid_from)
    successors = {spec.name: spec.successor for spec in specs if spec.successor}
    for name in successors:
        chain = [name]
        while (following := successors.get(chain[-1])) is not None:
            chain.append(following)
            if following in chain[:-1]:
                raise UnitsFileError(N_("{path}: successors run in a circle: {chain}"), path=path, chain=" → ".join(chain))


def read_topics(path: Path) -> dict[str, tuple[str, ...]]:
    """The `topics:` table of the units file: topic → keywords. Optional."""
    raw = _load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise UnitsFileError(N_("{path}: expected the keys towns, departments or units"), path=path)
    topics = raw.get("topics") or {}
    if not isinstance(topics, dict) or not all(isinstance(v, list) for v in topics.values()):
        raise UnitsFileError(N_("{path}: topics must map each topic to a list of keywords"), path=path)
    return {str(topic): tuple(str(k) for k in keywords if str(k)) for topic, keywords in topics.items()}


def topics_of(text: str, topics: dict[str, tuple[str, ...]]) -> list[str]:
    """Every topic one of whose keywords the text contains, in the table's order."""
    return [topic for topic, keywords in topics.items() if any(keyword in text for keyword in keywords)]


async def sync_units(session: AsyncSession, specs: list[UnitSpec]) -> None:
    """Make the table follow the file. Units missing from the file stay (letters refer to them)
    but become inactive, so nobody can assign to them any more."""
    existing = {u.name: u for u in (await session.scalars(select(Unit))).all()}
    for position, spec in enumerate(specs):
        unit = existing.pop(spec.name, None)
        if unit is None:
            unit = Unit(name=spec.name)
            session.add(unit)
        unit.kind = spec.kind.value
        unit.code = spec.code
        unit.aliases = list(spec.aliases)
        unit.keywords = list(spec.keywords)
        unit.places = list(spec.places)
        unit.valid_from, unit.valid_to, unit.successor = spec.valid_from, spec.valid_to, spec.successor
        unit.position = position
        unit.active = True
    for unit in existing.values():
        unit.active = False


async def active_units(session: AsyncSession) -> list[Unit]:
    return list((await session.scalars(select(Unit).where(Unit.active).order_by(Unit.position))).all())


async def build_resolver(session: AsyncSession) -> UnitResolver:
    """Every unit of the file, those that took letters only in the past too (`/rate 县扶贫局 2019`);
    new work asks `resolve_on` its day."""
    units = await active_units(session)
    ids = {u.name: u.id for u in units}
    return UnitResolver(
        UnitRef(u.id, u.name, u.kind, tuple(u.aliases), u.valid_from, u.valid_to, ids.get(u.successor or ""))
        for u in units
    )


async def unit_profiles(session: AsyncSession) -> list[UnitProfile]:
    return [
        UnitProfile(u.id, u.name, u.kind, tuple(u.aliases), tuple(u.keywords), tuple(u.places), u.valid_from, u.valid_to)
        for u in await active_units(session)
    ]


async def units_with_liaisons(session: AsyncSession, day: dt.date) -> list[tuple[Unit, list[Member]]]:
    """The units that take letters on `day`, in file order, each with its liaisons, for /units and
    `python -m bot units`."""
    units = [unit for unit in await active_units(session) if takes_letters(unit, day)]
    liaisons = (
        await session.scalars(
            select(Member).where(Member.role == Role.LIAISON).order_by(Member.joined_at, Member.id)
        )
    ).all()
    by_unit: dict[int, list[Member]] = {}
    for member in liaisons:
        by_unit.setdefault(member.unit_id, []).append(member)
    return [(unit, by_unit.get(unit.id, [])) for unit in units]
