"""Who may do and see what: every chat command and every button, for each kind of person, in
private and in a group bound to a unit.

The cast (built once per test by `cast()`): the bootstrap admin (ADMIN_IDS), an invited admin, a
leader, a liaison of 八仙镇 (unit A) and one of 长安镇 (unit B), a stranger, and a group bound to
八仙镇 in which they all sit. Letter A is assigned to 八仙镇, letter B to 长安镇.

The tables below say, per command or button, what each person gets: `see(...)` fragments that
must be in the answer (and `hide=` ones that must not), or a refusal. A refused change must leave
the letters, their events, the outbox, the extension requests and the message map as they were.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from bot.telegram_stand_in import Person, SentMessage
from handlers import FEATURES, buttons
from handlers.menu import COMMANDS
from models.people import CODE_BYTES
from models.tables import (
    ExtensionRequest,
    Invitation,
    Letter,
    LetterEvent,
    LetterMessage,
    Member,
    Outbox,
    Role,
    UnitChat,
)
from tests.conftest import ADMIN_ID, expect, greet, join, post_letter
from tests.test_sweep import settle

A, B = "八仙镇", "长安镇"
ADMINS = ("admin", "invited")
LIAISONS = ("a", "b")
MEMBERS = (*ADMINS, "leader", *LIAISONS)

# What the bot says, in Chinese (the default language).
SENTINEL = "/letter 999999999"  # sent after a command: its answer marks the end of the command's answers
STRANGER = "请向县信息中心管理员索取邀请链接"
ADMIN_ONLY = "只有管理员可以进行此操作"
UNIT_ONLY = "只有本单位联络员和管理员可以进行此操作"
OTHER_UNIT = "属于其他单位，您无权办理"
STALE = "该按钮已失效"
NOT_YOURS = "没有您可以查看的"
OWN_FIGURES = "您只能查看本单位的数据"
OWN_LETTERS = "您只能查看本单位的信件"
ADMINS_AND_LEADERS = "只有管理员和县领导可以进行此操作"
NO_INVITE = "只有管理员可以发出邀请"
NO_IMPORT = "只有管理员可以导入信件"
# Letter texts, so a leak is easy to spot.
TITLE_A, TITLE_B = "村道路灯三个月不亮", "自来水浑浊发黄"
SENDER_A, PHONE_A = "张三丰", "13812345678"


# ---- outcomes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    shows: tuple[str, ...]
    hides: tuple[str, ...] = ()
    buttons: bool | None = None  # None: not checked
    messages: int = 1  # at least this many messages


def see(*shows: str, hide: tuple[str, ...] = (), buttons: bool | None = None, messages: int = 1) -> Outcome:
    return Outcome(shows, hide, buttons, messages)


def no(refusal: str, *hide: str) -> Outcome:
    """Refused: the refusal and none of the data (figures, letters, links)."""
    return Outcome((refusal,), ("%", TITLE_A, TITLE_B, "?start=", *hide), buttons=False)


def each(**by_role: Outcome) -> dict[str, Outcome]:
    """`admins=` stands for both admins, `liaisons=` for both liaisons, `others=` for every member
    not named otherwise."""
    rows: dict[str, Outcome] = {}
    for key, outcome in by_role.items():
        if key in ("admins", "liaisons", "others"):
            continue
        rows[key] = outcome
    for key, roles in (("admins", ADMINS), ("liaisons", LIAISONS)):
        if key in by_role:
            rows.update({role: by_role[key] for role in roles if role not in by_role})
    if "others" in by_role:
        rows.update({role: by_role["others"] for role in MEMBERS if role not in rows})
    assert set(rows) == set(MEMBERS), f"incomplete row: {sorted(rows)}"
    return rows


# ---- the matrix: commands that only read, in private --------------------------------------------

READS: list[tuple[str, dict[str, Outcome]]] = [
    ("/start", each(
        admins=see("您好", "信息中心管理员", "/invite"), leader=see("您好", "县领导", hide=("/invite",)),
        a=see("您好", "八仙镇联络员", "/mine"), b=see("您好", "长安镇联络员", "/mine"))),
    ("/help", each(
        admins=see("/invite", "/assign", "/invalid", "/remind", "/new", "/mine"),
        leader=see("/rate", "/report", "/letter", hide=("/invite", "/assign", "/invalid", "/done", "/mine", "/remind", "/new")),
        liaisons=see("/mine", "/done", "/return", "/extend", hide=("/invite", "/assign", "/invalid", "/report", "/remind", "/new")))),
    ("/units", each(others=see("镇 (11)", "部门 (25)", "八仙镇 — 联络员：八仙联络员"))),
    ("/lang", each(others=see("/lang zh", buttons=True))),
    ("/rate", each(
        admins=see("合计", "八仙镇", "长安镇", "%"), leader=see("合计", "八仙镇", "长安镇", "%"),
        a=see("八仙镇", "%", hide=("长安镇", "合计")), b=see("长安镇", "%", hide=("八仙镇", "合计")))),
    ("/rate 八仙镇", each(others=see("八仙镇", "%", hide=("长安镇",)), b=no(OWN_FIGURES, "八仙镇"))),
    ("/rate 长安镇", each(others=see("长安镇", "%", hide=("八仙镇",)), a=no(OWN_FIGURES, "长安镇"))),
    ("/rate 镇", each(others=see("八仙镇", "长安镇", "%"), liaisons=no(OWN_FIGURES))),
    ("/rate 部门 2026Q4", each(others=see("部门"), liaisons=no(OWN_FIGURES))),
    ("/report", each(others=see("办结率", messages=3), liaisons=no(ADMINS_AND_LEADERS))),
    ("/overdue", each(others=see("没有超期信件"))),
    ("/overdue 八仙镇", each(others=see("没有超期信件"), b=no(OWN_LETTERS))),
    ("/overdue 长安镇", each(others=see("没有超期信件"), a=no(OWN_LETTERS))),
    ("/letter {a}", each(
        admins=see("#{a}", TITLE_A, "张**", "办理记录", hide=(SENDER_A, PHONE_A), messages=2),
        leader=see("#{a}", TITLE_A, "办理记录", hide=(SENDER_A, PHONE_A), buttons=False, messages=2),
        a=see("#{a}", TITLE_A, "办理记录", hide=(SENDER_A, PHONE_A), buttons=True, messages=2),
        b=no(NOT_YOURS, "张**", "办理记录"))),
    ("/letter {b}", each(
        others=see("#{b}", TITLE_B, "办理记录", messages=2), leader=see("#{b}", TITLE_B, buttons=False, messages=2),
        a=no(NOT_YOURS, "办理记录"))),
    ("/mine", each(admins=see("没有待交办的信件", hide=(TITLE_A, TITLE_B)), others=see("/mine 用于"), a=see("#{a}", TITLE_A, hide=("#{b}", TITLE_B)),
                   b=see("#{b}", TITLE_B, hide=("#{a}", TITLE_A)))),
    ("/holidays", each(others=see("官方放假安排"), liaisons=no(ADMINS_AND_LEADERS))),
    ("/invite 八仙镇", each(admins=see("?start=", "八仙镇"), others=no(NO_INVITE))),
    ("/invite leader", each(admins=see("?start="), others=no(NO_INVITE))),
    ("/invite admin", each(admins=see("?start="), others=no(NO_INVITE))),
    ("/remove", each(admins=see("用法：/remove"), others=no(ADMIN_ONLY))),
    ("/bind", each(others=see("/bind"))),  # private: "send it in the group"
    ("/unbind", each(others=see("/unbind"))),
]

# Commands that change a letter, in private, from people who may not. Nothing may change.
REFUSED_CHANGES: list[tuple[str, dict[str, Outcome]]] = [
    ("/done {a} 已修复", {"leader": no(UNIT_ONLY), "b": no(OTHER_UNIT)}),
    ("/return {a} 不归本单位", {"leader": no(UNIT_ONLY), "b": no(OTHER_UNIT)}),
    ("/extend {a} 3 需要协调", {"leader": no(UNIT_ONLY), "b": no(OTHER_UNIT)}),
    ("/done {b} 已修复", {"leader": no(UNIT_ONLY), "a": no(OTHER_UNIT)}),
    ("/assign {a} 长安镇", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/assign {a}", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/invalid {a} 重复来信", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/invalid {a}", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/reopen {a} 重新办理", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/remind", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/new", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
    ("/remove 7103", {"leader": no(ADMIN_ONLY), "a": no(ADMIN_ONLY), "b": no(ADMIN_ONLY)}),
]

# Buttons pressed with forged callback data, all about letter A (or its pending extension request
# {req}); {unit_b} is 长安镇's id. Every one is refused with an alert, and nothing changes.
FORGED: list[tuple[str, dict[str, str]]] = [
    ("letter:accept:{a}", {"leader": UNIT_ONLY, "b": OTHER_UNIT}),
    ("letter:done:{a}", {"leader": UNIT_ONLY, "b": OTHER_UNIT}),
    ("letter:return:{a}", {"leader": UNIT_ONLY, "b": OTHER_UNIT}),
    ("letter:extend:{a}", {"leader": UNIT_ONLY, "b": OTHER_UNIT}),
    ("letter:reopen:{a}", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("letter:assign:{a}:{unit_b}", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("letter:units:{a}:0", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("letter:invalid:{a}", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("letter:inv:{a}:spam", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("letter:inv:{a}:other", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("letter:card:{a}", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("ext:ok:{req}", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("ext:no:{req}", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("invite:u:{unit_b}", {"leader": STALE, "a": STALE, "b": STALE}),
    ("bind:u:{unit_b}", {"leader": STALE, "a": STALE, "b": STALE}),  # in private; in the group see below
    ("reply:letter:{a}", {"leader": STALE, "b": STALE}),  # nothing was waiting to be placed
    ("member:remove:7104", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),  # 7104: liaison b
    ("member:ask:7104", {"leader": ADMIN_ONLY, "a": ADMIN_ONLY, "b": ADMIN_ONLY}),
    ("lang:en", {}),  # a member may choose their language; only the stranger presses it
    ("lang:xx", {"leader": STALE, "a": STALE, "b": STALE}),
    ("letter:done:{a}; DROP TABLE letters", {"leader": STALE, "a": STALE, "b": STALE}),
]


# ---- the cast -----------------------------------------------------------------------------------

@dataclass
class Cast:
    bot: object
    people: dict[str, Person]
    group: dict
    a_id: int
    b_id: int
    unit_a: int
    unit_b: int
    cards: dict[str, SentMessage] = field(default_factory=dict)  # a, b, group: the letter cards

    def __getitem__(self, role: str) -> Person:
        return self.people[role]

    def fill(self, template: str, **more) -> str:
        return template.format(a=self.a_id, b=self.b_id, unit_a=self.unit_a, unit_b=self.unit_b, **more)


async def cast(bot, http) -> Cast:
    people = {
        "admin": bot.admin, "invited": bot.person(7101, "李科长"), "leader": bot.person(7102, "县长丁"),
        "a": bot.person(7103, "八仙联络员"), "b": bot.person(7104, "长安联络员"), "stranger": bot.person(7105, "路人甲"),
    }
    await greet(bot.admin)
    for role, what in (("invited", "admin"), ("leader", "leader"), ("a", A), ("b", B)):
        await join(bot, people[role], what)
    await greet(people["stranger"])
    group = bot.api.group("八仙镇信访工作群")
    people["a"].send("/bind", chat=group)
    await expect(people["a"], "本群已绑定八仙镇", chat=group)
    letter_a = await post_letter(http, external_id="RA", unit=A, title=TITLE_A, content="村里路灯坏了", sender_name=SENDER_A, sender_phone=PHONE_A)
    letter_b = await post_letter(http, external_id="RB", unit=B, title=TITLE_B, content="水龙头出黄水")
    resolve = bot.services.resolver.resolve
    result = Cast(bot, people, group, letter_a["id"], letter_b["id"], resolve(A).unit.id, resolve(B).unit.id)
    result.cards = {
        "a": await expect(people["a"], f"#{result.a_id}", kind="message"),
        "group": await expect(people["a"], f"#{result.a_id}", chat=group, kind="message"),
        "b": await expect(people["b"], f"#{result.b_id}", kind="message"),
    }
    await quiet(result)
    return result


async def quiet(cast: Cast) -> None:
    """Everything queued is delivered and read: the next answers are answers to what comes next."""
    await settle(cast.bot)
    for person in cast.people.values():
        cast.bot.api.pending(person.id)
    cast.bot.api.pending(cast.group["id"])


async def answers(person: Person, text: str, chat: dict | None = None) -> list[SentMessage]:
    """What the bot says to `text`: updates are handled one at a time and in order, so everything
    up to the answer to the SENTINEL sent right after it."""
    person.send(text, chat=chat)
    person.send(SENTINEL, chat=chat)
    said = []
    for _ in range(20):
        message = await person.receive(chat=chat)
        if message.kind == "message" and "#999999999" in message.text:
            return said
        said.append(message)
    raise AssertionError(f"no end to the answers to {text!r}: {[m.text[:60] for m in said]}")


async def answers_of_one(person: Person, text: str) -> SentMessage:
    person.send(text)
    return await person.receive()


def alerted(answer: dict, fragment: str) -> bool:
    """The button's answer is an alert (a pop-up the person must dismiss) saying `fragment`."""
    return fragment in answer.get("text", "") and answer.get("show_alert") in (True, "true", "True")


