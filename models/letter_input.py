"""One validation for every way a letter comes in (HTTP API, CSV/XLSX files, typed in): raw values
in, a `LetterRecord` or a list of `FieldError`s out. Errors carry a gettext message id and values,
so each surface shows them in its reader's language."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

from locales import N_
from models.tables import LetterStatus
from models.unit_resolver import UnitResolver

FIELDS = (
    "external_id", "title", "content", "sender_name", "sender_phone", "received_at", "type", "unit",
    "status", "assigned_at", "accepted_at", "done_at", "reply", "invalid_reason",
)
LIMITS = {
    "external_id": 64, "title": 500, "content": 50_000, "sender_name": 100, "sender_phone": 50,
    "reply": 50_000, "invalid_reason": 2_000, "unit": 100, "type": 16, "status": 16,
}
LETTER_TYPES = ("咨询", "求助", "建议", "投诉", "举报")
TYPE_WORDS = {
    **{t: t for t in LETTER_TYPES},
    "consultation": "咨询", "consult": "咨询", "inquiry": "咨询", "help": "求助", "request": "求助",
    "suggestion": "建议", "advice": "建议", "complaint": "投诉", "report": "举报", "tip": "举报",
}
STATUS_WORDS = {
    **{s.value: s for s in LetterStatus},
    "待交办": LetterStatus.NEW, "新": LetterStatus.NEW, "已交办": LetterStatus.ASSIGNED, "交办": LetterStatus.ASSIGNED,
    "已签收": LetterStatus.ACCEPTED, "签收": LetterStatus.ACCEPTED, "办理中": LetterStatus.ACCEPTED,
    "已办结": LetterStatus.DONE, "办结": LetterStatus.DONE, "已退回": LetterStatus.RETURNED,
    "退回": LetterStatus.RETURNED, "无效": LetterStatus.INVALID,
}
# A future received_at beyond this is a typo or a wrong zone, not clock skew.
FUTURE_TOLERANCE = dt.timedelta(hours=1)

# Kept: zero-width joiners and non-joiners (emoji sequences such as 👨‍👩‍👧, Persian words) and the
# left-to-right and right-to-left marks, which disguise nothing; bidi overrides and isolates do.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
# Lone surrogates: JSON may carry them ("\ud800"), UTF-8 cannot, so neither driver can store them.
# Replaced, not removed: removing could join what was apart, and U+FFFD shows where text was lost.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str  # a msgid
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LetterRecord:
    external_id: str | None
    title: str
    content: str
    received_at: dt.datetime
    sender_name: str | None = None
    sender_phone: str | None = None
    type: str | None = None
    unit_id: int | None = None
    status: LetterStatus = LetterStatus.NEW
    assigned_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    reply: str | None = None
    invalid_reason: str | None = None
    assigned_on_arrival: bool = False  # the unit came without a history: assigned now, to be told


def clean_text(value: str) -> str:
    """NFC, no control or bidi-override characters (they break messages and can disguise text),
    line ends as \\n, no surrounding blanks, lone surrogates as U+FFFD: what is left can be encoded
    in UTF-8 and stored by both databases (PostgreSQL refuses NUL, and no driver encodes a
    surrogate)."""
    if value.isprintable():
        # The common case, in one pass: line ends, surrogates and every character _CONTROL removes
        # are unprintable, and NFC neither makes nor removes such characters.
        return unicodedata.normalize("NFC", value).strip()
    value = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", value)).replace("\r\n", "\n").replace("\r", "\n")
    return _trimmed(_CONTROL.sub("", value))


_MARKS = "\u200c\u200d\u200e\u200f"  # kept inside a text (see _CONTROL), meaningless at its ends


def _trimmed(text: str) -> str:
    """No blanks and no joiners or direction marks at either end: a title of marks alone is empty."""
    while True:
        shorter = text.strip().strip(_MARKS)
        if shorter == text:
            return text
        text = shorter


_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?$"),
    re.compile(r"^(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]?(?:\s*(?P<H>\d{1,2})[:：时点](?P<M>\d{1,2})?分?(?::(?P<S>\d{2}))?)?$"),
)


def parse_datetime(value: object, tz: ZoneInfo) -> dt.datetime | None:
    """ISO 8601 (with or without a zone) and the usual office forms: 2019-03-05 10:00,
    2019/3/5 10:00, 2019年3月5日, 2019年3月5日 10时30分. Without a zone the time is in `tz`.
    Returns None when the value is not a date, or is a time no database can store (see
    _storable)."""
    if isinstance(value, dt.datetime):
        return _storable(value if value.tzinfo else value.replace(tzinfo=tz))
    if isinstance(value, dt.date):
        return _storable(dt.datetime.combine(value, dt.time(), tzinfo=tz))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        parsed = None
    if parsed is not None:
        return _storable(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz))
    for form in _DATE_FORMS:
        match = form.match(text)
        if match:
            parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
            try:
                return _storable(dt.datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"], tzinfo=tz))
            except ValueError:
                return None
    return None


def _storable(value: dt.datetime) -> dt.datetime | None:
    """None for a time with no UTC equivalent (early on 0001-01-01 east of UTC, late on 9999-12-31
    west of it): times are stored in UTC, and Python's datetime ends there. Such a time is no more
    a date than 2019-02-30, and is refused with the same words."""
    if 1 < value.year < 9999:  # every other year: no offset (under a day) reaches past either end
        return value
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        return None
    return value


def _text(raw: Mapping[str, object], name: str, errors: list[FieldError], *, required: bool = False) -> str | None:
    return _text_of(raw.get(name), name, errors, required)


def _text_of(value: object, name: str, errors: list[FieldError], required: bool = False) -> str | None:
    if value.__class__ is str:  # the common case first; the order of the checks below is the rule
        text = clean_text(value)  # type: ignore[arg-type]
    elif value is None:
        text = ""
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("external_id", "sender_phone") and math.isfinite(value):
        text = str(int(value)) if float(value).is_integer() else str(value)
    elif isinstance(value, str):
        text = clean_text(value)
    else:
        errors.append(FieldError(name, N_("must be text")))
        return None
    if not text:
        if required:
            errors.append(FieldError(name, N_("is required")))
        return None
    limit = LIMITS.get(name, 10_000)
    if len(text) > limit:
        errors.append(FieldError(name, N_("is too long (at most {limit} characters)"), {"limit": limit}))
        return None
    return text


_BLANK = object()
_UNSEEN = object()
_PARSED: dict[tuple[str, object], object] = {}  # (text, zone) → datetime, None (not a date) or _BLANK
_PARSED_LIMIT = 20_000


def _parse_text(value: str, tz: ZoneInfo) -> object:
    """`parse_datetime` of a cell's text, remembered: a file repeats the same times many times."""
    key = (value, tz)
    parsed = _PARSED.get(key, _UNSEEN)
    if parsed is _UNSEEN:
        parsed = parse_datetime(value, tz) if value.strip() else _BLANK
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = parsed
    return parsed


