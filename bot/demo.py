"""`python -m bot demo`: the county's first quarter, played offline in under a minute.

The real bot runs against the loopback Bot API stand-in on a simulated clock, with a fresh SQLite
database in the output folder. Scripted people (bot/demo_script.py) write, press buttons and reply
as they would in Telegram; every message the bot sends is printed as it is sent, so the transcript
is the bot's real output. At 09:00 on each working morning the demo runs the same sweep the
JobQueue runs in service. It ends with the leader's `/rate 八仙镇` and `/report`, whose XLSX and
chart are saved next to the transcript.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import secrets
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot import demo_script as script
from bot.telegram_stand_in import Person, SentMessage, TelegramStandIn
from locales import N_, Translator

WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday"))
QUIET_AFTER = 0.12  # seconds without a new message: the bot has finished answering
BOT_USERNAME = "pingli_mailbox_bot"
NOTE_WIDTH = 100  # columns of the narrator's notes
MAX_LINES = 30  # of one message in the transcript; the rest is summed up


class SimulatedClock:
    """The bot's clock (Services.clock): moved on by the script, never by the wall."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, moment: dt.datetime) -> None:
        if moment < self.now:
            raise ValueError(f"the demo's clock only moves forward ({self.now} → {moment})")
        self.now = moment


@dataclass
class Transcript:
    """Prints the conversation as it happens: who wrote what, what the bot answered, which buttons.

    Quiet stretches (the routine working mornings between the scenes worth reading) are counted
    and summed up in one line instead of printed."""

    t: Translator
    out: TextIO
    names: dict[int, str] = field(default_factory=dict)  # chat id → who
    quiet: bool = False
    quiet_messages: int = 0
    lines: list[str] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    shown: dict[tuple[int, int], SentMessage] = field(default_factory=dict)  # what each message says now
    said: list[tuple[str, str]] = field(default_factory=list)  # (text, to whom), to spot the same digest twice
    last_sent: float = 0.0

    def write(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, file=self.out, flush=True)

    def heading(self, text: str) -> None:
        self.write()
        self.write(f"━━ {text} ━━")

    def moment(self, when: dt.datetime) -> None:
        weekday = self.t(WEEKDAYS[when.weekday()])
        self.write(self.t("── {date} {weekday} {time} ──", date=when.strftime("%Y-%m-%d"), weekday=weekday, time=when.strftime("%H:%M")))

    def note(self, text: str) -> None:
        width = NOTE_WIDTH // 2 if self.t.language == "zh_CN" else NOTE_WIDTH  # a Chinese character takes two columns
        for line in textwrap.wrap(text, width) or [""]:
            self.write(f"  ※ {line}")

    def person_says(self, who: str, text: str, where: str = "") -> None:
        if self.quiet:
            return
        self._block(self.t("{who} → bot{where}:", who=who, where=where), text)

    def person_presses(self, who: str, label: str) -> None:
        if self.quiet:
            return
        self.write(self.t("{who} presses [{label}]", who=who, label=label))

    def bot_sent(self, sent: SentMessage) -> None:
        self.sent.append(sent)
        self.last_sent = time.monotonic()
        before = self.shown.get((sent.chat_id, sent.message_id))
        self.shown[(sent.chat_id, sent.message_id)] = sent
        if self.quiet:
            self.quiet_messages += 1
            return
        to = self.names.get(sent.chat_id, str(sent.chat_id))
        if sent.kind == "edit":
            self._edit(to, before, sent)
            return
        twin = next((name for text, name in self.said if text == sent.text), None) if len(sent.text) > 80 else None
        if twin is not None:
            self.write(self.t("bot → {to}: the same message as to {other}", to=to, other=twin))
            return
        self.said.append((sent.text, to))
        if sent.kind in ("document", "photo"):
            head = self.t("bot → {to}: 📎 {file}", to=to, file=sent.file_name)
        else:
            head = self.t("bot → {to}:", to=to)
        if sent.text or sent.kind not in ("document", "photo"):
            self._block(head, sent.text)
        else:
            self.write(head)
        if sent.buttons:
            self.write("      " + " ".join(f"[{label}]" for label, _ in sent.buttons))

    def _edit(self, to: str, before: SentMessage | None, after: SentMessage) -> None:
        """An edited card: only what changed (its status, who signed, the reply), not the whole card."""
        old = set(before.text.splitlines()) if before else set()
        changed = "\n".join(line for line in after.text.splitlines() if line not in old)
        self._block(self.t("bot updates its message to {to}:", to=to), changed or self.t("(the same text)"))
        if before is None or before.buttons != after.buttons:
            labels = " ".join(f"[{label}]" for label, _ in after.buttons)
            self.write("      " + (labels or self.t("(buttons removed)")))

    def _block(self, head: str, text: str) -> None:
        self.write(head)
        lines = text.splitlines() or [""]  # as Telegram shows them; the terminal wraps long ones
        shown = lines if len(lines) <= MAX_LINES + 2 else lines[:MAX_LINES]
        for line in shown:
            self.write(f"    │ {line}")
        if len(shown) < len(lines):
            self.write("    │ " + self.t.ngettext("… ({count} more line)", "… ({count} more lines)", len(lines) - len(shown), count=len(lines) - len(shown)))