def judge(cast: Cast, role: str, action: str, outcome: Outcome, said: list[SentMessage]) -> list[str]:
    """The ways `said` differs from `outcome`, as lines for the failure report."""
    text = "\n".join(m.text for m in said)
    problems = []
    for fragment in outcome.shows:
        if cast.fill(fragment) not in text:
            problems.append(f"{role} {action!r}: missing {cast.fill(fragment)!r} in {text[:300]!r}")
    for fragment in outcome.hides:
        if cast.fill(fragment) in text:
            problems.append(f"{role} {action!r}: shows {cast.fill(fragment)!r} in {text[:300]!r}")
    if len(said) < outcome.messages:
        problems.append(f"{role} {action!r}: {len(said)} messages, expected {outcome.messages}")
    with_buttons = any(m.buttons for m in said)
    if outcome.buttons is not None and with_buttons != outcome.buttons:
        problems.append(f"{role} {action!r}: buttons {[m.buttons for m in said]}")
    return problems


async def state(bot) -> dict:
    """What a change would touch: the letters, their story, what is queued, what waits for a decision,
    the message map, the people and the groups."""
    async with bot.services.db.reading() as session:
        letters = (await session.execute(select(
            Letter.id, Letter.status, Letter.unit_id, Letter.due_date, Letter.extensions, Letter.reply,
            Letter.accepted_by, Letter.closed_by, Letter.invalid_reason, Letter.return_reason,
        ).order_by(Letter.id))).all()

        async def count(model) -> int:
            return await session.scalar(select(func.count()).select_from(model))

        return {
            "letters": letters,
            "events": await count(LetterEvent),
            "outbox": await count(Outbox),
            "extension requests": (await session.execute(select(ExtensionRequest.id, ExtensionRequest.state).order_by(ExtensionRequest.id))).all(),
            "letter messages": (await session.execute(select(LetterMessage.letter_id, LetterMessage.chat_id, LetterMessage.purpose)
                                                         .order_by(LetterMessage.id))).all(),
            "invitations": await count(Invitation),
            "members": (await session.execute(select(Member.telegram_id, Member.role, Member.unit_id).order_by(Member.id))).all(),
            "groups": (await session.execute(select(UnitChat.chat_id, UnitChat.unit_id))).all(),
        }


