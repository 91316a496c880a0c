"""The unit's side of a letter: 签收, 办结, 退回, 申请延期 by button or command, and the way liaisons
mostly work: replying to any message about a letter with the answer closes it.

A button that needs words (办结, 退回, 延期, 重办) sends a prompt the person replies to; the prompt is
recorded against the letter with what it asks for, so the reply does the right thing."""

from __future__ import annotations

import re

from telegram import Chat, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers.cards import REASON_LIMIT, shortened
from handlers.context import BotContext
from handlers.render import command_args, esc, plain, set_buttons
from locales import N_
from models.handling import accept, check_worded_action, close, reopen, request_extension, return_letter
from models.letter_input import clean_text
from models.letters import LetterError, Origin, invalidate
from models.queries import letters_of_message, remember

# What a reply to each kind of message of ours does.
REPLY_ACTIONS = {
    "card": "done", "notice": "done", "detail": "done", "list": "done", "digest": "done",
    "prompt_done": "done", "prompt_return": "return", "prompt_extend": "extend", "prompt_reopen": "reopen",
}
NUMBERED = frozenset({"list", "digest"})  # messages that ask for a letter's number before the reply
PROMPTS = {
    "done": ("prompt_done", N_("Reply to this message with the reply to the citizen; it closes letter #{id}.")),
    "return": ("prompt_return", N_("Reply to this message with the reason for returning letter #{id}.")),
    "extend": ("prompt_extend", N_("Reply to this message with the working days you need and the reason, e.g. “3 需要现场核实”, to ask for more time on letter #{id}.")),
    "reopen": ("prompt_reopen", N_("Reply to this message with the reason for sending letter #{id} back for handling again.")),
}
# A reply to a message about several letters waits for its button, by the question asked about it:
# (chat id, question's message id) → the reply's text. Kept per person, the last KEPT_PENDING.
PENDING_REPLIES = "pending_replies"
KEPT_PENDING = 20
CHOICES_SHOWN, CHOICES_PER_ROW = 40, 5  # as many as a list names (handlers.reading.LIST_LIMIT)


def origin_of(update: Update, context: BotContext) -> Origin:
    return Origin("person", context.actor, update.effective_chat.id if update.effective_chat else None)


async def act(update: Update, context: BotContext, action: str, letter_id: int, text: str = "") -> bool:
    """Run one transition and answer the person; the one place all buttons, commands and replies
    of this module end up. True when it happened."""
    services, t = context.services, context.t
    origin, now = origin_of(update, context), services.now()
    text = clean_text(text)  # as letters' own text is kept: no control characters (PostgreSQL refuses NUL)
    sender = None  # the letter's sender, whose name a reason may repeat (see the confirmation)
    try:
        async with services.db.transaction() as session:
            if action == "accept":
                await accept(session, services.rules, letter_id, origin, now)
            elif action == "done":
                await close(session, services.rules, letter_id, text, origin, now)
            elif action == "return":
                await return_letter(session, services.rules, letter_id, text, origin, now)
            elif action == "extend":
                days, reason = _days_and_reason(text)
                if days is None:
                    raise LetterError(N_("Say how many working days and why, e.g. “3 需要现场核实”."))
                await request_extension(session, services.rules, letter_id, days, reason, origin, now)
            elif action == "reopen":
                await reopen(session, services.rules, letter_id, text, origin, now)
            elif action == "invalid":
                sender = (await invalidate(session, services.rules, letter_id, text, origin, now)).sender_name
    except LetterError as exc:
        await answer(update, context.explain(exc), alert=True)
        return False
    services.notify()
    done_messages = {
        "accept": t("Letter #{id} signed for.", id=letter_id),
        "done": t("Letter #{id} is closed. Thank you.", id=letter_id),
        "return": t("Letter #{id} was returned to the information centre.", id=letter_id),
        "extend": t("Your request for more time on letter #{id} went to the information centre.", id=letter_id),
        "reopen": t("Letter #{id} was sent back to its unit.", id=letter_id),
        # The reason as the card shows it: a reason of thousands of characters is stored (cut at
        # 2,000) and must not make the confirmation too long to send.
        # Masked as the card masks it.
        "invalid": t("Letter #{id} marked invalid: {reason}", id=letter_id,
                     reason=shortened(services.privacy.text(text.strip(), names=(sender,)), REASON_LIMIT, t)),
    }
    await answer(update, done_messages[action])
    return True


def _days_and_reason(text: str) -> tuple[int | None, str]:
    match = re.match(r"^\s*(\d{1,3})\s*(?:个)?(?:工作日|天|days?)?\s*(.*)$", text, re.S)
    if not match:
        return None, ""
    return int(match.group(1)), match.group(2).strip()


async def answer(update: Update, text: str, *, alert: bool = False) -> None:
    if update.callback_query:  # shown as is: no HTML
        await update.callback_query.answer(plain(text)[:200], show_alert=alert)
    else:
        await update.effective_message.reply_text(text)


# ---- buttons ------------------------------------------------------------------------------

async def accept_button(update: Update, context: BotContext) -> None:
    await act(update, context, "accept", int(update.callback_query.data.rsplit(":", 1)[1]))