class DemoError(RuntimeError):
    """The script did not see what it waited for, or the bot raised: the demo is not to be trusted."""


class Demo:
    def __init__(self, out_dir: Path, t: Translator, out: TextIO, progress: Callable[[int, int, str], None]):
        self.out_dir = out_dir
        self.t = t
        self.transcript = Transcript(t, out)
        self.progress = progress
        self.clock = SimulatedClock(script.at(3, 2, 8, 0))
        self.api = TelegramStandIn(token=f"{secrets.randbelow(10**9) + 10**9}:DEMO-{secrets.token_urlsafe(24)}", username=BOT_USERNAME)
        self.api.observers.append(self.transcript.bot_sent)
        self.errors: list[BaseException] = []
        self.people: dict[int, Person] = {}
        self.cards: dict[tuple[str, int], SentMessage] = {}  # (letter key, user id) → the card they got
        self.letter_ids: dict[str, int] = {}
        self.files: dict[str, Path] = {}
        self.paragraph = ""
        self.language_code = "zh-hans" if t.language == "zh_CN" else "en"

    # ---- people ---------------------------------------------------------------------------------

    def person(self, member: script.Member) -> Person:
        if member.user_id not in self.people:
            self.people[member.user_id] = self.api.person(member.user_id, member.name, language_code=self.language_code)
            self.transcript.names[member.user_id] = self.label(member)
        return self.people[member.user_id]

    def label(self, member: script.Member) -> str:
        if member.role == "admin":
            title = self.t("information centre")
        elif member.role == "leader":
            title = self.t("county head")
        else:
            title = self.t("{unit} liaison", unit=member.role)
        return self.t("{name} ({title})", name=member.name, title=title)

    async def says(self, member: script.Member, text: str, reply_to: SentMessage | None = None) -> None:
        where = self.t(" (replying to the bot's message)") if reply_to is not None else ""
        self.transcript.person_says(self.label(member), text, where)
        self.person(member).send(text, reply_to=reply_to)
        await self.settle()

    async def presses(self, member: script.Member, message: SentMessage, label: str) -> None:
        data = message.button(label)
        shown = next(text for text, button in message.buttons if button == data)
        self.transcript.person_presses(self.label(member), shown)
        self.person(member).press(message, data)
        await self.settle()

    def last_to(self, member: script.Member, *fragments: str, kind: str | None = None) -> SentMessage:
        """The newest message the bot sent this person that holds every fragment."""
        for sent in reversed(self.transcript.sent):
            if sent.chat_id == member.user_id and all(f in sent.text for f in fragments) and (kind is None or sent.kind == kind):
                return sent
        raise DemoError(f"{member.name} got no message with {fragments}")

    async def settle(self, timeout: float = 15.0) -> None:
        """Waits until the bot has answered and delivered everything it queued."""
        started = time.monotonic()
        await asyncio.sleep(0.02)
        while time.monotonic() - started < timeout:
            quiet_for = time.monotonic() - max(self.transcript.last_sent, self._last_call())
            if quiet_for >= QUIET_AFTER and not self.api.unacknowledged() and await self._all_done():
                break
            await asyncio.sleep(0.02)
        if self.errors:
            raise DemoError(f"the bot raised: {self.errors[0]!r}") from self.errors[0]

    def _last_call(self) -> float:
        return self.api.last_call

    async def _all_done(self) -> bool:
        """Every update handled and every queued message sent."""
        from sqlalchemy import func, select

        from models.tables import InboxUpdate, Outbox, OutboxState

        async with self.services.db.reading() as session:
            unhandled = await session.scalar(select(func.count()).select_from(InboxUpdate).where(InboxUpdate.handled_at.is_(None)))
            waiting = Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING))
            unsent = await session.scalar(select(func.count()).select_from(Outbox).where(waiting))
        return not unhandled and not unsent

    # ---- the run --------------------------------------------------------------------------------

    async def run(self) -> None:
        from bot.app import build_application, running, services_of
        from bot.settings import DEFAULT_UNITS_FILE, Settings

        self.out_dir.mkdir(parents=True, exist_ok=True)
        database = self.out_dir / "demo.db"
        for stale in (database, database.with_suffix(".db-wal"), database.with_suffix(".db-shm")):
            stale.unlink(missing_ok=True)
        await self.api.start()
        # Everything that shapes the figures is pinned, whatever the environment or .env says.
        settings = Settings(
            _env_file=None, bot_token=self.api.token, telegram_api_base_url=self.api.base_url,
            telegram_file_base_url=self.api.file_base_url, telegram_proxy=None,
            database_url=f"sqlite+aiosqlite:///{database}", admin_ids=str(script.ADMIN.user_id),
            language=self.t.language, timezone="Asia/Shanghai", reminder_time=dt.time(9, 0),
            handling_days="5", accept_days="1", escalate_after=3, units_file=DEFAULT_UNITS_FILE,
            intake_host="127.0.0.1", intake_port=0, intake_token=secrets.token_urlsafe(24),
            privacy="masked", webhook_url=None,
        )
        self.intake_token = settings.intake_token.get_secret_value()
        application = build_application(settings, clock=self.clock)

        async def record_error(update, context) -> None:
            self.errors.append(context.error)

        application.add_error_handler(record_error)
        self.services = services_of(application)
        try:
            async with running(application):
                import aiohttp

                async with aiohttp.ClientSession(base_url=self.services.intake_url) as self.http:
                    scenes = self.scenes()
                    for number, (title, scene) in enumerate(scenes, 1):
                        self.progress(number, len(scenes), title)
                        self.transcript.heading(f"{number}/{len(scenes)} {title}")
                        await scene()
                await self.api.release_pollers()
        finally:
            await self.api.stop()
        (self.out_dir / "transcript.txt").write_text("\n".join(self.transcript.lines) + "\n", encoding="utf-8")
        self.files["transcript"] = self.out_dir / "transcript.txt"

    def scenes(self) -> list[tuple[str, Callable]]:
        t = self.t
        return [
            (t("Monday 2 March: the bot goes into service"), self.scene_invitations),
            (t("The January–February ledger is imported"), self.scene_ledger),
            (t("Letters from the website, assigned with suggestions"), self.scene_website_letters),
            (t("Signed, returned and reassigned, an extension asked for"), self.scene_first_week),
            (t("Working mornings at nine: the bot nudges late units"), self.scene_mornings),
            (t("Closing letters by replying to them"), self.scene_closing),
            (t("A letter nobody signs for is escalated to the leader"), self.scene_escalation),
            (t("The rest of March"), self.scene_rest_of_march),
            (t("31 March: the leader asks for the quarter's figures"), self.scene_leader),
        ]

    async def at(self, moment: dt.datetime, *, show_morning: bool = False) -> None:
        """Moves the clock on. Every working morning passed on the way gets its 09:00 sweep, as the
        JobQueue would run it, summed up in one line; `show_morning` prints the last one in full."""
        before, mornings = self.transcript.quiet_messages, 0
        day = self.clock.now.date()
        while day <= moment.date():
            nine = dt.datetime.combine(day, dt.time(9, 0), script.TZ)
            last = show_morning and day == moment.date()
            if self.clock.now < nine <= moment and not last:
                mornings += await self.morning(nine, show=False)
            day += dt.timedelta(days=1)
        if mornings:
            self.transcript.note(self.t(
                "Working mornings passed: {n}, with {messages} reminder messages at 09:00 (not shown).",
                n=mornings, messages=self.transcript.quiet_messages - before,
            ))
        self.clock.set(moment)
        self.transcript.moment(moment)
        if show_morning:
            await self.morning(moment, show=True)

    async def morning(self, moment: dt.datetime, *, show: bool) -> bool:
        """09:00: what the JobQueue runs in service. Returns whether it was a working day."""
        from scheduler.jobs import scheduled_sweep

        self.clock.set(moment)
        self.transcript.quiet = not show
        try:
            result = await scheduled_sweep(self.services, "schedule")
            await self.settle()
        finally:
            self.transcript.quiet = False
        return result is not None

    # ---- scenes ---------------------------------------------------------------------------------

    async def scene_invitations(self) -> None:
        admin = script.ADMIN
        await self.at(script.at(3, 2, 8, 0))
        self.transcript.note(self.t("{name} of the county information centre is an administrator from the start (ADMIN_IDS); she invites everyone else.", name=admin.name))
        await self.says(admin, "/start")
        shown = (script.LIAISONS["八仙镇"], script.LEADER)
        others = [m for m in script.LIAISONS.values() if m not in shown]
        for member in (shown[0], *others, shown[1]):
            self.transcript.quiet = member in others
            await self.says(admin, f"/invite {member.role}")
            code = self.last_to(admin, "?start=").text.split("?start=")[1].split()[0]
            if not self.transcript.quiet:
                self.transcript.note(self.t("{name} opens the link from the invitation.", name=member.name))
            await self.says(member, f"/start {code}")
            self.transcript.quiet = False
            if member is others[-1]:
                self.transcript.note(self.t("The liaisons of {units} join the same way (not shown).", units="、".join(m.role for m in others)))

    async def scene_ledger(self) -> None:
        from bot.demo_script import LEDGER_FILE_NAME, ledger_workbook

        admin = script.ADMIN
        await self.at(script.at(3, 2, 8, 40))
        self.transcript.note(self.t("January and February were tracked by hand. The admin sends the ledger, exported from the website, to the bot: 43 letters with their units, status and times, and one duplicate marked invalid."))
        workbook = ledger_workbook()
        (self.out_dir / LEDGER_FILE_NAME).write_bytes(workbook)
        self.files["ledger"] = self.out_dir / LEDGER_FILE_NAME
        self.transcript.person_says(self.label(admin), f"📎 {LEDGER_FILE_NAME}")
        self.person(admin).send_document(workbook, LEDGER_FILE_NAME, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        await self.settle()
        self.transcript.note(self.t("At nine on every working morning the bot sends each unit one digest of its late letters, and the leaders and admins the letters overdue long enough to supervise (督办). On Mondays the leaders also get the quarter's ranking."))
        await self.at(script.at(3, 2, 9, 0), show_morning=True)

    async def post_letter(self, key: str) -> int:
        letter = script.WEB_LETTERS[key]
        body = {
            "external_id": letter.external_id, "title": letter.title, "content": letter.content,
            "sender_name": letter.sender_name, "sender_phone": letter.sender_phone,
            "received_at": letter.received_at.isoformat(), "type": letter.type,
        }
        self.transcript.write(self.t("website → POST /api/letters: {title}", title=letter.title))
        async with self.http.post("/api/letters", json=body, headers={"Authorization": f"Bearer {self.intake_token}"}) as response:
            answer = await response.json()
            if response.status != 201:
                raise DemoError(f"the intake API answered {response.status}: {answer}")
        self.transcript.write(self.t("  ← {status}, letter #{id}", status=response.status, id=answer["id"]))
        self.letter_ids[key] = answer["id"]
        await self.settle()
        return answer["id"]

    def card(self, member: script.Member, key: str) -> SentMessage:
        """The letter's card: the first message this person got about it (digests come later)."""
        fragment = f"#{self.letter_ids[key]}"
        for sent in self.transcript.sent:
            if sent.chat_id == member.user_id and sent.kind == "message" and fragment in sent.text:
                return sent
        raise DemoError(f"{member.name} got no card of letter {fragment}")

    async def assign_by_suggestion(self, key: str, unit: str) -> None:
        admin = script.ADMIN
        await self.presses(admin, self.card(admin, key), self.t("Assign to {unit}", unit=unit))

    async def scene_website_letters(self) -> None:
        await self.at(script.at(3, 3, 10, 0))
        self.transcript.note(self.t("The county website forwards each new letter to the intake API. The admin gets a card with the units the bot suggests from the letter's words, and assigns with one press."))
        for key in ("streetlight", "water", "dangerous-house"):
            await self.post_letter(key)
        await self.assign_by_suggestion("streetlight", "八仙镇")
        await self.assign_by_suggestion("water", "长安镇")
        await self.assign_by_suggestion("dangerous-house", "县住建局")
        await self.at(script.at(3, 4, 10, 30))
        await self.post_letter("subsidy")
        await self.assign_by_suggestion("subsidy", "县农业农村局")
        await self.post_letter("advert")
        self.transcript.note(self.t("An advertisement is not a letter: the admin marks it invalid, and it counts in no rate."))
        await self.says(script.ADMIN, f"/invalid {self.letter_ids['advert']} 广告信息，非有效来信")

    async def scene_first_week(self) -> None:
        liaison, changan, housing = script.LIAISONS["八仙镇"], script.LIAISONS["长安镇"], script.LIAISONS["县住建局"]
        await self.at(script.at(3, 4, 14, 0))
        await self.presses(liaison, self.card(liaison, "streetlight"), self.t("Sign for"))
        await self.presses(housing, self.card(housing, "dangerous-house"), self.t("Sign for"))
        self.transcript.note(self.t("The water letter is not Chang'an's: the liaison returns it with a reason, and the admin reassigns it to Chengguan."))
        await self.presses(changan, self.card(changan, "water"), self.t("Return"))
        prompt = self.transcript.sent[-1]
        await self.says(changan, "新城区阳光小区属城关镇管辖，供水由县自来水公司负责，请转城关镇。", reply_to=prompt)
        await self.at(script.at(3, 4, 15, 0))
        await self.says(script.ADMIN, f"/assign {self.letter_ids['water']} 城关")
        chengguan = script.LIAISONS["城关镇"]
        await self.presses(chengguan, self.card(chengguan, "water"), self.t("Sign for"))
        await self.at(script.at(3, 6, 16, 0))
        self.transcript.note(self.t("The housing bureau needs a site survey before it can answer, and asks for three more working days; the admin approves."))
        await self.says(housing, f"/extend {self.letter_ids['dangerous-house']} 3 需要组织专业机构现场鉴定")
        request = self.last_to(script.ADMIN, f"#{self.letter_ids['dangerous-house']}", kind="message")
        await self.presses(script.ADMIN, request, self.t("Approve"))

    async def scene_mornings(self) -> None:
        await self.at(script.at(3, 10, 9, 0), show_morning=True)

    async def scene_closing(self) -> None:
        chengguan, liaison, housing = script.LIAISONS["城关镇"], script.LIAISONS["八仙镇"], script.LIAISONS["县住建局"]
        await self.at(script.at(3, 10, 11, 0))
        self.transcript.note(self.t("A liaison closes a letter by replying to its card with the answer given to the citizen."))
        await self.says(chengguan, "已联系县自来水公司抢修主管道，3月9日起恢复正常供水，并已电话告知来信人。", reply_to=self.card(chengguan, "water"))
        await self.at(script.at(3, 12, 15, 30))
        await self.says(liaison, "龙头村村道路灯已全部更换，镇上安排专人每月巡查。", reply_to=self.card(liaison, "streetlight"))
        await self.says(housing, "已委托鉴定机构完成鉴定，改造补助1.5万元已于3月12日拨付到户。", reply_to=self.card(housing, "dangerous-house"))

    async def scene_escalation(self) -> None:
        self.transcript.note(self.t("The agriculture bureau never signed for the subsidy letter. Three working days past its deadline, the morning digest goes to the leader as 督办."))
        await self.at(script.at(3, 16, 9, 0), show_morning=True)

    async def scene_rest_of_march(self) -> None:
        await self.at(script.at(3, 31, 15, 0))

    async def scene_leader(self) -> None:
        leader = script.LEADER
        await self.at(script.at(3, 31, 16, 0))
        await self.says(leader, "/rate 八仙镇")
        await self.says(leader, "/report")
        for sent in self.transcript.sent:
            if sent.chat_id == leader.user_id and sent.file_bytes:
                path = self.out_dir / sent.file_name
                path.write_bytes(sent.file_bytes)
                self.files["xlsx" if sent.kind == "document" else "chart"] = path
        # The notice paragraph is the message that comes just before the XLSX.
        to_leader = [s for s in self.transcript.sent if s.chat_id == leader.user_id]
        document = next(i for i, s in enumerate(to_leader) if s.kind == "document")
        self.paragraph = to_leader[document - 1].text


def _progress_bar(out: TextIO) -> Callable[[int, int, str], None]:
    def show(number: int, total: int, title: str) -> None:
        done = "█" * number + "░" * (total - number)
        print(f"[{done}] {number}/{total} {title}", file=out, flush=True)

    return show


def main(argv: list[str]) -> int:
    from bot.settings import configured_language
    from locales.arguments import localise, speaking

    t = Translator(configured_language())  # LANGUAGE as the bot reads it: the environment, then .env
    with speaking(t.language):
        parser = argparse.ArgumentParser(prog="python -m bot demo", description=t("play the county's first quarter offline, on a simulated clock"))
        parser.add_argument("--out", type=Path, default=Path("demo-output"), help=t("where to leave the transcript, the XLSX and the chart (default: ./demo-output)"))
        args = localise(parser, t).parse_args(argv)
    # The transcript is the output; log lines would only break it up. The stand-in's own notes on
    # connections the bot closes at shutdown are no one's concern.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    started = time.monotonic()
    demo = Demo(args.out.resolve(), t, sys.stdout, _progress_bar(sys.stderr))
    try:
        asyncio.run(demo.run())
    except DemoError as exc:
        print(t("The demo stopped: {error}", error=exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print()
    print(t("The quarter's notice, as the bot wrote it:"))
    print(demo.paragraph)
    print()
    print(t("Played in {seconds:.0f} s. In {folder}:", seconds=time.monotonic() - started, folder=demo.out_dir))
    for path in demo.files.values():
        print(f"  {path.name}")
    return 0