async def letter_row(bot, letter_id: int) -> Letter:
    async with bot.services.db.reading() as session:
        return await session.get(Letter, letter_id)


# ---- the tests ----------------------------------------------------------------------------------

async def test_a_stranger_learns_only_how_to_get_in(bot, http):
    """Every command, with and without arguments, a file and any button: the short explanation,
    never a name, a figure or a letter; in the group, silence for chatter."""
    c = await cast(bot, http)
    stranger, group = c["stranger"], c.group
    before = await state(bot)
    leaks = ("八仙", "长安", "%", TITLE_A, TITLE_B, "张**", "联络员：", "?start=", f"#{c.a_id}", "李科长", "县长丁")
    problems = []
    tried = ["/start", "/start notacode", *(f"/{command.name}" for command in COMMANDS if command.name != "start"),
             *(c.fill(text) for text, _ in READS + REFUSED_CHANGES), "你好，我想反映路灯的问题"]
    for text in tried:
        stranger.send(text)
        answer = (await stranger.receive()).text
        expected = "邀请链接无效" if text == "/start notacode" else STRANGER
        if expected not in answer:
            problems.append(f"{text!r}: {answer[:80]!r}")
        problems += [f"{text!r} shows {leak!r}" for leak in leaks if leak in answer]
    stranger.send_document(b"external_id,title,content,received_at\nX1,t,c,2026-11-27 10:00\n", "letters.csv", "text/csv")
    assert STRANGER in (await stranger.receive()).text
    # Buttons: forged on the bot's last message to them, and the real ones on the group's card.
    last = await answers_of_one(stranger, "/start")
    for data, _ in FORGED:
        callback = stranger.press(last, c.fill(data, req=1))
        answer = await stranger.answer_to(callback)
        if not alerted(answer, "邀请链接"):
            problems.append(f"button {data}: {answer}")
    for _, data in c.cards["group"].buttons:
        answer = await stranger.answer_to(stranger.press(c.cards["group"], data))
        if not alerted(answer, "邀请链接"):
            problems.append(f"group button {data}: {answer}")
    # In the group: chatter and a reply to the card go unanswered; commands get the explanation.
    stranger.send("大家好", chat=group)
    stranger.send("路灯我已经修好了", chat=group, reply_to=c.cards["group"])
    stranger.send(c.fill("/done {a} 我来办结"), chat=group)
    answer = await stranger.receive(chat=group)
    assert STRANGER in answer.text and answer.reply_to_message_id is not None
    stranger.send(c.fill("/letter {a}"), chat=group)
    assert STRANGER in (await stranger.receive(chat=group)).text
    await settle(bot)
    assert bot.api.pending(group["id"]) == [] and bot.api.pending(stranger.id) == []
    assert not problems, "\n".join(problems)
    assert await state(bot) == before
    async with bot.services.db.reading() as session:  # a stranger leaves no trace
        assert await session.scalar(select(Member.id).where(Member.telegram_id == stranger.id)) is None