async def prompt_button(update: Update, context: BotContext) -> None:
    """办结 / 退回 / 申请延期 / 重办: ask for the words, as a message to reply to."""
    _, action, raw_id = update.callback_query.data.split(":")
    letter_id = int(raw_id)
    purpose, question = PROMPTS[action]
    try:
        async with context.services.db.reading() as session:
            await check_worded_action(session, context.services.rules, letter_id, action, context.actor, context.services.now())
    except LetterError as exc:  # a stale or forged button: say so now, not after the reply
        await answer(update, context.explain(exc), alert=True)
        return
    await update.callback_query.answer()
    text = context.t(question, id=letter_id)
    person = update.effective_user
    if update.effective_chat.type != Chat.PRIVATE and person is not None:
        # In a group the reply box opens only for those the message mentions (selective): the
        # one who pressed, not everyone in the group.
        text = f'<a href="tg://user?id={person.id}">{esc(person.full_name)}</a> {text}'
    prompt = await update.effective_chat.send_message(text, reply_markup=ForceReply(selective=True))
    async with context.services.db.transaction() as session:
        remember(session, [letter_id], prompt.chat_id, prompt.message_id, purpose, context.services.now())


async def choose_letter_button(update: Update, context: BotContext) -> None:
    """After a reply to a message about several letters: which one it closes."""
    letter_id = int(update.callback_query.data.rsplit(":", 1)[1])
    question = update.callback_query.message
    pending = context.user_data.get(PENDING_REPLIES, {})
    key = (question.chat.id, question.message_id) if question is not None else None
    text = pending.pop(key, None)  # taken before acting: two quick presses close one letter
    if not text:
        await update.callback_query.answer(context.t("This button is no longer valid."), show_alert=True)
        return
    # Only once closed: pressed (forged) on another message, such as a group's card of another
    # unit's letter, a refusal must leave that message's buttons alone.
    if await act(update, context, "done", letter_id, text):
        await set_buttons(update.callback_query, None)
    else:  # refused (another unit's letter, closed meanwhile): the reply may still go to another
        pending[key] = text


# ---- replies ------------------------------------------------------------------------------

async def reply_to_letter(update: Update, context: BotContext) -> bool:
    """A reply to one of our messages about letters acts on its letter. False when the message
    replied to is about none (the reply is someone else's business: /new's answers, chatter)."""
    message = update.effective_message
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return False
    async with context.services.db.reading() as session:
        mapped = await letters_of_message(session, message.chat_id, replied.message_id)
    actions = [(letter_id, REPLY_ACTIONS[purpose]) for letter_id, purpose in mapped if purpose in REPLY_ACTIONS]
    if not actions:
        return False
    # "12 已修复" in reply to a digest or a list: the number says which letter, as they ask.
    named = re.match(r"^\s*#?(\d{1,9})[\s:：,，、.]+(.+)$", message.text, re.S)
    if len(actions) == 1:
        letter_id, action = actions[0]
        listed = any(purpose in NUMBERED for _, purpose in mapped)
        numbered = listed and named is not None and int(named.group(1)) == letter_id  # not part of the reply
        await act(update, context, action, letter_id, named.group(2) if numbered else message.text)
        return True
    if named and int(named.group(1)) in {letter_id for letter_id, _ in actions}:
        await act(update, context, "done", int(named.group(1)), named.group(2))
        return True
    buttons = [InlineKeyboardButton(f"#{letter_id}", callback_data=f"reply:letter:{letter_id}") for letter_id, _ in actions[:CHOICES_SHOWN]]
    question = await message.reply_text(
        context.t("That message is about several letters. Which one does your reply close? You may also reply to it again with the letter's number first, e.g. “{id} …”.", id=actions[0][0]),
        reply_markup=InlineKeyboardMarkup([buttons[i:i + CHOICES_PER_ROW] for i in range(0, len(buttons), CHOICES_PER_ROW)]),
    )
    pending = context.user_data.setdefault(PENDING_REPLIES, {})
    pending[(question.chat_id, question.message_id)] = message.text
    while len(pending) > KEPT_PENDING:
        del pending[next(iter(pending))]  # the oldest question
    return True


# ---- commands -----------------------------------------------------------------------------

COMMAND_SHAPES = {
    "done": (re.compile(r"^#?(\d{1,9})\s+(.+)$", re.S), N_("Usage: /done <letter id> <reply to the citizen>")),
    "return": (re.compile(r"^#?(\d{1,9})\s+(.+)$", re.S), N_("Usage: /return <letter id> <reason>")),
    "extend": (re.compile(r"^#?(\d{1,9})\s+(\d{1,3}\s+.+)$", re.S), N_("Usage: /extend <letter id> <working days> <reason>")),
    "reopen": (re.compile(r"^#?(\d{1,9})\s+(.+)$", re.S), N_("Usage: /reopen <letter id> <reason>")),
}


async def letter_command(update: Update, context: BotContext) -> None:
    command = update.effective_message.text.split(maxsplit=1)[0].lstrip("/").split("@")[0].lower()
    shape, usage = COMMAND_SHAPES[command]
    match = shape.match(command_args(update.effective_message.text))
    if not match:
        await update.effective_message.reply_text(esc(context.t(usage)))
        return
    await act(update, context, command, int(match.group(1)), match.group(2))


def handlers() -> list:
    return [
        CommandHandler(list(COMMAND_SHAPES), letter_command),
        CallbackQueryHandler(accept_button, pattern=r"^letter:accept:\d{1,9}\Z"),
        CallbackQueryHandler(prompt_button, pattern=r"^letter:(done|return|extend|reopen):\d{1,9}\Z"),
        CallbackQueryHandler(choose_letter_button, pattern=r"^reply:letter:\d{1,9}\Z"),
        MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, reply_to_letter),
    ]
