"""Telegram handlers, thin: parse, call one domain function, render.

`register()` is the one ordered place where they are attached:
- group -2: edited messages stop here (handlers.edits);
- group -1: who is writing and in which language; strangers stop here;
- group 0: buttons pressed with no data at all (forged; PTB would hand them to any button
  handler), then the features, one module each, then what none of them claimed (stale or forged
  buttons); PTB runs only the first matching handler of a group, so the catch-all goes last.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    buttons,
    context,
    dispatch,
    edits,
    errors,
    groups,
    handling,
    imports,
    invite,
    lang,
    newletter,
    people,
    rates,
    reading,
    reminders,
    reports,
    start,
    units,
)

# The /new conversation comes first: while it runs, its steps take the admin's text.
FEATURES = (newletter, start, lang, units, invite, people, groups, imports, dispatch, handling, reading, reminders, rates, reports)


def register(application: Application) -> None:
    application.add_handlers(edits.handlers(), group=-2)
    application.add_handler(context.HANDLER, group=-1)
    application.add_handlers(buttons.first(), group=0)
    for feature in (*FEATURES, buttons):
        application.add_handlers(feature.handlers(), group=0)
    application.add_error_handler(errors.on_error)