async def test_what_each_member_sees(bot, http):
    """The read-only commands, role by role (READS); then, once letters are late, /overdue."""
    c = await cast(bot, http)
    before = await state(bot)
    problems = []
    for text, outcomes in READS:
        for role in MEMBERS:
            said = await answers(c[role], c.fill(text))
            problems += judge(c, role, text, outcomes[role], said)
    assert not problems, "\n".join(problems)
    after = await state(bot)
    assert after["letters"] == before["letters"] and after["events"] == before["events"]
    # Only the admins' /invite made anything: invitations, which nobody used.
    assert after["invitations"] == before["invitations"] + 3 * len(ADMINS)

    bot.clock.now += dt.timedelta(days=10)  # both letters three working days late
    overdue = [
        ("/overdue", each(others=see("#{a}", "#{b}", "八仙镇", "长安镇"), a=see("#{a}", hide=("#{b}", "长安镇")),
                          b=see("#{b}", hide=("#{a}", "八仙镇")))),
        ("/overdue 八仙镇", each(others=see("#{a}", hide=("#{b}",)), b=no(OWN_LETTERS, "#{a}"))),
        ("/overdue 县住建局", each(others=see("没有超期信件"), liaisons=no(OWN_LETTERS))),
    ]
    for text, outcomes in overdue:
        for role in MEMBERS:
            problems += judge(c, role, text, outcomes[role], await answers(c[role], c.fill(text)))
    assert not problems, "\n".join(problems)