def _time(raw: Mapping[str, object], name: str, tz: ZoneInfo, errors: list[FieldError]) -> dt.datetime | None:
    return _time_of(raw.get(name), name, tz, errors)


def _time_of(value: object, name: str, tz: ZoneInfo, errors: list[FieldError]) -> dt.datetime | None:
    if value is None:
        return None
    if value.__class__ is str:
        parsed = _parse_text(value, tz)  # type: ignore[arg-type]
        if parsed is _BLANK:
            return None
    elif isinstance(value, str) and not value.strip():
        return None
    else:
        parsed = parse_datetime(value, tz)
    if parsed is None:
        errors.append(FieldError(name, N_("is not a date and time (e.g. 2019-03-05 10:00)")))
    return parsed  # type: ignore[return-value]


_LATER: dict[tuple[dt.datetime, dt.datetime], bool] = {}


def _later(value: dt.datetime, limit: dt.datetime) -> bool:
    """`value > limit`, remembered: a file's times are the same few objects (see _parse_text), and
    comparing times in two zones asks each zone for its offset, which costs more than a lookup."""
    key = (value, limit)
    later = _LATER.get(key)
    if later is None:
        if len(_LATER) >= _PARSED_LIMIT:
            _LATER.clear()
        later = _LATER[key] = value > limit
    return later


_last_latest: tuple = (None, None)  # the last `now`, and `now + FUTURE_TOLERANCE`


def _latest(now: dt.datetime) -> dt.datetime:
    """`now + FUTURE_TOLERANCE`, the same object while `now` is (a file's rows share one `now`), so
    `_later` finds its answers by identity."""
    global _last_latest
    last_now, latest = _last_latest
    if now is not last_now:
        latest = now + FUTURE_TOLERANCE
        _last_latest = (now, latest)
    return latest


