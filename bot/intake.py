"""The HTTP intake API, in the bot's own process and event loop (PRODUCT.md, Intake).

Every route but /healthz needs `Authorization: Bearer <INTAKE_TOKEN>`, compared in constant time.
A letter is committed before the call answers; the admins' card follows through the outbox.
Bad input, on every route, is a 422 {"error", "errors"} naming each bad field, `body` or query parameter.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from sqlalchemy import text

from bot.runtime import Services
from locales import N_, Translator
from models.db import database_unreachable
from models.letter_input import build_record, clean_text
from models.letters import LetterError, Origin, find_by_external_id, get_letter, ingest, letter_json, unit_name
from models.periods import EXAMPLES, PeriodError, parse_period
from models.stats import report

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
SERVICES = web.AppKey("services", Services)
RETRY_AFTER_SECONDS = 30
API_REQUIRED = ("external_id", "content")  # besides what every letter needs (title, received_at)


def _error(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _invalid(t: Translator, errors: dict[str, str], message: str | None = None) -> web.Response:
    """Bad input, on every route: 422 with `errors` naming each bad field (or `body`, or a query
    parameter) and what is wrong with it."""
    return _error(422, message or t("Some fields are not valid."), errors=errors)


LETTER_FIELDS = ("external_id", "title", "content", "sender_name", "sender_phone", "received_at", "type", "unit")


def _parameter_errors(request: web.Request, t: Translator, known: tuple[str, ...]) -> dict[str, str]:
    """Query parameters the route does not take, or takes once and got twice: named, not ignored
    (a misspelt `perod=2019Q1` must not answer with the current quarter's figures)."""
    errors: dict[str, str] = {}
    for name in request.query:
        key = name[:50]
        if name.startswith("_") and name not in known:
            continue  # a cache-buster (`_=1764300000`), by the usual convention: it changes nothing
        if name not in known:
            errors[key] = t("is not a parameter here (known: {names})", names=", ".join(known)) if known else t("is not a parameter here")
        elif len(request.query.getall(name)) > 1:
            errors[key] = t("is given more than once")
    return errors


def _misplaced_fields(request: web.Request, reason: str) -> dict[str, str]:
    """A letter's fields given in the query of a route that reads none there: named, since taken
    as absent they would change what happens (`POST ?unit=八仙镇` would leave the letter unassigned,
    `GET /api/letters/12?external_id=…` answer with letter 12)."""
    return {name[:50]: reason for name in request.query if name in LETTER_FIELDS}


@web.middleware
async def _json_errors(request: web.Request, handler):
    """Under /api/, a path or a method the API does not have is answered in JSON too; so is a
    database outage: 503 with Retry-After, so the website sends the letter again (nothing was
    stored, and a repeat with the same external_id is never stored twice)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in (404, 405) or not request.path.startswith("/api/"):
            raise
        t = Translator(request.app[SERVICES].settings.language)
        return _error(exc.status, t("The intake API has no {method} {path}.", method=request.method, path=request.path[:100]))
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        log.warning("intake %s %s: the database is unreachable (%r)", request.method, request.path[:100], exc)
        t = Translator(request.app[SERVICES].settings.language)
        response = _error(503, t("The database is unavailable for a moment; nothing was stored. Please try again shortly."))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


@web.middleware
async def _bearer_token(request: web.Request, handler):
    if request.path.startswith("/api/"):
        services = request.app[SERVICES]
        expected = services.settings.intake_token.get_secret_value().encode()
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        # surrogateescape: a header of bytes that are not UTF-8 comes decoded with them; it is no
        # token of ours, and must not become a 500 with a traceback in the log.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"), expected):
            t = Translator(services.settings.language)
            return web.json_response(
                {"error": t("A valid Authorization: Bearer token is required.")}, status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with services.db.reading() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # a health check reports, it does not raise
        log.warning("health check: database unreachable: %s", exc)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def _not_json(constant: str) -> object:
    """NaN and Infinity: Python reads them, JSON has no such values (as a letter's number, NaN would
    make every such letter the same letter)."""
    raise ValueError(constant)


async def post_letter(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    t = Translator(services.settings.language)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, t("The request body is larger than 1 MiB."))
    # The letter comes in the body. A query (a cache-buster, a source tag) is passed over, as unknown
    # keys of the body are, so a website never loses a letter to it; but a letter's field given
    # there is named: read as absent, `?unit=八仙镇` would leave the letter unassigned.
    errors = _misplaced_fields(request, t("belongs in the JSON body, not in the query"))
    try:
        payload = json.loads(body, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep to read
        return _invalid(t, {**errors, "body": t("is not valid JSON")}, t("The body is not valid JSON."))
    if not isinstance(payload, dict):
        return _invalid(t, {**errors, "body": t("must be a JSON object")}, t("The body must be a JSON object."))
    raw = {key: payload.get(key) for key in LETTER_FIELDS}
    now = services.now()
    record = build_record(raw, tz=services.settings.tz, resolver=services.resolver, now=now, history=False)
    # What the website always sends, and a letter typed in may lack: its number (without it a retry
    # would store the letter twice), and its text (which may be empty: some letters are all title).
    missing = [name for name in API_REQUIRED if raw[name] is None]
    if isinstance(raw["external_id"], str) and not raw["external_id"].strip():
        missing.append("external_id")
    if isinstance(record, list) or missing or errors:
        errors.update({name: t(N_("is required")) for name in missing})
        errors.update({e.field: t(e.message, **e.values) for e in record} if isinstance(record, list) else {})
        return _invalid(t, errors)
    try:
        async with services.db.transaction() as session:
            letter, created = await ingest(session, services.rules, record, Origin("api"), now)
            body_json = letter_json(letter, await unit_name(session, letter.unit_id), services.settings.tz)
    except LetterError as exc:
        return _error(409, t(exc.message, **exc.values))
    services.notify()
    return web.json_response(body_json, status=201 if created else 200)


async def get_letter_by_id(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    t = Translator(services.settings.language)
    raw_id = request.match_info["letter_id"]
    errors = _misplaced_fields(request, t("is not a parameter here"))  # any other query changes nothing (see post_letter)
    if not (raw_id.isascii() and raw_id.isdigit()):  # not str.isdigit alone: "²" is a digit int() refuses
        errors["id"] = t("must be a letter number, digits only; find a letter by the website's number with ?external_id=")
    if errors:
        return _invalid(t, errors)
    letter = None
    if len(raw_id) < 12:  # longer is no letter of ours, and more than the database's integer holds
        async with services.db.reading() as session:
            letter = await get_letter(session, int(raw_id))
            unit = await unit_name(session, letter.unit_id) if letter else None
    if letter is None:
        return _error(404, t("There is no letter #{id}.", id=raw_id[:20]))
    return web.json_response(letter_json(letter, unit, services.settings.tz))


async def find_letters(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    t = Translator(services.settings.language)
    external_id = clean_text(request.query.get("external_id", ""))  # as stored: no control characters (no NUL for PostgreSQL)
    errors = _parameter_errors(request, t, ("external_id",))
    if not external_id:
        errors.setdefault("external_id", t("is required"))
    if errors:
        return _invalid(t, errors)
    async with services.db.reading() as session:
        letter = await find_by_external_id(session, external_id)
        found = [letter_json(letter, await unit_name(session, letter.unit_id), services.settings.tz)] if letter else []
    return web.json_response({"letters": found})


def _figures_json(figures) -> dict:
    def text(value):
        return str(value) if value is not None else None

    return {
        "assigned": figures.assigned, "done": figures.done, "rate": text(figures.rate),
        "on_time": figures.on_time, "on_time_rate": text(figures.on_time_rate),
        "open": figures.open, "overdue": figures.overdue, "average_workdays": text(figures.average_workdays),
    }


async def get_stats(request: web.Request) -> web.Response:
    """The rates for a period (default: the current quarter), as strings such as "74.5"."""
    services = request.app[SERVICES]
    t = Translator(services.settings.language)
    today = services.local_now().date()
    errors = _parameter_errors(request, t, ("period", "unit"))
    period = None
    try:
        period = parse_period(request.query.get("period", ""), today)
    except PeriodError as exc:
        errors.setdefault("period", t(PeriodError.message, text=str(exc), examples=EXAMPLES))
    unit_filter = request.query.get("unit", "").strip()
    unit_id = None
    if unit_filter:
        resolution = services.resolver.resolve(unit_filter)
        if resolution.ambiguous:
            names = "、".join(u.name for u in resolution.matches[:5])
            errors.setdefault("unit", t("fits several units ({names}); give the full name", names=names))
        elif resolution.unit is None:
            errors.setdefault("unit", t("is not a known unit"))
        else:
            unit_id = resolution.unit.id
    if errors or period is None:
        return _invalid(t, errors)
    async with services.db.reading() as session:
        result = await report(session, period, services.settings.tz, today)
    units = [
        {"unit": u.name, "kind": u.kind, **_figures_json(u.figures)}
        for u in result.units if unit_id is None or u.unit_id == unit_id
    ]
    body = {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()}, "as_of": today.isoformat(),
        "total": _figures_json(result.total), "towns": _figures_json(result.towns),
        "departments": _figures_json(result.departments), "units": units,
    }
    return web.json_response(body)


def intake_app(services: Services) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_json_errors, _bearer_token])
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/letters", post_letter)
    app.router.add_get("/api/letters", find_letters)
    app.router.add_get("/api/letters/{letter_id}", get_letter_by_id)
    app.router.add_get("/api/stats", get_stats)
    return app


class IntakeServer:
    def __init__(self, services: Services):
        self.services = services
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        settings = self.services.settings
        self._runner = web.AppRunner(intake_app(self.services), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.intake_host, settings.intake_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked
        log.info("intake API listening on %s:%s", settings.intake_host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