async def test_refused_changes_change_nothing(bot, http):
    """Commands (REFUSED_CHANGES), a file to import, and forged buttons (FORGED) pressed on any
    message the bot sent: in private, and by 长安镇's liaison on 八仙镇's card in the group."""
    c = await cast(bot, http)
    c["a"].send(c.fill("/extend {a} 3 需要现场核实"))  # a pending request, for the forged ext: buttons
    await expect(c["a"], "延期申请已提交")
    await quiet(c)
    async with bot.services.db.reading() as session:
        request_id = await session.scalar(select(ExtensionRequest.id))
    before = await state(bot)
    problems = []
    for text, outcomes in REFUSED_CHANGES:
        for role, outcome in outcomes.items():
            problems += judge(c, role, text, outcome, await answers(c[role], c.fill(text)))
    csv = "external_id,title,content,received_at\nX1,路灯,路灯坏了,2026-11-27 10:00\n".encode()
    for role in ("leader", *LIAISONS):
        c[role].send_document(csv, "letters.csv", "text/csv")
        problems += judge(c, role, "a file", no(NO_IMPORT), [await c[role].receive()])

    # Forged buttons on a message of their own chat with the bot (their card; the leader's last answer).
    c["leader"].send("/units")
    own = {"a": c.cards["a"], "b": c.cards["b"], "leader": await c["leader"].receive()}
    presses = [(role, own[role], data, refusal) for data, refusals in FORGED for role, refusal in refusals.items()]
    # 长安镇's liaison and the leader in 八仙镇's group, on the group's card of letter A.
    presses += [(role, c.cards["group"], data, refusals[role]) for data, refusals in FORGED
                for role in ("b", "leader") if role in refusals and not data.startswith("bind:")]
    presses += [("leader", c.cards["group"], "bind:u:{unit_a}", STALE), ("b", c.cards["group"], "bind:u:{unit_b}", None)]
    for role, message, data, refusal in presses:
        answer = await c[role].answer_to(c[role].press(message, c.fill(data, req=request_id)))
        where = "group" if message.chat_id == c.group["id"] else "private"
        if refusal is None:  # binding 八仙镇's group to 长安镇: refused in a message to the group
            said = await c[role].receive(chat=c.group)
            if "本群已绑定八仙镇" not in said.text or said.kind != "message":
                problems.append(f"{role} pressed {c.fill(data)} ({where}): {said.kind} {said.text!r}")
        elif not alerted(answer, refusal):
            problems.append(f"{role} pressed {c.fill(data, req=request_id)} ({where}): {answer}")
    await settle(bot)
    for chat_id, name in ((c.group["id"], "the group"), *((c[r].id, r) for r in ("a", "b", "leader"))):
        unexpected = [(m.kind, m.text[:60], m.buttons) for m in bot.api.pending(chat_id)]
        if unexpected:
            problems.append(f"the bot said or changed something in {name}'s chat: {unexpected}")
    assert not problems, "\n".join(problems)
    after = await state(bot)
    for key in before:
        assert after[key] == before[key], (key, before[key], after[key])