_new = object.__new__
_Built = TypeVar("_Built")


def without_init(cls: type[_Built], values: dict[str, object]) -> _Built:
    """`cls(**values)` for a frozen dataclass and a complete set of its fields, without the
    field-by-field __init__ (a tenth of a file row's validation): for what is built once per row
    of a large file. Tests pin each use to the dataclass's own constructor."""
    built = _new(cls)
    built.__dict__.update(values)
    return built


def _record(values: dict[str, object]) -> LetterRecord:
    return without_init(LetterRecord, values)


def build_record(
    raw: Mapping[str, object], *, tz: ZoneInfo, resolver: UnitResolver, now: dt.datetime, history: bool = True
) -> LetterRecord | list[FieldError]:
    """Validate one letter. `history=False` (the HTTP API, typed-in letters) accepts only a new
    letter, optionally with its unit; files may carry the whole history. (Runs once per row of a
    100,000-row file: absent fields are passed over without a call.)"""
    errors: list[FieldError] = []
    get = raw.get
    external_id = _text_of(get("external_id"), "external_id", errors)
    title = _text_of(get("title"), "title", errors, True)
    content = _text_of(get("content"), "content", errors) or ""
    value = get("sender_name")
    sender_name = None if value is None else _text_of(value, "sender_name", errors)
    value = get("sender_phone")
    sender_phone = None if value is None else _text_of(value, "sender_phone", errors)
    received_at = _time_of(get("received_at"), "received_at", tz, errors)
    latest = _latest(now)
    if received_at is None:
        if not any(e.field == "received_at" for e in errors):
            errors.append(FieldError("received_at", N_("is required")))
    elif _later(received_at, latest):
        errors.append(FieldError("received_at", N_("is in the future")))

    letter_type = None
    value = get("type")
    type_text = None if value is None else _text_of(value, "type", errors)
    if type_text:
        letter_type = TYPE_WORDS.get(type_text.lower())
        if letter_type is None:
            errors.append(FieldError("type", N_("must be one of {choices}"), {"choices": "、".join(LETTER_TYPES)}))

    value = get("unit")
    unit_text = None if value is None else _text_of(value, "unit", errors)

    status = assigned_at = accepted_at = done_at = reply = invalid_reason = None
    if history:
        value = get("status")
        status_text = None if value is None else _text_of(value, "status", errors)
        if status_text:
            status = STATUS_WORDS.get(status_text.lower())
            if status is None:
                errors.append(FieldError("status", N_("must be one of {choices}"), {"choices": "待交办、已交办、已签收、已办结、已退回、无效"}))
        assigned_at = _time_of(get("assigned_at"), "assigned_at", tz, errors)
        accepted_at = _time_of(get("accepted_at"), "accepted_at", tz, errors)
        done_at = _time_of(get("done_at"), "done_at", tz, errors)
        value = get("reply")
        reply = None if value is None else _text_of(value, "reply", errors)
        value = get("invalid_reason")
        invalid_reason = None if value is None else _text_of(value, "invalid_reason", errors)
        if received_at is not None and (assigned_at or accepted_at or done_at):
            assigned_at, accepted_at, done_at = _in_day_order(received_at, assigned_at, accepted_at, done_at)
    arrival = not history or (status is None and not (assigned_at or accepted_at or done_at or invalid_reason))
    if unit_text:
        # The unit as it was when it was given the letter: now for a letter assigned on arrival; for
        # history, at its assignment, or (an invalid or unassigned row naming one) its receipt.
        given = now if arrival else assigned_at or received_at or now
        unit_id = _unit_id(unit_text, resolver, given, tz, errors)
    else:
        unit_id = None

    on_arrival = unit_id is not None and arrival
    if on_arrival:
        # A unit without a history: assigned now. A received_at slightly ahead of our clock must
        # not come after the assignment.
        status, assigned_at = LetterStatus.ASSIGNED, max(now, received_at) if received_at else now
    elif status is None:
        status = _implied_status(unit_id, assigned_at, accepted_at, done_at, invalid_reason)
    errors.extend(_consistency(status, unit_id, received_at, assigned_at, accepted_at, done_at, invalid_reason, now, history, latest))
    if errors:
        return errors
    return _record({
        "external_id": external_id, "title": title, "content": content, "received_at": received_at,
        "sender_name": sender_name, "sender_phone": sender_phone, "type": letter_type, "unit_id": unit_id,
        "status": status, "assigned_at": assigned_at, "accepted_at": accepted_at, "done_at": done_at,
        "reply": reply, "invalid_reason": invalid_reason, "assigned_on_arrival": on_arrival,
    })


