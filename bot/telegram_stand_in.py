"""A loopback stand-in for the Telegram Bot API, for tests, benchmarks and the offline demo.

It speaks the real wire protocol (form or multipart requests, `{"ok": …}` answers), long-polls
`getUpdates`, keeps the messages it was sent, and refuses what Telegram refuses: texts over 4096
characters, callback data over 64 bytes, malformed HTML, messages to people who never wrote to the
bot. Faults (429 with retry_after, 5xx, 403, dropped connections) can be queued per method.

People and groups are driven from the test side: `person.send("/start")`, `person.press(msg, data)`,
`await person.receive()`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any

from aiohttp import web

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
JSON_FIELDS = {
    "reply_markup", "commands", "scope", "entities", "caption_entities", "allowed_updates",
    "reply_parameters", "link_preview_options", "media",
}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time"}
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
    "pre", "blockquote", "tg-emoji",
}
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>|&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot);|[<&]")


class BadRequest(Exception):
    def __init__(self, description: str, code: int = 400):
        super().__init__(description)
        self.description = description
        self.code = code


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_to_text(html: str) -> str:
    """Parse Telegram's HTML subset as Telegram does: return the plain text, or raise BadRequest."""
    stack: list[str] = []
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(html):
        out.append(html[position:match.start()])
        position = match.end()
        closing, tag, _attributes, entity = match.group(1), match.group(2), match.group(3), match.group(4)
        if tag:
            tag = tag.lower()
            if tag not in ALLOWED_TAGS:
                raise BadRequest(f"Bad Request: can't parse entities: unsupported start tag \"{tag}\" at byte offset {match.start()}")
            if closing:
                if not stack or stack[-1] != tag:
                    raise BadRequest(f"Bad Request: can't parse entities: unexpected end tag at byte offset {match.start()}")
                stack.pop()
            else:
                stack.append(tag)
        elif entity:
            out.append(unescape(match.group(0)))
        else:
            raise BadRequest(f"Bad Request: can't parse entities: unescaped \"{match.group(0)}\" at byte offset {match.start()}")
    out.append(html[position:])
    if stack:
        raise BadRequest(f"Bad Request: can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


@dataclass
class Fault:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    drop_connection: bool = False
    delay: float = 0.0
    migrate_to: int | None = None
    chat_id: int | None = None  # only calls for this chat


@dataclass
class SentMessage:
    """Something the bot did in a chat: a new message, or an edit of one."""

    kind: str  # message | edit | document | photo
    chat_id: int
    message_id: int
    text: str = ""
    html: str = ""
    reply_markup: dict | None = None
    reply_to_message_id: int | None = None
    file_name: str | None = None
    file_bytes: bytes | None = None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", b.get("url", ""))) for row in rows for b in row]

    def button(self, text_or_data: str) -> str:
        """The callback data of the button whose text or data contains the given string."""
        for text, data in self.buttons:
            if text_or_data in text or text_or_data == data:
                return data
        raise AssertionError(f"no button {text_or_data!r} among {self.buttons}")


class Person:
    """A Telegram user as the tests drive them."""

    def __init__(self, api: TelegramStandIn, user_id: int, first_name: str, last_name: str = "", username: str | None = None, language_code: str | None = "zh-hans"):
        self.api = api
        self.id = user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            self.user["last_name"] = last_name
        if username:
            self.user["username"] = username
        if language_code:
            self.user["language_code"] = language_code
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.user["first_name"], self.user.get("last_name", "")) if p)

    def send(self, text: str, chat: dict | None = None, reply_to: SentMessage | None = None) -> dict:
        message = self.api.new_incoming(self, chat or self.chat, text=text, reply_to=reply_to)
        return message

    def edit(self, message: dict, text: str) -> dict:
        """Edits a message this person sent: Telegram sends the new version as an update of its own."""
        return self.api.new_edit(message, text)

    def forward(self, text: str, sender_name: str = "某网友") -> dict:
        """Forwards someone else's message (a hidden user, as most forwards from citizens are)."""
        return self.api.new_incoming(self, self.chat, text=text, forward_from=sender_name)

    def send_document(self, content: bytes, file_name: str, mime_type: str, chat: dict | None = None, caption: str | None = None) -> dict:
        file_id = self.api.store_file(content, file_name)
        document = {"file_id": file_id, "file_unique_id": file_id + "u", "file_name": file_name, "mime_type": mime_type, "file_size": len(content)}
        return self.api.new_incoming(self, chat or self.chat, document=document, caption=caption)

    def press(self, message: SentMessage, data: str) -> str:
        """Presses a button; returns the callback query id (see `answer_to`)."""
        return self.api.new_callback(self, message, data)

    async def receive(self, chat: dict | None = None, timeout: float = 10.0) -> SentMessage:
        return await self.api.next_in_chat((chat or self.chat)["id"], timeout)

    async def answer_to(self, callback_id: str, timeout: float = 10.0) -> dict:
        return await self.api.callback_answer(callback_id, timeout)