async def test_in_the_group_of_unit_a(bot, http):
    """Rights follow the person: in 八仙镇's group its liaison acts on its letter; 长安镇's liaison,
    the leader and a stranger sitting in the same group cannot, whatever they press or reply."""
    c = await cast(bot, http)
    group, card = c.group, c.cards["group"]
    a, b, stranger = c["a"], c["b"], c["stranger"]
    # 长安镇's liaison gets a second letter and answers the list of both: the bot asks which letter
    # the answer closes, and keeps the answer until they pick one.
    second = await post_letter(http, external_id="RB2", unit=B, title="长安镇第二件")
    await expect(b, f"#{second['id']}", kind="message")
    await quiet(c)
    b.send("/mine")
    listing = await expect(b, "在办信件")
    b.send("两件都已办好", reply_to=listing)
    question = await expect(b, "哪一件")
    before = await state(bot)
    problems = []
    # Telegram lets a bot say 20 things a minute in a group (PTB's rate limiter waits beyond that),
    # so the group gets the commands whose answer depends on the group; the rest is the same code
    # as in private, where READS and REFUSED_CHANGES try it.
    in_group = [
        ("b", "/done {a} 我来办结", no(OTHER_UNIT)),
        ("leader", "/return {a} 不归你们", no(UNIT_ONLY)),
        ("b", "/letter {a}", no(NOT_YOURS)),
        ("b", "/bind", no("本群已绑定八仙镇")),
        ("leader", "/bind 长安镇", no("只有管理员和本单位联络员可以绑定群组")),
        ("b", "/unbind", no("只有管理员和本单位联络员可以解除")),
        ("admin", "/invite 长安镇", no("请在与我的私聊中生成")),
        ("b", "/start {code}", see("请在与我的私聊中打开邀请链接")),
    ]
    code = await invitation(bot, "leader")
    for role, text, outcome in in_group:
        c[role].send(c.fill(text, code=code), chat=group)
        problems += judge(c, role, text, outcome, [await c[role].receive(chat=group)])
    for role, reply, refusal in (("b", "我替八仙镇办结了", OTHER_UNIT), ("leader", "领导批示：尽快办", UNIT_ONLY)):
        c[role].send(reply, chat=group, reply_to=card)
        answer = await c[role].receive(chat=group)
        if refusal not in answer.text:
            problems.append(f"{role} replied to the card: {answer.text!r}")
    for role in ("b", "leader"):
        for _, data in card.buttons:
            answer = await c[role].answer_to(c[role].press(card, data))
            if not alerted(answer, OTHER_UNIT if role == "b" else UNIT_ONLY):
                problems.append(f"{role} pressed {data} in the group: {answer}")
    # The answer waiting to be placed, put on 八仙镇's letter with a forged choice on its question
    # (pressed anywhere else, nothing is waiting there).
    assert "已失效" in (await b.answer_to(b.press(card, c.fill("reply:letter:{a}"))))["text"]
    answer = await b.answer_to(b.press(question, c.fill("reply:letter:{a}")))
    if not alerted(answer, OTHER_UNIT):
        problems.append(f"b placed a waiting answer on letter A: {answer}")
    stranger.send("我也回一句", chat=group, reply_to=card)
    await settle(bot)
    left = [(m.kind, m.text[:60]) for m in bot.api.pending(group["id"])]
    assert not left, left  # no prompt, no edit of the card, no answer to the stranger
    assert not problems, "\n".join(problems)
    after = await state(bot)
    for key in before.keys() - {"invitations"}:
        assert after[key] == before[key], (key, before[key], after[key])
    assert after["invitations"] == before["invitations"] + 1  # the /start in the group did not use the code
    assert await redeemable(bot, code)

    # 八仙镇's liaison signs for it and closes it by replying to the group's card.
    answer = await a.answer_to(a.press(card, card.button("签收")))
    assert "已签收" in answer["text"]
    a.send("路灯已全部修复。", chat=group, reply_to=card)
    await expect(a, "已办结", chat=group)
    letter = await letter_row(bot, c.a_id)
    assert letter.status == "done" and letter.closed_by == a.id and letter.accepted_by == a.id
    async with bot.services.db.reading() as session:
        chats = (await session.execute(select(LetterEvent.action, LetterEvent.actor_id, LetterEvent.chat_id)
                                       .where(LetterEvent.letter_id == c.a_id).order_by(LetterEvent.id))).all()
    assert [tuple(row) for row in chats][-2:] == [("accepted", a.id, group["id"]), ("done", a.id, group["id"])]


async def invitation(bot, what: str, by: Person | None = None) -> str:
    admin = by or bot.admin
    admin.send(f"/invite {what}")
    answer = await expect(admin, "?start=")
    return answer.text.split("?start=")[1].split()[0]


async def redeemable(bot, code: str) -> bool:
    from models.people import _hash

    async with bot.services.db.reading() as session:
        row = await session.scalar(select(Invitation).where(Invitation.code_hash == _hash(code)))
    return row is not None and row.used_at is None