def _in_day_order(received_at: dt.datetime, *times: dt.datetime | None) -> tuple[dt.datetime | None, ...]:
    """A handling time given as a date alone (midnight) on the day of the step before it, which has
    a time (来信 2019-03-05 10:20, 交办 2019-03-05), is taken as that step's time: the ledger says
    "the same day", not "before it". Any other order is left for `_consistency` to refuse."""
    previous, ordered = received_at, []
    for value in times:
        if value is not None:
            if value < previous and not (value.hour or value.minute or value.second or value.microsecond) \
                    and value.date() == previous.astimezone(value.tzinfo).date():
                value = previous
            previous = value
        ordered.append(value)
    return tuple(ordered)


def _unit_id(text: str, resolver: UnitResolver, assigned_at: dt.datetime, tz: ZoneInfo, errors: list[FieldError]) -> int | None:
    """The unit the text names, as it was on the day it was given the letter (a renamed body's
    old name leads to its successor)."""
    if resolver.dated:
        day = assigned_at.astimezone(tz).date()
        resolution = resolver.resolve_on(text, day)
    else:
        resolution = resolver.resolve(text)
    unit = resolution.unit
    if unit:
        return unit.id
    if resolution.ambiguous:
        names = "、".join(u.name for u in resolution.matches[:5])
        errors.append(FieldError("unit", N_("fits several units ({names}); give the full name"), {"names": names}))
    elif resolution.retired:
        errors.append(FieldError("unit", N_("{unit} takes no letters on {date}"), {"unit": resolution.retired[0].name, "date": day.isoformat()}))
    else:
        errors.append(FieldError("unit", N_("is not a known unit")))
    return None


def _implied_status(unit_id, assigned_at, accepted_at, done_at, invalid_reason) -> LetterStatus:
    """Without a status column, the history columns say where the letter stands."""
    if invalid_reason:
        return LetterStatus.INVALID
    if unit_id is None:
        return LetterStatus.NEW
    if done_at:
        return LetterStatus.DONE
    if accepted_at:
        return LetterStatus.ACCEPTED
    return LetterStatus.ASSIGNED


_NEW, _ASSIGNED, _ACCEPTED, _DONE, _RETURNED, _INVALID = (
    LetterStatus.NEW, LetterStatus.ASSIGNED, LetterStatus.ACCEPTED, LetterStatus.DONE, LetterStatus.RETURNED, LetterStatus.INVALID,
)


def _consistency(status, unit_id, received_at, assigned_at, accepted_at, done_at, invalid_reason, now, history, latest=None) -> list[FieldError]:
    errors: list[FieldError] = []
    if latest is None:
        latest = now + FUTURE_TOLERANCE
    handled = status in (_ASSIGNED, _ACCEPTED, _DONE, _RETURNED)
    if handled and unit_id is None:
        errors.append(FieldError("unit", N_("is required for a letter that was assigned")))
    if handled and history and assigned_at is None:
        errors.append(FieldError("assigned_at", N_("is required for a letter that was assigned")))
    if status is _DONE and done_at is None:
        errors.append(FieldError("done_at", N_("is required for a letter that was closed")))
    if status is _INVALID and not invalid_reason:
        errors.append(FieldError("invalid_reason", N_("is required for an invalid letter")))
    # A closing time belongs to a closed letter only: an open or returned one with it would carry a
    # completion (and count its working days) that never happened.
    if history and ((status is _NEW and assigned_at) or (status in (_NEW, _INVALID) and accepted_at) or (done_at and status is not _DONE)):
        errors.append(FieldError("status", N_("does not fit the handling times given")))
    # Each handling time: not in the future, not before the one it follows.
    previous_name, previous = "received_at", received_at
    for name, value in (("assigned_at", assigned_at), ("accepted_at", accepted_at), ("done_at", done_at)):
        if value is None:
            continue
        if _later(value, latest):
            errors.append(FieldError(name, N_("is in the future")))
        if previous is not None and value < previous:
            errors.append(FieldError(name, N_("is earlier than {other}"), {"other": previous_name}))
        previous_name, previous = name, value
    return errors
