"""One validation for every way a letter comes in (HTTP API, CSV/XLSX files, typed in): raw values
in, a `LetterRecord` or a list of `FieldError`s out. Errors carry a gettext message id and values,
so each surface shows them in its reader's language."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


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
    line ends as \\n, no surrounding blanks."""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value).strip()


_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?$"),
    re.compile(r"^(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]?(?:\s*(?P<H>\d{1,2})[:：时点](?P<M>\d{1,2})?分?(?::(?P<S>\d{2}))?)?$"),
)


def parse_datetime(value: object, tz: ZoneInfo) -> dt.datetime | None:
    """ISO 8601 (with or without a zone) and the usual office forms: 2019-03-05 10:00,
    2019/3/5 10:00, 2019年3月5日, 2019年3月5日 10时30分. Without a zone the time is in `tz`.
    Returns None when the value is not a date."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=tz)
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
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    for form in _DATE_FORMS:
        match = form.match(text)
        if match:
            parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
            try:
                return dt.datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"], tzinfo=tz)
            except ValueError:
                return None
    return None


def _text(raw: Mapping[str, object], name: str, errors: list[FieldError], *, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None:
        text = ""
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("external_id", "sender_phone"):
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


def _time(raw: Mapping[str, object], name: str, tz: ZoneInfo, errors: list[FieldError]) -> dt.datetime | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parsed = parse_datetime(value, tz)
    if parsed is None:
        errors.append(FieldError(name, N_("is not a date and time (e.g. 2019-03-05 10:00)")))
    return parsed


def build_record(
    raw: Mapping[str, object], *, tz: ZoneInfo, resolver: UnitResolver, now: dt.datetime, history: bool = True
) -> LetterRecord | list[FieldError]:
    """Validate one letter. `history=False` (the HTTP API, typed-in letters) accepts only a new
    letter, optionally with its unit; files may carry the whole history."""
    errors: list[FieldError] = []
    external_id = _text(raw, "external_id", errors)
    title = _text(raw, "title", errors, required=True)
    content = _text(raw, "content", errors) or ""
    sender_name = _text(raw, "sender_name", errors)
    sender_phone = _text(raw, "sender_phone", errors)
    received_at = _time(raw, "received_at", tz, errors)
    if received_at is None and not any(e.field == "received_at" for e in errors):
        errors.append(FieldError("received_at", N_("is required")))
    if received_at is not None and received_at > now + FUTURE_TOLERANCE:
        errors.append(FieldError("received_at", N_("is in the future")))

    letter_type = None
    type_text = _text(raw, "type", errors)
    if type_text:
        letter_type = TYPE_WORDS.get(type_text.lower())
        if letter_type is None:
            errors.append(FieldError("type", N_("must be one of {choices}"), {"choices": "、".join(LETTER_TYPES)}))

    unit_id = None
    unit_text = _text(raw, "unit", errors)
    if unit_text:
        resolution = resolver.resolve(unit_text)
        if resolution.unit:
            unit_id = resolution.unit.id
        elif resolution.ambiguous:
            names = "、".join(u.name for u in resolution.matches[:5])
            errors.append(FieldError("unit", N_("fits several units ({names}); give the full name"), {"names": names}))
        else:
            errors.append(FieldError("unit", N_("is not a known unit")))

    status_text = _text(raw, "status", errors) if history else None
    status = None
    if status_text:
        status = STATUS_WORDS.get(status_text.lower())
        if status is None:
            errors.append(FieldError("status", N_("must be one of {choices}"), {"choices": "待交办、已交办、已签收、已办结、已退回、无效"}))
    assigned_at = _time(raw, "assigned_at", tz, errors) if history else None
    accepted_at = _time(raw, "accepted_at", tz, errors) if history else None
    done_at = _time(raw, "done_at", tz, errors) if history else None
    reply = _text(raw, "reply", errors) if history else None
    invalid_reason = _text(raw, "invalid_reason", errors) if history else None

    on_arrival = unit_id is not None and (not history or (status is None and not (assigned_at or accepted_at or done_at or invalid_reason)))
    if on_arrival:
        # A unit without a history: assigned now. A received_at slightly ahead of our clock must
        # not come after the assignment.
        status, assigned_at = LetterStatus.ASSIGNED, max(now, received_at) if received_at else now
    elif status is None:
        status = _implied_status(unit_id, assigned_at, accepted_at, done_at, invalid_reason)
    errors.extend(_consistency(status, unit_id, received_at, assigned_at, accepted_at, done_at, invalid_reason, now, history))
    if errors:
        return errors
    return LetterRecord(
        external_id=external_id, title=title, content=content, received_at=received_at,
        sender_name=sender_name, sender_phone=sender_phone, type=letter_type, unit_id=unit_id,
        status=status, assigned_at=assigned_at, accepted_at=accepted_at, done_at=done_at,
        reply=reply, invalid_reason=invalid_reason, assigned_on_arrival=on_arrival,
    )


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


def _consistency(status, unit_id, received_at, assigned_at, accepted_at, done_at, invalid_reason, now, history) -> list[FieldError]:
    errors: list[FieldError] = []
    handled = status in (LetterStatus.ASSIGNED, LetterStatus.ACCEPTED, LetterStatus.DONE, LetterStatus.RETURNED)
    if handled and unit_id is None:
        errors.append(FieldError("unit", N_("is required for a letter that was assigned")))
    if handled and history and assigned_at is None:
        errors.append(FieldError("assigned_at", N_("is required for a letter that was assigned")))
    if status is LetterStatus.DONE and done_at is None:
        errors.append(FieldError("done_at", N_("is required for a letter that was closed")))
    if status is LetterStatus.INVALID and not invalid_reason:
        errors.append(FieldError("invalid_reason", N_("is required for an invalid letter")))
    if history and ((status is LetterStatus.NEW and assigned_at) or (status in (LetterStatus.NEW, LetterStatus.INVALID) and (accepted_at or done_at))):
        errors.append(FieldError("status", N_("does not fit the handling times given")))
    previous_name, previous = "received_at", received_at
    for name, value in (("assigned_at", assigned_at), ("accepted_at", accepted_at), ("done_at", done_at)):
        if value is None:
            continue
        if value > now + FUTURE_TOLERANCE:
            errors.append(FieldError(name, N_("is in the future")))
        if previous is not None and value < previous:
            errors.append(FieldError(name, N_("is earlier than {other}"), {"other": previous_name}))
        previous_name, previous = name, value
    return errors