async def test_what_only_admins_do_both_kinds_of_admin(bot, http):
    """Assign, mark invalid, decide an extension, reopen, import, type a letter in, run the sweep,
    invite: the invited admin as well as the bootstrap one. A liaison may not decide their own
    extension, and 八仙镇's liaison acts on 八仙镇's letter."""
    c = await cast(bot, http)
    admin, invited, a, b, leader = c["admin"], c["invited"], c["a"], c["b"], c["leader"]

    a.send(c.fill("/extend {a} 3 需要现场核实"))
    await expect(a, "延期申请已提交")
    request = await expect(invited, "申请延期 3 个工作日", kind="message")
    await expect(admin, "申请延期 3 个工作日", kind="message")
    # The asking liaison may not decide: the request's button, forged on their own card.
    answer = await a.answer_to(a.press(c.cards["a"], request.button("同意")))
    assert ADMIN_ONLY in answer["text"], answer
    assert (await letter_row(bot, c.a_id)).extensions == 0
    answer = await invited.answer_to(invited.press(request, request.button("同意")))
    assert "已同意" in answer["text"]
    assert (await letter_row(bot, c.a_id)).extensions == 1

    # Letters to assign and to invalidate, typed in by the invited admin.
    invited.send("/new")
    await expect(invited, "新建信件")
    for step in ("街道垃圾无人清运", "垃圾堆了一周", "/skip", "/skip", "/skip"):
        invited.send(step)
    await expect(invited, "已保存为")
    new_id = (await newest_letter(bot)).id
    invited.send(f"/assign {new_id} 长安镇")
    await expect(invited, f"#{new_id} 号信件已交办长安镇")
    assert "长安镇" in (await expect(b, f"#{new_id}", kind="message")).text
    second = await post_letter(http, external_id="RN2", title="重复来信")
    admin.send(f"/invalid {second['id']} 重复来信")
    await expect(admin, "已标为无效")
    assert (await letter_row(bot, second["id"])).status == "invalid"

    a.send(c.fill("/done {a} 已修复"))
    await expect(a, "已办结")
    invited.send(c.fill("/reopen {a} 群众不满意"))
    await expect(invited, "已退回原单位重办")
    assert (await letter_row(bot, c.a_id)).status == "assigned"

    csv = "external_id,title,content,received_at\nX1,路灯,路灯坏了,2026-11-27 10:00\n".encode()
    invited.send_document(csv, "letters.csv", "text/csv")
    await expect(invited, "新导入 1 件")
    admin.send("/remind")
    await expect(admin, "提醒")
    code = await invitation(bot, "leader", by=invited)
    newcomer = bot.person(7201, "副县长")
    newcomer.send(f"/start {code}")
    assert "县领导" in (await newcomer.receive()).text

    # The leader reads all of it and acts on none of it.
    said = await answers(leader, c.fill("/letter {a}"))
    assert "群众不满意" in "\n".join(m.text for m in said)
    assert not any(m.buttons for m in said)


async def newest_letter(bot) -> Letter:
    async with bot.services.db.reading() as session:
        return await session.scalar(select(Letter).order_by(Letter.id.desc()).limit(1))


