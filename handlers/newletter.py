"""/new: an admin types a letter in, step by step (title, content, sender, phone, received time),
and may /cancel at any step. Forwarding a message to the bot starts the same exchange with the
forwarded text as the content."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, ConversationHandler, MessageHandler, filters

from handlers.context import BotContext
from handlers.handling import reply_to_letter
from handlers.render import esc
from locales import N_
from models.letter_input import LIMITS, build_record, parse_datetime
from models.letters import LetterError, Origin, ingest
from models.permissions import Action, can

TITLE, CONTENT, SENDER, PHONE, RECEIVED = range(5)
# field → (the step that asks for it, its name in a message)
STEPS = {
    "title": (TITLE, N_("title")), "content": (CONTENT, N_("content")), "sender_name": (SENDER, N_("sender's name")),
    "sender_phone": (PHONE, N_("sender's phone number")), "received_at": (RECEIVED, N_("time received")),
}
DRAFT = "new_letter"
AGAIN = "again"  # in the draft: the step answering now was asked again after the letter was refused
TIMEOUT_SECONDS = 30 * 60
TEXT = filters.TEXT & ~filters.COMMAND


def _draft(context: BotContext) -> dict:
    return context.user_data.setdefault(DRAFT, {})


async def start_new(update: Update, context: BotContext) -> int:
    if not can(context.actor, Action.MANAGE_LETTERS):
        await update.effective_message.reply_text(context.t("Only administrators may do this."))
        return ConversationHandler.END
    context.user_data[DRAFT] = {}
    await update.effective_message.reply_text(
        context.t("A new letter. Send its title (/cancel stops at any step, nothing is saved).")
    )
    return TITLE


async def start_from_forward(update: Update, context: BotContext) -> int:
    message = update.effective_message
    if not can(context.actor, Action.MANAGE_LETTERS):
        await message.reply_text(context.t("Only administrators may do this."))
        return ConversationHandler.END
    content = message.text.strip()
    context.user_data[DRAFT] = {"content": content}
    await message.reply_text(
        context.t("A new letter from the forwarded message. Send its title, or /skip to use the first line (/cancel stops).")
    )
    return TITLE


async def got_title(update: Update, context: BotContext) -> int:
    text = update.effective_message.text.strip()
    if len(text) > LIMITS["title"]:
        await update.effective_message.reply_text(context.t("That title is too long (at most {limit} characters). Send a shorter one.", limit=LIMITS["title"]))
        return TITLE
    _draft(context)["title"] = text
    return await _onward(update, context, _after_title)


async def skip_title(update: Update, context: BotContext) -> int:
    content = _draft(context).get("content", "")
    if not content:
        await update.effective_message.reply_text(context.t("A title is needed. Send it, please."))
        return TITLE
    _draft(context)["title"] = content.splitlines()[0][:60]
    return await _after_title(update, context)


async def _onward(update: Update, context: BotContext, ask_next) -> int:
    """The next step; or, when this answer replaced one the letter refused, the saving again
    (the later answers are kept)."""
    if _draft(context).pop(AGAIN, False):
        return await _save(update, context)
    return await ask_next(update, context)


async def _after_title(update: Update, context: BotContext) -> int:
    if _draft(context).get("content"):
        return await _ask_sender(update, context)
    await update.effective_message.reply_text(context.t("Send the content of the letter."))
    return CONTENT


async def got_content(update: Update, context: BotContext) -> int:
    _draft(context)["content"] = update.effective_message.text
    return await _onward(update, context, _ask_sender)


async def _ask_sender(update: Update, context: BotContext) -> int:
    await update.effective_message.reply_text(context.t("The sender's name? (/skip if unknown)"))
    return SENDER


async def got_sender(update: Update, context: BotContext) -> int:
    _draft(context)["sender_name"] = update.effective_message.text
    return await _onward(update, context, _ask_phone)


async def skip_sender(update: Update, context: BotContext) -> int:
    return await _onward(update, context, _ask_phone)


async def _ask_phone(update: Update, context: BotContext) -> int:
    await update.effective_message.reply_text(context.t("The sender's phone number? (/skip if unknown)"))
    return PHONE


async def got_phone(update: Update, context: BotContext) -> int:
    _draft(context)["sender_phone"] = update.effective_message.text
    return await _onward(update, context, _ask_received)


async def skip_phone(update: Update, context: BotContext) -> int:
    return await _onward(update, context, _ask_received)


async def _ask_received(update: Update, context: BotContext) -> int:
    await update.effective_message.reply_text(context.t("When was it received? For example 2019-03-05 10:00. /skip means now."))
    return RECEIVED


async def got_received(update: Update, context: BotContext) -> int:
    text = update.effective_message.text
    if parse_datetime(text, context.services.settings.tz) is None:
        await update.effective_message.reply_text(context.t("That is not a date and time. For example 2019-03-05 10:00, or /skip for now."))
        return RECEIVED
    _draft(context)["received_at"] = text
    return await _save(update, context)


async def skip_received(update: Update, context: BotContext) -> int:
    _draft(context)["received_at"] = context.services.now()
    return await _save(update, context)


async def _save(update: Update, context: BotContext) -> int:
    services = context.services
    t = context.t
    draft = _draft(context)
    now = services.now()
    record = build_record(draft, tz=services.settings.tz, resolver=services.resolver, now=now, history=False)
    if isinstance(record, list):
        # The one validation every letter passes, at the end: the first field it refuses is asked
        # for again, and what was typed for the others is kept.
        error = next((e for e in record if e.field in STEPS), None)
        if error is None:
            context.user_data.pop(DRAFT, None)
            problems = "\n".join(t(e.message, **e.values) for e in record)
            await update.effective_message.reply_text(t("The letter was not saved:\n{problems}\nStart again with /new.", problems=esc(problems)))
            return ConversationHandler.END
        draft.pop(error.field, None)
        draft[AGAIN] = True
        await update.effective_message.reply_text(t(
            "The {field} {problem}. Send it again, please (/cancel stops).",
            field=t(STEPS[error.field][1]), problem=t(error.message, **error.values),
        ))
        return STEPS[error.field][0]
    context.user_data.pop(DRAFT, None)
    origin = Origin("person", context.actor, update.effective_chat.id)
    try:
        async with services.db.transaction() as session:
            letter, _ = await ingest(session, services.rules, record, origin, now)
    except LetterError as exc:
        await update.effective_message.reply_text(context.explain(exc))
        return ConversationHandler.END
    services.notify()
    await update.effective_message.reply_text(t("Saved as letter #{id}. Its card follows, to assign it.", id=letter.id))
    return ConversationHandler.END


async def cancel(update: Update, context: BotContext) -> int:
    context.user_data.pop(DRAFT, None)
    await update.effective_message.reply_text(context.t("Cancelled. Nothing was saved."))
    return ConversationHandler.END


async def timed_out(update: Update, context: BotContext) -> None:
    context.user_data.pop(DRAFT, None)


def _answer(step):
    """A step's answer. A reply to a letter's message is not one: it is that letter's business (it
    closes it, /new or not), and /new stays at its step."""
    async def handle(update: Update, context: BotContext) -> int | None:
        if update.effective_message.reply_to_message is not None and await reply_to_letter(update, context):
            return None  # the same step
        return await step(update, context)

    return handle


async def skip_content(update: Update, context: BotContext) -> int:
    _draft(context)["content"] = ""  # a letter may have no content (a title says it all)
    return await _onward(update, context, _ask_sender)


async def nothing_to_cancel(update: Update, context: BotContext) -> None:
    await update.effective_message.reply_text(context.t("There is nothing to cancel."))


async def new_in_a_group(update: Update, context: BotContext) -> None:
    await update.effective_message.reply_text(context.t("Type a letter in with /new in a private chat with me."))


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        ConversationHandler(
            entry_points=[
                CommandHandler("new", start_new, filters=private),
                MessageHandler(private & filters.FORWARDED & filters.TEXT, start_from_forward),
            ],
            states={
                TITLE: [MessageHandler(TEXT, _answer(got_title)), CommandHandler("skip", skip_title)],
                CONTENT: [MessageHandler(TEXT, _answer(got_content)), CommandHandler("skip", skip_content)],
                SENDER: [MessageHandler(TEXT, _answer(got_sender)), CommandHandler("skip", skip_sender)],
                PHONE: [MessageHandler(TEXT, _answer(got_phone)), CommandHandler("skip", skip_phone)],
                RECEIVED: [MessageHandler(TEXT, _answer(got_received)), CommandHandler("skip", skip_received)],
                ConversationHandler.TIMEOUT: [MessageHandler(filters.ALL, timed_out)],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            conversation_timeout=TIMEOUT_SECONDS,
            # /new, or a forwarded message, while a letter is being typed in starts the new one:
            # never the old draft's next answer.
            allow_reentry=True,
            name="new_letter",
        ),
        CommandHandler("cancel", nothing_to_cancel, filters=private),
        CommandHandler("new", new_in_a_group, filters=~private),
    ]