class TelegramStandIn:
    def __init__(self, token: str = "123456789:STAND-IN-TOKEN-abcdefghijklmnopqrstuv", username: str = "mailbox_test_bot"):
        self.token = token
        self.download_limit = 20 * 1024 * 1024  # what getFile hands to a bot, as Telegram's servers do
        self.bot_user = {
            "id": int(token.split(":")[0]), "is_bot": True, "first_name": "领导信箱", "username": username,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }
        self.base_url = ""
        self.file_base_url = ""
        self.calls: list[tuple[str, dict]] = []
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.messages: dict[tuple[int, int], dict] = {}
        self.started: set[int] = set()
        self.faults: list[Fault] = []
        self._updates: list[dict] = []
        # Telegram counts update ids per bot from an arbitrary number; so does each stand-in, so a
        # new stand-in on an old database never repeats one.
        self._update_ids = itertools.count(secrets.randbelow(10**9) + 1)
        self._message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, tuple[bytes, str]] = {}
        self._chat_queues: dict[int, asyncio.Queue[SentMessage]] = defaultdict(asyncio.Queue)
        self._answers: dict[str, asyncio.Future] = {}
        self._new_update = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._group_ids = itertools.count(1001)
        self._releasing = False
        # Webhook mode: set by setWebhook. `balance_to` stands for a load balancer in front of
        # several instances: updates go round-robin to these URLs instead of the public one.
        self.webhook: dict | None = None
        self.balance_to: list[str] = []
        self.webhook_posts: list[tuple[str, int, int]] = []  # (target, update_id, HTTP status)
        self._targets = itertools.count()
        self._webhook_tasks: set[asyncio.Task] = set()
        # Watchers of what the bot sends (the demo's transcript), called as each message is recorded.
        self.observers: list[Callable[[SentMessage], None]] = []
        self.last_call = 0.0  # time.monotonic() of the bot's latest request

    # ---- life cycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # the port the OS chose
        self.base_url = f"http://{host}:{bound[1]}/bot"
        self.file_base_url = f"http://{host}:{bound[1]}/file/bot"

    async def release_pollers(self) -> None:
        """Answers pending and further long polls at once, so a bot stops without waiting out its
        polling timeout (PTB lets the running getUpdates finish)."""
        self._releasing = True
        async with self._new_update:
            self._new_update.notify_all()

    async def stop(self) -> None:
        for task in list(self._webhook_tasks):
            task.cancel()
        if self._runner:
            await self._runner.cleanup()

    # ---- the test side ----------------------------------------------------------------------

    def person(self, user_id: int, first_name: str, last_name: str = "", username: str | None = None, language_code: str | None = "zh-hans") -> Person:
        return Person(self, user_id, first_name, last_name, username, language_code)

    def group(self, title: str) -> dict:
        return {"id": -next(self._group_ids), "type": "supergroup", "title": title}

    def fail_next(self, method: str, status: int = 500, description: str = "Internal Server Error", *, times: int = 1, retry_after: int | None = None, drop_connection: bool = False, delay: float = 0.0, migrate_to: int | None = None, chat_id: int | None = None) -> None:
        for _ in range(times):
            self.faults.append(Fault(method, status, description, retry_after, drop_connection, delay, migrate_to, chat_id))

    def new_incoming(self, person: Person, chat: dict, *, text: str | None = None, reply_to: SentMessage | None = None, document: dict | None = None, caption: str | None = None, forward_from: str | None = None) -> dict:
        chat_id = chat["id"]
        if chat["type"] == "private":
            self.started.add(person.id)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]), "date": int(time.time()), "chat": chat, "from": person.user,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]
        if document is not None:
            message["document"] = document
            if caption:
                message["caption"] = caption
        if reply_to is not None:
            message["reply_to_message"] = self.messages[(reply_to.chat_id, reply_to.message_id)]
        if forward_from is not None:
            message["forward_origin"] = {"type": "hidden_user", "sender_user_name": forward_from, "date": int(time.time()) - 60}
            message.pop("entities", None)
        self.messages[(chat_id, message["message_id"])] = message
        self._push({"message": message})
        return message

    def new_edit(self, message: dict, text: str) -> dict:
        edited = {**message, "text": text, "edit_date": int(time.time())}
        self.messages[(edited["chat"]["id"], edited["message_id"])] = edited
        self._push({"edited_message": edited})
        return edited

    def new_callback(self, person: Person, sent: SentMessage, data: str) -> str:
        callback_id = str(next(self._callback_ids))
        self._answers[callback_id] = asyncio.get_running_loop().create_future()
        self._push({
            "callback_query": {
                "id": callback_id, "from": person.user, "chat_instance": str(sent.chat_id),
                "message": self.messages[(sent.chat_id, sent.message_id)], "data": data,
            }
        })
        return callback_id

    async def next_in_chat(self, chat_id: int, timeout: float = 10.0) -> SentMessage:
        try:
            return await asyncio.wait_for(self._chat_queues[chat_id].get(), timeout)
        except TimeoutError:
            raise AssertionError(f"the bot sent nothing to chat {chat_id} within {timeout}s") from None

    def unacknowledged(self) -> int:
        """Updates the bot has not yet confirmed with a later getUpdates offset."""
        return len(self._updates)

    def pending(self, chat_id: int) -> list[SentMessage]:
        """What the bot sent to a chat and the test has not read yet, without waiting."""
        queue = self._chat_queues[chat_id]
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def callback_answer(self, callback_id: str, timeout: float = 10.0) -> dict:
        try:
            return await asyncio.wait_for(asyncio.shield(self._answers[callback_id]), timeout)
        except TimeoutError:
            raise AssertionError(f"callback {callback_id} was not answered within {timeout}s") from None

    def store_file(self, content: bytes, file_name: str) -> str:
        file_id = f"F{next(self._file_ids)}"
        self._files[file_id] = (content, f"documents/{file_id}_{file_name}")
        return file_id

    def file_content(self, file_id: str) -> bytes:
        return self._files[file_id][0]

    def commands_for(self, scope: dict, language_code: str = "") -> list[dict]:
        return self.commands.get((json.dumps(scope, sort_keys=True), language_code), [])

    def _push(self, update: dict) -> None:
        update["update_id"] = next(self._update_ids)
        if self.webhook is not None:
            task = asyncio.get_running_loop().create_task(self._post_update(update))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)
            return
        self._updates.append(update)

        async def notify() -> None:
            async with self._new_update:
                self._new_update.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def _post_update(self, update: dict) -> None:
        """As Telegram does: POST the update with the secret header; retry until a 2xx."""
        import aiohttp

        targets = self.balance_to or [self.webhook["url"]]
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook["secret_token"]} if self.webhook.get("secret_token") else {}
        for attempt in range(20):
            target = targets[next(self._targets) % len(targets)]
            try:
                async with aiohttp.ClientSession() as client, client.post(target, json=update, headers=headers) as response:
                    self.webhook_posts.append((target, update["update_id"], response.status))
                    if 200 <= response.status < 300:
                        return
            except aiohttp.ClientError:
                self.webhook_posts.append((target, update["update_id"], 0))
            await asyncio.sleep(0.05 * (attempt + 1))

    async def post_to_webhook(self, target: str, update: dict, secret: str | None) -> int:
        """A post that did not come from Telegram (a forger knows the URL, not the secret)."""
        import aiohttp

        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with aiohttp.ClientSession() as client, client.post(target, json=update, headers=headers) as response:
            return response.status

    # ---- the bot side: HTTP -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        self.last_call = time.monotonic()
        fault = next((
            f for f in self.faults
            if f.method.lower() == method.lower() and (f.chat_id is None or str(f.chat_id) == str(params.get("chat_id")))
        ), None)
        if fault is not None:
            self.faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drop_connection:
                request.transport.close()
                return web.Response(status=500)
            body: dict[str, Any] = {"ok": False, "error_code": fault.status, "description": fault.description}
            if fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
            if fault.migrate_to is not None:
                body["parameters"] = {"migrate_to_chat_id": fault.migrate_to}
            return web.json_response(body, status=fault.status)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"}, status=404)
        try:
            result = await handler(params)
        except BadRequest as exc:
            return web.json_response({"ok": False, "error_code": exc.code, "description": exc.description}, status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"file_name": value.filename, "content": value.file.read()}
            elif key in JSON_FIELDS:
                params[key] = json.loads(value)
            elif key in INT_FIELDS:
                params[key] = int(value)
            else:
                params[key] = value
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params[value.removeprefix("attach://")]
        return params

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for content, path in self._files.values():
            if path == request.match_info["path"]:
                return web.Response(body=content)
        return web.Response(status=404)

    # ---- the bot side: methods --------------------------------------------------------------

    async def _m_getme(self, params: dict) -> dict:
        return self.bot_user

    async def _m_deletewebhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    async def _m_setwebhook(self, params: dict) -> bool:
        if not str(params.get("url", "")).startswith(("https://", "http://")):
            raise BadRequest("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    async def _m_getupdates(self, params: dict) -> list[dict]:
        if self.webhook is not None:
            raise BadRequest("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 409)
        offset = int(params.get("offset", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        timeout = float(params.get("timeout", 0) or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

        def ready() -> bool:
            return self._releasing or any(u["update_id"] >= offset for u in self._updates)

        if not ready() and timeout:
            async with self._new_update:
                try:
                    await asyncio.wait_for(self._new_update.wait_for(ready), timeout)
                except TimeoutError:
                    pass
        return [u for u in self._updates if u["update_id"] >= offset][:limit]

    async def _m_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise BadRequest("Bad Request: too many commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise BadRequest("Bad Request: command description is invalid")
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") == "chat" and scope.get("chat_id") not in self.started and scope.get("chat_id", 0) > 0:
            raise BadRequest("Bad Request: chat not found")
        self.commands[(json.dumps(scope, sort_keys=True), params.get("language_code", ""))] = commands
        return True

    async def _m_getmycommands(self, params: dict) -> list[dict]:
        return self.commands_for(params.get("scope") or {"type": "default"}, params.get("language_code", ""))

    def _chat(self, chat_id: Any) -> dict:
        chat_id = int(chat_id)
        if chat_id > 0:
            if chat_id not in self.started:
                raise BadRequest("Forbidden: bot can't initiate conversation with a user", 403)
            return {"id": chat_id, "type": "private"}
        for (cid, _), message in self.messages.items():
            if cid == chat_id:
                return message["chat"]
        raise BadRequest("Bad Request: chat not found")

    @staticmethod
    def _check_markup(markup: dict | None) -> None:
        if not markup:
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise BadRequest("Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise BadRequest("Bad Request: BUTTON_DATA_INVALID")

    def _render(self, params: dict, key: str, limit: int) -> tuple[str, str]:
        raw = params.get(key, "")
        text = html_to_text(raw) if params.get("parse_mode") == "HTML" else raw
        if key == "text" and not text.strip():
            raise BadRequest("Bad Request: message text is empty")
        if utf16_length(text) > limit:
            raise BadRequest("Bad Request: message is too long" if key == "text" else "Bad Request: message caption is too long")
        return text, raw

    def _record(self, sent: SentMessage, message: dict) -> dict:
        self.messages[(sent.chat_id, sent.message_id)] = message
        self._chat_queues[sent.chat_id].put_nowait(sent)
        for observer in self.observers:
            observer(sent)
        return message

    def _new_message(self, chat: dict, params: dict) -> dict:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat["id"]]), "date": int(time.time()), "chat": chat, "from": self.bot_user,
        }
        if (params.get("reply_markup") or {}).get("inline_keyboard"):  # Telegram echoes only inline keyboards
            message["reply_markup"] = params["reply_markup"]
        reply_id = (params.get("reply_parameters") or {}).get("message_id") or params.get("reply_to_message_id")
        if reply_id and (chat["id"], int(reply_id)) in self.messages:
            message["reply_to_message"] = self.messages[(chat["id"], int(reply_id))]
        return message

    async def _m_sendmessage(self, params: dict) -> dict:
        chat = self._chat(params["chat_id"])
        text, raw = self._render(params, "text", TEXT_LIMIT)
        self._check_markup(params.get("reply_markup"))
        message = self._new_message(chat, params)
        message["text"] = text
        sent = SentMessage("message", chat["id"], message["message_id"], text, raw, params.get("reply_markup"),
                           (message.get("reply_to_message") or {}).get("message_id"))
        return self._record(sent, message)

    def _existing(self, params: dict) -> dict:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages or self.messages[key].get("from", {}).get("id") != self.bot_user["id"]:
            raise BadRequest("Bad Request: message to edit not found")
        return self.messages[key]

    async def _m_editmessagetext(self, params: dict) -> dict:
        message = dict(self._existing(params))
        text, raw = self._render(params, "text", TEXT_LIMIT)
        self._check_markup(params.get("reply_markup"))
        if text == message.get("text") and params.get("reply_markup") == message.get("reply_markup"):
            raise BadRequest("Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        message["text"] = text
        message["edit_date"] = int(time.time())
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        sent = SentMessage("edit", message["chat"]["id"], message["message_id"], text, raw, message.get("reply_markup"))
        return self._record(sent, message)

    async def _m_editmessagereplymarkup(self, params: dict) -> dict:
        message = dict(self._existing(params))
        self._check_markup(params.get("reply_markup"))
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        sent = SentMessage("edit", message["chat"]["id"], message["message_id"], message.get("text", ""), "", message.get("reply_markup"))
        return self._record(sent, message)

    async def _m_answercallbackquery(self, params: dict) -> bool:
        future = self._answers.get(str(params.get("callback_query_id")))
        if future is None:
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        if future.done():
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(params.get("text", "")) > 200:
            raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
        future.set_result(params)
        return True

    async def _send_file(self, params: dict, field_name: str, kind: str) -> dict:
        chat = self._chat(params["chat_id"])
        caption, raw = self._render(params, "caption", CAPTION_LIMIT) if params.get("caption") else ("", "")
        upload = params.get(field_name)
        if isinstance(upload, dict):
            content, file_name = upload["content"], upload["file_name"] or kind
        elif isinstance(upload, str) and upload in self._files:
            content, path = self._files[upload]
            file_name = path.rsplit("_", 1)[-1]
        else:
            raise BadRequest(f"Bad Request: there is no {field_name} in the request")
        if not content:
            raise BadRequest("Bad Request: file must be non-empty")
        file_id = self.store_file(content, file_name)
        message = self._new_message(chat, params)
        if caption:
            message["caption"] = caption
        if kind == "photo":
            message["photo"] = [{"file_id": file_id, "file_unique_id": file_id + "u", "width": 800, "height": 600, "file_size": len(content)}]
        else:
            message["document"] = {"file_id": file_id, "file_unique_id": file_id + "u", "file_name": file_name, "file_size": len(content)}
        sent = SentMessage(kind, chat["id"], message["message_id"], caption, raw, params.get("reply_markup"), file_name=file_name, file_bytes=content)
        return self._record(sent, message)

    async def _m_senddocument(self, params: dict) -> dict:
        return await self._send_file(params, "document", "document")

    async def _m_sendphoto(self, params: dict) -> dict:
        return await self._send_file(params, "photo", "photo")

    async def _m_getfile(self, params: dict) -> dict:
        file_id = params.get("file_id", "")
        if file_id not in self._files:
            raise BadRequest("Bad Request: invalid file_id")
        content, path = self._files[file_id]
        if len(content) > self.download_limit:
            raise BadRequest("Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": file_id + "u", "file_size": len(content), "file_path": path}


async def _serve(port: int) -> None:
    api = TelegramStandIn()
    await api.start(port=port)
    print(f"Bot API stand-in at {api.base_url} (token {api.token}); Ctrl-C stops it.", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.stop()


if __name__ == "__main__":
    # `python -m bot.telegram_stand_in [port]`: a loopback Telegram to try the bot without a token.
    import sys

    try:
        asyncio.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8081))
    except KeyboardInterrupt:
        pass