async def test_invitation_codes_are_unguessable_single_use_and_expire(bot):
    codes = [await invitation(bot, what) for what in ("八仙镇", "leader", "admin", "长安镇")]
    for code in codes:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", code), code  # URL-safe base64: 6 bits a character
        assert len(code) * 6 >= 128 and len(code) >= -(-CODE_BYTES * 8 // 6), code
    assert len(set(codes)) == len(codes)
    async with bot.services.db.reading() as session:  # only a hash is kept
        stored = " ".join(str(v) for row in (await session.execute(select(Invitation))).scalars() for v in vars(row).values())
    assert not any(code in stored for code in codes)

    first, second = bot.person(7301, "甲"), bot.person(7302, "乙")
    first.send(f"/start {codes[0]}")
    assert "八仙镇联络员" in (await first.receive()).text
    await bot.admin.receive()  # told who joined
    second.send(f"/start {codes[0]}")
    assert "已被使用" in (await second.receive()).text
    first.send(f"/start {codes[0]}")
    assert "已被使用" in (await first.receive()).text
    second.send("/units")
    assert STRANGER in (await second.receive()).text  # still a stranger

    # One character off, or a code of the right shape made up: not valid.
    near = codes[1][:-1] + ("A" if codes[1][-1] != "A" else "B")
    for made_up in (near, "A" * len(codes[1]), codes[1][:16]):
        second.send(f"/start {made_up}")
        assert "邀请链接无效" in (await second.receive()).text, made_up

    bot.clock.now += dt.timedelta(days=6, hours=23)
    second.send(f"/start {codes[1]}")
    assert "县领导" in (await second.receive()).text  # still good just before a week is up
    await bot.admin.receive()
    bot.clock.now += dt.timedelta(hours=1, minutes=1)
    third = bot.person(7303, "丙")
    third.send(f"/start {codes[2]}")
    assert "已过期" in (await third.receive()).text
    third.send("/rate")
    assert STRANGER in (await third.receive()).text
    async with bot.services.db.reading() as session:
        assert await session.scalar(select(Member.role).where(Member.telegram_id == third.id)) is None


async def test_bootstrap_admins_cannot_be_locked_out(bot, http):
    """/remove refuses ADMIN_IDS admins (and anyone removing themselves); what else could — an
    invitation opened by mistake, a member row changed or deleted — leaves an ADMIN_IDS admin an
    admin."""
    invited = bot.person(7401, "李科长")
    await join(bot, invited, "admin")
    invited.send(f"/remove {ADMIN_ID}")
    refusal = await expect(invited, "ADMIN_IDS")
    answer = await invited.answer_to(invited.press(refusal, f"member:remove:{ADMIN_ID}"))  # forged
    assert "ADMIN_IDS" in answer["text"], answer
    liaison_code = await invitation(bot, "八仙镇", by=invited)
    leader_code = await invitation(bot, "leader", by=invited)
    for code in (liaison_code, leader_code):
        bot.admin.send(f"/start {code}")
        assert "您已经是信息中心管理员" in (await bot.admin.receive()).text
        assert await redeemable(bot, code)  # and the code is left for the person it was meant for

    async def still_admin() -> None:
        bot.admin.send("/invite 长安镇")
        assert "?start=" in (await expect(bot.admin, "邀请")).text
        letter = await post_letter(http, title=f"测试{bot.clock.now.timestamp()}")
        await expect(bot.admin, f"#{letter['id']}")  # still gets the admins' cards
        bot.admin.send(f"/invalid {letter['id']} 测试")
        await expect(bot.admin, "已标为无效")

    unit_b = bot.services.resolver.resolve(B).unit.id
    for values in ({"role": None}, {"role": Role.LIAISON.value, "unit_id": unit_b}, {"role": Role.LEADER.value}):
        async with bot.services.db.transaction() as session:
            await session.execute(update(Member).where(Member.telegram_id == ADMIN_ID).values(**values))
        await still_admin()
        bot.clock.now += dt.timedelta(seconds=1)
    async with bot.services.db.transaction() as session:
        await session.execute(Member.__table__.delete().where(Member.telegram_id == ADMIN_ID))
    await still_admin()


def test_every_command_and_button_is_in_the_matrix():
    """A new command or button must come with its row here. /remove is the one command that takes
    a member's role away (tests/test_people.py); nothing else removes or demotes."""
    from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler

    def flatten(handlers):
        for handler in handlers:
            if isinstance(handler, ConversationHandler):
                yield from flatten(handler.entry_points)
                yield from flatten(h for state in handler.states.values() for h in state)
                yield from flatten(handler.fallbacks)
            else:
                yield handler

    registered = [h for feature in (*FEATURES, buttons) for h in flatten(feature.handlers())]
    commands = {name for h in registered if isinstance(h, CommandHandler) for name in h.commands}
    assert commands == {c.name for c in COMMANDS} | {"cancel", "skip"}  # /cancel, /skip: steps of /new
    assert not {"kick", "ban", "demote", "revoke", "delete", "role"} & commands
    tried = {text.split()[0].lstrip("/") for text, _ in READS + REFUSED_CHANGES}
    assert {c.name for c in COMMANDS} <= tried, {c.name for c in COMMANDS} - tried

    patterns = [h.pattern for h in registered if isinstance(h, CallbackQueryHandler) and h.pattern is not None]
    samples = [data.format(a=1, b=2, unit_a=3, unit_b=4, req=5) for data, _ in FORGED]
    for pattern in patterns:
        assert any(pattern.match(sample) for sample in samples), f"no forged press for {pattern.pattern}"


async def test_a_liaison_whose_unit_left_the_units_file_sees_no_letters(bot, http):
    """The units file drops 长安镇 (merged away): its liaison keeps no unit rights, and /overdue
    without a unit must not fall back to every unit's letters."""
    from models.units import read_units_file, sync_units

    admin, chen = bot.admin, bot.person(1003, "陈刚")
    await greet(admin)
    await join(bot, chen, "长安镇")
    letter = await post_letter(http, unit="八仙镇")
    specs = [spec for spec in read_units_file(bot.services.settings.units_file) if spec.name != "长安镇"]
    async with bot.services.db.transaction() as session:
        await sync_units(session, specs)
    bot.clock.now += dt.timedelta(days=30)  # the letter is long overdue
    bot.api.pending(chen.id)
    for command in ("/overdue", "/overdue 八仙镇", f"/letter {letter['id']}", "/mine"):
        chen.send(command)
        answer = (await chen.receive()).text
        assert "八仙镇" not in answer and "超期信件（" not in answer and "路灯" not in answer, (command, answer)
    admin.send("/overdue")  # the admin still sees it
    assert f"#{letter['id']}" in (await expect(admin, "超期信件")).text
