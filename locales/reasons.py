"""pydantic's validation errors as reasons a person reads in their language.

pydantic words its errors in English only, so each error becomes a `Refusal` chosen by its `type`,
with the values pydantic gives (a limit, the allowed words); a `Refusal` raised by the project's
own validators is passed through. A type not listed here gets a generic reason naming the field,
never pydantic's English. Used for the settings (`bot.settings`) and the units file
(`models.units`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from locales import N_, Refusal

INTEGER = ("int_parsing", "int_type", "int_from_float", "int_parsing_size")
TIME = ("time_parsing", "time_type")
DATE = ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_future", "date_past")
BOOLEAN = ("bool_parsing", "bool_type")
CHOICE = ("literal_error", "enum")
LIMITS = {
    "greater_than_equal": ("ge", N_("must be {limit} or more")),
    "greater_than": ("gt", N_("must be more than {limit}")),
    "less_than_equal": ("le", N_("must be {limit} or less")),
    "less_than": ("lt", N_("must be less than {limit}")),
    "string_too_long": ("max_length", N_("must be at most {limit} characters")),
}


def reason_of(error: Mapping[str, Any], name: str) -> Refusal:
    """The reason for one of `ValidationError.errors()`; `name` is what the person calls the value
    (a setting's name, a key of a file), for the generic reason."""
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, Refusal):  # the project's own validator said why
        return cause
    if kind == "missing":
        return Refusal(N_("is missing"))
    if kind in INTEGER:
        return Refusal(N_("must be a whole number"))
    if kind in TIME:
        return Refusal(N_("must be a time of day, hours and minutes, e.g. 09:30"))
    if kind in DATE:
        return Refusal(N_("must be a date, year-month-day, e.g. 2026-03-01"))
    if kind in BOOLEAN:
        return Refusal(N_("must be true or false"))
    if kind in CHOICE and (choices := re.findall(r"'([^']*)'", str(context.get("expected", "")))):
        return Refusal(N_("must be one of: {choices}"), choices=", ".join(choices))
    if kind in LIMITS and LIMITS[kind][0] in context:
        key, message = LIMITS[kind]
        return Refusal(message, limit=context[key])
    if kind == "string_too_short":
        shortest = context.get("min_length", 1)
        return Refusal(N_("must not be empty")) if shortest == 1 else Refusal(N_("must be at least {limit} characters"), limit=shortest)
    if kind == "string_type":
        return Refusal(N_("must be text"))
    if kind == "list_type":
        return Refusal(N_("must be a list, e.g. [a, b]"))
    if kind == "extra_forbidden":
        return Refusal(N_("is not a key this file takes"))
    return Refusal(N_("is not a value {name} takes"), name=name)
