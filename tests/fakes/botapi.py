"""A fake Telegram Bot API server on 127.0.0.1 (aiohttp) for the real python-telegram-bot.

    async with BotAPI() as fake:
        app = Application.builder().token(fake.token).base_url(f"{fake.url}/bot") \
            .base_file_url(f"{fake.url}/file/bot").build()
        fake.text_message(chat_id=1, text="/start")          # queue an update
        sent = await fake.wait_for(lambda m: m.chat_id == 1)  # await the bot's reply

It answers like Telegram does, for the methods the bot uses: getMe (with a username),
getUpdates (long polling on an asyncio.Event: no sleeps), sendMessage, editMessageText,
editMessageReplyMarkup, sendChatAction, answerCallbackQuery, deleteMessage, sendPhoto
(multipart), setMyCommands, and the webhook methods. Bodies may be form-encoded (what
PTB sends: non-string values JSON-encoded), multipart, or JSON.

Validation, with Telegram's wording:

* HTML parse mode: only Telegram's tags, balanced, `<`, `>` and `&` escaped, at most
  4096 characters (UTF-16 units) after entity parsing -> 400 "Bad Request: can't parse
  entities: ..." / "Bad Request: message is too long";
* `callback_data` at most 64 bytes -> 400 "Bad Request: BUTTON_DATA_INVALID";
* editing to identical content -> 400 "Bad Request: message is not modified: ...".

Scripted failures: `fake.fail(chat_id, 403)` ("Forbidden: bot was blocked by the user")
or `fake.fail(chat_id, 429, retry_after=1)` (with `parameters.retry_after`), for the
next `times` calls of `method` (any sending method when None).

Drafts (`sendMessageDraft`, Bot API 9.3+; private chats only, `draft_id` non-zero, an
empty text allowed as in Bot API 10.0) are recorded in `fake.drafts` (a list of `Draft`,
with the fake clock's time), not in `fake.sent`. Modes, for servers and limits met in
the wild:

* `drafts_refused=(404, "Not Found")` (a server that does not know the method; or a 400);
* `draft_text_required=True` (Bot API 9.3–9.6: 1–4096 characters, so no empty draft);
* `draft_rate` / `draft_burst`: per-chat flood control of drafts, a bucket apart from
  messages' (0: off); over it, 429 with `retry_after = draft_retry_after`;
* `draft_ttl`: a draft vanishes `draft_ttl` seconds (fake clock) after its last update
  unless a message replaces it; each one that did is recorded in `fake.vanished`.

`clock` (default `time.monotonic`) is what flood control and drafts are timed by: a
test whose bot runs on a frozen clock passes that clock's time.

Every sent or edited message is recorded in `fake.sent` (a list of `Sent`), every call
in `fake.calls`; `fake.messages[(chat_id, message_id)]` holds each message's current
state; calls to methods the fake does not know land in `fake.unknown` and get a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

BOT_ID = 777000111
BOT_USERNAME = "digest_test_bot"
TOKEN = "123456:TEST-token-for-fake-bot-api"
MAX_TEXT = 4096
MAX_CAPTION = 1024
SENDING = {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto"}

# tag -> allowed attribute names
ALLOWED_TAGS: dict[str, set[str]] = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "span": {"class"},
    "tg-spoiler": set(),
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-emoji": {"emoji-id"},
}
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ATTR = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")


class ParseError(ValueError):
    """Raised by `parse_html` with Telegram's description (after "can't parse entities: ")."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Validate Telegram HTML like the Bot API does; return the entity-decoded plain text."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    raw = text.encode("utf-8")
    del raw
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            offset = len(text[:i].encode("utf-8"))
            if not m:
                raise ParseError(
                    f'Unsupported start tag "{_tag_name(text, i)}" at byte offset {offset}'
                )
            closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
            if name not in ALLOWED_TAGS:
                kind = "end" if closing else "start"
                raise ParseError(f'Unsupported {kind} tag "{name}" at byte offset {offset}')
            if closing:
                if not stack or stack[-1] != name:
                    raise ParseError(
                        f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", found "</{name}>"'
                        if stack
                        else f"Unexpected end tag at byte offset {offset}"
                    )
                stack.pop()
            else:
                _check_attrs(name, attrs, offset)
                stack.append(name)
            i = m.end()
        elif ch == ">":
            raise ParseError(
                f"Character '>' is reserved and must be escaped at byte offset {len(text[:i].encode('utf-8'))}"
            )
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise ParseError(
                    f"Character '&' is reserved and must be escaped at byte offset {len(text[:i].encode('utf-8'))}"
                )
            out.append(html.unescape(m.group(0)))
            i = m.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _tag_name(text: str, i: int) -> str:
    m = re.match(r"</?([^\s>/]*)", text[i:])
    return m.group(1) if m else ""


def _check_attrs(name: str, attrs: str, offset: int) -> None:
    found = {m.group(1).lower(): (m.group(2) or "").strip("\"'") for m in _ATTR.finditer(attrs)}
    for attr in found:
        if attr not in ALLOWED_TAGS[name]:
            raise ParseError(
                f'Unsupported attribute "{attr}" in tag "{name}" at byte offset {offset}'
            )
    if name == "span" and found.get("class") != "tg-spoiler":
        raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "a" and "href" not in found:
        raise ParseError(f'Tag "a" must have attribute "href" at byte offset {offset}')


@dataclass
class Sent:
    """One outgoing message as the bot sent (or edited) it."""

    method: str
    chat_id: int
    message_id: int
    text: str  # as sent (HTML source when parse_mode is HTML)
    parse_mode: str | None = None
    plain: str = ""  # entity-decoded text, what the user sees
    reply_markup: dict[str, Any] | None = None
    disable_preview: bool = False
    reply_to: int | None = None
    photo: bytes | None = None
    at: float = 0.0

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b for row in rows for b in row]


@dataclass
class Draft:
    """One sendMessageDraft as the bot sent it."""

    chat_id: int
    draft_id: int
    text: str  # as sent (HTML source when parse_mode is HTML)
    plain: str  # what the user sees ("" shows "Thinking…")
    at: float  # time.perf_counter()
    clock_at: float  # the fake's clock


@dataclass
class Failure:
    code: int
    description: str
    retry_after: int | None
    times: int
    method: str | None


@dataclass
class BotAPI:
    """The fake server; use as `async with BotAPI() as fake`."""

    token: str = TOKEN
    bot_id: int = BOT_ID
    username: str = BOT_USERNAME
    latency: float = 0.0
    # Telegram's flood control, per chat: a bucket of `chat_burst` sends refilled at
    # `chat_rate` a second (0: off); a send over it gets 429 with retry_after
    chat_rate: float = 0.0
    chat_burst: int = 3
    # drafts (see the module doc)
    drafts_refused: tuple[int, str] | None = None
    draft_text_required: bool = False
    draft_rate: float = 0.0
    draft_burst: int = 3
    draft_retry_after: int = 1
    draft_ttl: float | None = None
    drafts: list[Draft] = field(default_factory=list)
    vanished: list[tuple[int, float]] = field(default_factory=list)  # (chat, last update)
    draft_429s: list[tuple[int, float]] = field(default_factory=list)  # (chat, clock time)
    clock: Callable[[], float] = time.monotonic
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    actions: list[tuple[int, str]] = field(default_factory=list)
    answered_callbacks: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[tuple[int, int]] = field(default_factory=list)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    errors: list[tuple[str, int, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    update_times: dict[int, float] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (path, data)
    downloads: list[str] = field(default_factory=list)  # file paths served
    # groups upgraded to supergroups (old id -> new id): Telegram refuses every send to
    # the old id with 400 "group chat was upgraded to a supergroup chat" and
    # `parameters.migrate_to_chat_id`
    upgraded: dict[int, int] = field(default_factory=dict)
    # file path -> a handler serving it instead of the stored bytes (a failing, lying or
    # endless file server)
    file_handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = field(
        default_factory=dict
    )
    # chat id -> user id -> status ("creator", "administrator", "member", ...), for
    # getChatMember / getChatAdministrators; chat usernames ("@name") -> chat dicts
    members: dict[int, dict[int, str]] = field(default_factory=dict)
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    inline_answers: list[dict[str, Any]] = field(default_factory=list)
    channel_ids: set[int] = field(default_factory=set)  # negative ids that are channels
    titles: dict[int, str] = field(default_factory=dict)  # group/channel titles
    port: int = 0
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _failures: dict[int, list[Failure]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _closing: bool = False
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    _draft_buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    _draft_shown: dict[int, float] = field(default_factory=dict)  # chat -> last draft time

    # --- lifecycle ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What `Application.builder().base_url(...)` wants (the token is appended)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing = True
        self._new_update.set()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- scripting -----------------------------------------------------------------
    def fail(
        self,
        chat_id: int,
        code: int,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (default: any sending method) to `chat_id` fail."""
        if description is None:
            description = {
                403: "Forbidden: bot was blocked by the user",
                429: f"Too Many Requests: retry after {retry_after or 1}",
                400: "Bad Request: chat not found",
            }.get(code, "Internal Server Error")
        if code == 429 and retry_after is None:
            retry_after = 1
        self._failures.setdefault(chat_id, []).append(
            Failure(code, description, retry_after, times, method)
        )

    async def wait_for(
        self,
        predicate: Callable[[Sent], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the fake's own deadline
        *,
        start: int = 0,
    ) -> Sent:
        """Return the first recorded `Sent` (from index `start`) matching `predicate`.

        Waits on the fake's change event (no polling sleeps); raises TimeoutError with
        what was sent when nothing matches in `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            for item in self.sent[start:]:
                if predicate(item):
                    return item
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(s.method, s.chat_id, s.plain[:80]) for s in self.sent[start:]]
                raise TimeoutError(f"no matching message in {timeout}s; sent: {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the fake's own deadline
    ) -> None:
        """Return once `condition()` holds (checked after every Bot API call the fake
        answers); raise TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met in {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    def max_per_minute(self, chat_id: int) -> int:
        """The most new messages the bot sent to `chat_id` in any 60 seconds (Telegram
        allows a group about 20)."""
        new = ("sendMessage", "sendPhoto")
        return _most_in_window(
            sorted(s.at for s in self.sent if s.chat_id == chat_id and s.method in new)
        )

    def per_minute_counts(self) -> dict[int, int]:
        """`max_per_minute` of every chat the bot sent to."""
        by_chat: dict[int, list[float]] = {}
        for s in self.sent:
            if s.method in ("sendMessage", "sendPhoto"):
                by_chat.setdefault(s.chat_id, []).append(s.at)
        return {cid: _most_in_window(sorted(ts)) for cid, ts in by_chat.items()}

    def current(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """The current state of a message (after edits) as a Bot API Message dict."""
        return self.messages[(chat_id, message_id)]

    def visible(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat as the user now sees them (edits applied, deletes gone)."""
        return [
            m
            for (cid, _mid), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
            if cid == chat_id and m.get("from", {}).get("id") == self.bot_id
        ]

    # --- building updates ----------------------------------------------------------
    def _chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": "User"}
        default = "Test channel" if chat_type == "channel" else "Test group"
        title = self.titles.get(chat_id, default)
        return {"id": chat_id, "type": chat_type, "title": title}

    def _type_of(self, chat_id: int) -> str:
        if chat_id > 0:
            return "private"
        return "channel" if chat_id in self.channel_ids else "supergroup"

    def _user(self, user_id: int, language_code: str | None, first_name: str) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (an `update_id` is assigned) for the next getUpdates."""
        update["update_id"] = next(self._update_ids)
        self.update_times[update["update_id"]] = time.perf_counter()
        self._updates.append(update)
        self._new_update.set()
        return update

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        first_name: str = "Sara",
        reply_to: int | None = None,
        caption: str | None = None,
        forward_from_channel: str | None = None,
        sender_chat: int | None = None,
        queue: bool = True,
    ) -> dict[str, Any]:
        """Build (and by default queue) a message update; return the update dict.

        A text starting with "/" gets a `bot_command` entity, "@<botname>" a `mention`
        entity. `reply_to` is the id of an earlier message in the chat (the bot's or the
        user's). `forward_from_channel` makes it a forwarded channel post; with
        `caption`, it is a photo with that caption.
        """
        uid = user_id if user_id is not None else abs(chat_id)
        mid = next(self._ids)
        msg: dict[str, Any] = {
            "message_id": mid,
            "date": int(time.time()),
            "chat": self._chat(chat_id, chat_type),
            "from": self._user(uid, language_code, first_name),
        }
        if text is not None:
            msg["text"] = text
            entities = _entities(text, self.username)
            if entities:
                msg["entities"] = entities
        if caption is not None:
            msg["caption"] = caption
            msg["photo"] = [
                {"file_id": "photo-1", "file_unique_id": "u1", "width": 90, "height": 90}
            ]
        if forward_from_channel is not None:
            channel = {"id": -1001234567890, "type": "channel", "title": forward_from_channel}
            msg["forward_origin"] = {
                "type": "channel",
                "chat": channel,
                "message_id": 42,
                "date": int(time.time()) - 60,
            }
        if sender_chat is not None:  # an anonymous admin writes as the group itself
            msg["sender_chat"] = self._chat(sender_chat, "supergroup")
            msg["from"] = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
        if reply_to is not None:
            msg["reply_to_message"] = self.messages[(chat_id, reply_to)]
        self.messages[(chat_id, mid)] = msg
        update = {"message": msg}
        return self.push_update(update) if queue else update

    def channel_post(self, chat_id: int, text: str, *, queue: bool = True) -> dict[str, Any]:
        """A post in channel `chat_id` (no `from`: only `sender_chat`, the channel)."""
        mid = next(self._ids)
        self.channel_ids.add(chat_id)
        chat = self._chat(chat_id, "channel")
        msg: dict[str, Any] = {
            "message_id": mid,
            "date": int(time.time()),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
        entities = _entities(text, self.username)
        if entities:
            msg["entities"] = entities
        self.messages[(chat_id, mid)] = msg
        update = {"channel_post": msg}
        return self.push_update(update) if queue else update

    def inline_query(
        self, user_id: int, query: str, *, language_code: str | None = "en"
    ) -> dict[str, Any]:
        """The user typed `@bot <query>` in some chat."""
        inline = {
            "id": f"iq{next(self._ids)}",
            "from": self._user(user_id, language_code, "Sara"),
            "query": query,
            "offset": "",
            "chat_type": "sender",
        }
        return self.push_update({"inline_query": inline})

    def bot_removed(self, chat_id: int, chat_type: str = "supergroup") -> dict[str, Any]:
        """The bot was kicked out of a group or channel (a `my_chat_member` update)."""
        me = self._me()
        change = {
            "chat": self._chat(chat_id, chat_type),
            "from": self._user(7, "en", "Admin"),
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": me},
            "new_chat_member": {"status": "kicked", "user": me, "until_date": 0},
        }
        return self.push_update({"my_chat_member": change})

    def command(self, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """A command message (`text` starts with "/"; may be "/cmd@botname args")."""
        assert text.startswith("/"), text
        return self.message(chat_id, text, **kwargs)

    def callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str = "private",
        queue: bool = True,
    ) -> dict[str, Any]:
        """A button press on the bot's message `message_id` with `data`."""
        uid = user_id if user_id is not None else abs(chat_id)
        query = {
            "id": f"cq{next(self._ids)}",
            "from": self._user(uid, language_code, "Sara"),
            "message": self.messages[(chat_id, message_id)],
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        update = {"callback_query": query}
        return self.push_update(update) if queue else update

    # --- HTTP ----------------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        files: dict[str, bytes] = {}
        params: dict[str, Any] = {}
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json() if request.can_read_body else {}
            return dict(body or {}), files
        if request.method == "GET":
            raw: dict[str, Any] = dict(request.query)
        else:
            post = await request.post()
            raw = {}
            for key, value in post.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    raw[key] = value
        for key, value in raw.items():
            params[key] = _decode(key, value)
        return params, files

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params, files = await self._params(request)
        self.calls.append((method, params))
        if self.latency:
            await asyncio.sleep(self.latency)
        handler = getattr(self, f"_m_{method}", None)
        if method == "sendMessageDraft" and self.drafts_refused is not None:
            code, description = self.drafts_refused
            self.errors.append((method, code, description))
            self._changed.set()
            return _error(code, description)
        if handler is None:
            self.unknown.append(method)
            return _error(404, "Not Found")
        moved_to = self._upgraded_to(method, params)
        if moved_to is not None:
            description = "Bad Request: group chat was upgraded to a supergroup chat"
            self.errors.append((method, 400, description))
            self._changed.set()
            return _error(400, description, migrate_to_chat_id=moved_to)
        failure = self._take_failure(method, params) or self._flood(method, params)
        if failure is not None:
            if method == "sendMessageDraft" and failure.code == 429:
                self.draft_429s.append((int(params.get("chat_id", 0) or 0), self.clock()))
            self.errors.append((method, failure.code, failure.description))
            self._changed.set()
            return _error(failure.code, failure.description, failure.retry_after)
        try:
            result = await handler(params, files)
        except _ApiError as err:
            self.errors.append((method, err.code, err.description))
            return _error(err.code, err.description)
        finally:
            self._changed.set()
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        if path in self.file_handlers:
            self.downloads.append(path)
            return await self.file_handlers[path](request)
        for file_path, data in self.files.values():
            if file_path == path:
                self.downloads.append(path)
                return web.Response(body=data)
        return web.Response(status=404)

    def document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        file_size: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Queue a message carrying a document (stored for getFile and the download
        path); `file_size` overrides the size the message reports."""
        file_id = f"doc-{len(self.files) + 1}"
        self.files[file_id] = (f"documents/file_{len(self.files) + 1}", data)
        update = self.message(chat_id, None, queue=False, **kwargs)
        msg = update["message"]
        msg["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": file_name,
            "file_size": len(data) if file_size is None else file_size,
            **({"mime_type": mime_type} if mime_type else {}),
        }
        if caption is not None:
            msg["caption"] = caption
            entities = _entities(caption, self.username)
            if entities:
                msg["caption_entities"] = entities
        return self.push_update(update)

    def photo(
        self,
        chat_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        width: int = 1280,
        height: int = 960,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Queue a photo message: Telegram's sizes (a thumbnail, then `data` as the
        largest, `width` x `height`), each stored for getFile and the download path."""
        big_id = f"photo-{len(self.files) + 1}"
        self.files[big_id] = (f"photos/file_{len(self.files) + 1}.jpg", data)
        thumb_id = f"photo-{len(self.files) + 1}"
        self.files[thumb_id] = (f"photos/file_{len(self.files) + 1}.jpg", b"\xff\xd8\xff thumb")
        update = self.message(chat_id, None, queue=False, **kwargs)
        msg = update["message"]
        msg["photo"] = [
            {
                "file_id": thumb_id,
                "file_unique_id": f"u-{thumb_id}",
                "width": 90,
                "height": 68,
                "file_size": 12,
            },
            {
                "file_id": big_id,
                "file_unique_id": f"u-{big_id}",
                "width": width,
                "height": height,
                "file_size": len(data),
            },
        ]
        if caption is not None:
            msg["caption"] = caption
            entities = _entities(caption, self.username)
            if entities:
                msg["caption_entities"] = entities
        return self.push_update(update)

    def media(self, chat_id: int, kind: str, **kwargs: Any) -> dict[str, Any]:
        """Queue a message the bot cannot read: `kind` is "video", "voice", "audio",
        "sticker", "animation", "video_note", "location", "contact" or "poll"."""
        file = {"file_id": f"{kind}-1", "file_unique_id": f"u-{kind}"}
        bodies: dict[str, dict[str, Any]] = {
            "video": {**file, "width": 640, "height": 360, "duration": 5},
            "animation": {**file, "width": 320, "height": 240, "duration": 2},
            "video_note": {**file, "length": 240, "duration": 5},
            "voice": {**file, "duration": 3},
            "audio": {**file, "duration": 180},
            "sticker": {
                **file,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
            "location": {"latitude": 24.7, "longitude": 46.7},
            "contact": {"phone_number": "+966500000000", "first_name": "Ali"},
            "poll": {
                "id": "p1",
                "question": "?",
                "options": [{"persistent_id": "o1", "text": "a", "voter_count": 0}],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            },
        }
        update = self.message(chat_id, None, queue=False, **kwargs)
        update["message"][kind] = bodies[kind]
        if kind == "animation":  # Telegram sends a GIF as a document too
            update["message"]["document"] = {**file, "file_name": "a.mp4", "mime_type": "video/mp4"}
        return self.push_update(update)

    def edited(self, chat_id: int, message_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Queue an `edited_message` update: message `message_id` now says `text` (sent
        when it was, edited now; a reply to it sees the new text)."""
        update = self.message(chat_id, text, queue=False, **kwargs)
        scratch = update["message"]
        self.messages.pop((chat_id, scratch["message_id"]), None)
        original = self.messages.get((chat_id, message_id), {})
        msg = {
            **scratch,
            "message_id": message_id,
            "date": original.get("date", scratch["date"]),
            "edit_date": int(time.time()),
        }
        self.messages[(chat_id, message_id)] = msg
        return self.push_update({"edited_message": msg})

    def edited_caption(self, chat_id: int, message_id: int, caption: str) -> dict[str, Any]:
        """Queue an `edited_message` update: the document or photo `message_id` now has
        the caption `caption` (the file is the same)."""
        msg = dict(self.messages[(chat_id, message_id)])
        msg["caption"] = caption
        msg.pop("caption_entities", None)
        entities = _entities(caption, self.username)
        if entities:
            msg["caption_entities"] = entities
        msg["edit_date"] = int(time.time())
        self.messages[(chat_id, message_id)] = msg
        return self.push_update({"edited_message": msg})

    def reaction_edit(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """Queue the `edited_message` Telegram sends when nothing visible changed (the
        first reaction on a message, tdlib/telegram-bot-api#388 and #773): the message
        as it stands, its `edit_date` unchanged."""
        return self.push_update({"edited_message": dict(self.messages[(chat_id, message_id)])})

    def live_location(
        self, chat_id: int, message_id: int, latitude: float, longitude: float
    ) -> dict[str, Any]:
        """Queue the `edited_message` a live location sends each time it moves: the
        location message `message_id` with new coordinates, and no text."""
        msg = dict(self.messages[(chat_id, message_id)])
        msg["location"] = {"latitude": latitude, "longitude": longitude, "live_period": 900}
        msg["edit_date"] = int(time.time())
        self.messages[(chat_id, message_id)] = msg
        return self.push_update({"edited_message": msg})

    async def _m_getFile(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        file_id = str(p.get("file_id", ""))
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        if len(data) > 20 * 1024 * 1024:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(data),
            "file_path": path,
        }

    def _upgraded_to(self, method: str, params: dict[str, Any]) -> int | None:
        if method not in SENDING:
            return None
        try:
            return self.upgraded.get(int(params.get("chat_id", 0)))
        except (TypeError, ValueError):
            return None

    def _take_failure(self, method: str, params: dict[str, Any]) -> Failure | None:
        try:
            chat_id = int(params.get("chat_id", 0))
        except (TypeError, ValueError):
            return None
        for failure in self._failures.get(chat_id, []):
            applies = (failure.method == method) if failure.method else method in SENDING
            if applies and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    def _flood(self, method: str, params: dict[str, Any]) -> Failure | None:
        """Telegram's per-chat flood control (`chat_rate`; drafts: `draft_rate`), as
        token buckets."""
        if method == "sendMessageDraft":
            rate, burst, buckets = self.draft_rate, self.draft_burst, self._draft_buckets
            wait = self.draft_retry_after
        else:
            rate, burst, buckets, wait = self.chat_rate, self.chat_burst, self._buckets, 1
        if not rate or (method not in SENDING and method != "sendMessageDraft"):
            return None
        chat_id = int(params.get("chat_id", 0) or 0)
        now = self.clock()
        tokens, at = buckets.get(chat_id, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if tokens < 1:
            buckets[chat_id] = (tokens, now)
            return Failure(429, f"Too Many Requests: retry after {wait}", wait, 1, None)
        buckets[chat_id] = (tokens - 1, now)
        return None

    def _draft_gone(self, chat_id: int, *, replaced: bool) -> None:
        """Record the chat's draft as vanished when it was older than `draft_ttl` at this
        update; a message (`replaced`) removes it, as Telegram's apps do."""
        last = self._draft_shown.pop(chat_id, None) if replaced else self._draft_shown.get(chat_id)
        if last is not None and self.draft_ttl is not None and self.clock() - last > self.draft_ttl:
            self.vanished.append((chat_id, last))

    def drafts_to(self, chat_id: int) -> list[Draft]:
        return [d for d in self.drafts if d.chat_id == chat_id]

    def shown_to(self, chat_id: int) -> bool:
        """True once the bot showed the chat anything: a draft or a message."""
        return any(d.chat_id == chat_id for d in self.drafts) or any(
            s.chat_id == chat_id for s in self.sent
        )

    # --- methods ---------------------------------------------------------------------
    def _me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Digest",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getMe(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return self._me()

    async def _m_logOut(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    async def _m_close(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    async def _m_setMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        key = f"{scope.get('type', 'default')}:{p.get('language_code') or ''}"
        self.commands[key] = list(p.get("commands") or [])
        return True

    async def _m_getMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        return self.commands.get(
            f"{scope.get('type', 'default')}:{p.get('language_code') or ''}", []
        )

    async def _m_deleteMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    async def _m_setWebhook(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.webhook = {"url": p.get("url", ""), "secret_token": p.get("secret_token")}
        return True

    async def _m_deleteWebhook(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.webhook = {}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _m_getUpdates(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        offset = int(p.get("offset") or 0)
        limit = int(p.get("limit") or 100)
        timeout = float(p.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                break
        return self._updates[:limit]

    def _member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        status = self.members.get(chat_id, {}).get(user_id, "member")
        member: dict[str, Any] = {"status": status, "user": self._user(user_id, None, "U")}
        if status == "administrator":
            member |= {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        elif status == "creator":
            member["is_anonymous"] = False
        return member

    async def _m_getChatMember(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return self._member(int(p["chat_id"]), int(p["user_id"]))

    async def _m_getChatAdministrators(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat_id = int(p["chat_id"])
        if chat_id not in self.members:
            raise _ApiError(400, "Bad Request: chat not found")
        return [
            self._member(chat_id, uid)
            for uid, status in self.members[chat_id].items()
            if status in ("creator", "administrator")
        ]

    async def _m_getChat(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat = self.chats.get(str(p["chat_id"]).lower())
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        return chat | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _m_answerInlineQuery(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        for result in p.get("results") or []:
            content = result.get("input_message_content") or {}
            self._check_text(
                str(content.get("message_text", "")), content.get("parse_mode"), MAX_TEXT
            )
        self.inline_answers.append(p)
        return True

    async def _m_sendChatAction(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.actions.append((int(p["chat_id"]), str(p.get("action"))))
        return True

    async def _m_answerCallbackQuery(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.answered_callbacks.append(p)
        return True

    async def _m_deleteMessage(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        key = (int(p["chat_id"]), int(p["message_id"]))
        if key not in self.messages:
            raise _ApiError(400, "Bad Request: message to delete not found")
        del self.messages[key]
        self.deleted.append(key)
        return True

    async def _m_sendMessageDraft(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat_id = int(p["chat_id"])
        if self._type_of(chat_id) != "private":
            raise _ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        draft_id = int(p.get("draft_id") or 0)
        if not draft_id:
            raise _ApiError(400, "Bad Request: DRAFT_ID_INVALID")
        text = str(p.get("text") or "")
        empty_ok = not self.draft_text_required
        plain = self._check_text(text, p.get("parse_mode"), MAX_TEXT, allow_empty=empty_ok)
        self._draft_gone(chat_id, replaced=False)
        now = self.clock()
        self._draft_shown[chat_id] = now
        self.drafts.append(Draft(chat_id, draft_id, text, plain, time.perf_counter(), now))
        return True

    async def _m_sendMessage(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat_id = int(p["chat_id"])
        text = str(p.get("text", ""))
        plain = self._check_text(text, p.get("parse_mode"), MAX_TEXT)
        markup = self._check_markup(p.get("reply_markup"))
        self._draft_gone(chat_id, replaced=True)
        return self._record("sendMessage", chat_id, next(self._ids), text, plain, p, markup)

    async def _m_sendPhoto(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat_id = int(p["chat_id"])
        caption = str(p.get("caption", ""))
        plain = self._check_text(caption, p.get("parse_mode"), MAX_CAPTION, allow_empty=True)
        markup = self._check_markup(p.get("reply_markup"))
        photo = f.get("photo") or (str(p.get("photo", "")).encode() or None)
        return self._record(
            "sendPhoto", chat_id, next(self._ids), caption, plain, p, markup, photo=photo
        )

    async def _m_editMessageText(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat_id, mid = int(p["chat_id"]), int(p["message_id"])
        old = self.messages.get((chat_id, mid))
        if old is None or old.get("from", {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: message to edit not found")
        text = str(p.get("text", ""))
        plain = self._check_text(text, p.get("parse_mode"), MAX_TEXT)
        markup = self._check_markup(p.get("reply_markup"))
        if plain == old.get("text") and markup == old.get("reply_markup"):
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        return self._record("editMessageText", chat_id, mid, text, plain, p, markup)

    async def _m_editMessageReplyMarkup(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        chat_id, mid = int(p["chat_id"]), int(p["message_id"])
        old = self.messages.get((chat_id, mid))
        if old is None or old.get("from", {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = self._check_markup(p.get("reply_markup"))
        msg = dict(old)
        if markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        self.messages[(chat_id, mid)] = msg
        self.sent.append(
            Sent(
                "editMessageReplyMarkup",
                chat_id,
                mid,
                text="",
                plain=str(old.get("text", "")),
                reply_markup=markup,
                at=time.perf_counter(),
            )
        )
        return msg

    # --- helpers -----------------------------------------------------------------------
    def _check_text(self, text: str, parse_mode: Any, limit: int, allow_empty: bool = False) -> str:
        if parse_mode not in (None, "", "HTML"):
            raise _ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
        if parse_mode == "HTML":
            try:
                plain = parse_html(text)
            except ParseError as err:
                raise _ApiError(400, f"Bad Request: can't parse entities: {err}") from None
        else:
            plain = text
        plain = plain.strip()
        if not plain and not allow_empty:
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > limit:
            what = "message" if limit == MAX_TEXT else "message caption"
            raise _ApiError(400, f"Bad Request: {what} is too long")
        return plain

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if not markup:
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if data is None and not button.get("url"):
                    raise _ApiError(400, "Bad Request: can't parse inline keyboard button")
                if not button.get("text"):
                    raise _ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        return markup

    def _record(
        self,
        method: str,
        chat_id: int,
        mid: int,
        text: str,
        plain: str,
        p: dict[str, Any],
        markup: dict[str, Any] | None,
        photo: bytes | None = None,
    ) -> dict[str, Any]:
        preview = p.get("link_preview_options") or {}
        disable = bool(preview.get("is_disabled")) or bool(p.get("disable_web_page_preview"))
        reply_params = p.get("reply_parameters") or {}
        reply_to = reply_params.get("message_id") or p.get("reply_to_message_id")
        old = self.messages.get((chat_id, mid))
        if old and not reply_to and old.get("reply_to_message"):  # an edit keeps the reply
            reply_to = old["reply_to_message"]["message_id"]
        msg: dict[str, Any] = {
            "message_id": mid,
            "date": int(time.time()),
            "chat": old["chat"] if old else self._chat(chat_id, self._type_of(chat_id)),
            "from": self._me(),
        }
        if old:
            msg["edit_date"] = int(time.time())
        if method == "sendPhoto":
            msg["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
            if plain:
                msg["caption"] = plain
        else:
            msg["text"] = plain
        if markup:
            msg["reply_markup"] = markup
        if reply_to and (chat_id, int(reply_to)) in self.messages:
            msg["reply_to_message"] = self.messages[(chat_id, int(reply_to))]
        self.messages[(chat_id, mid)] = msg
        self.sent.append(
            Sent(
                method=method,
                chat_id=chat_id,
                message_id=mid,
                text=text,
                parse_mode=p.get("parse_mode") or None,
                plain=plain,
                reply_markup=markup,
                disable_preview=disable,
                reply_to=int(reply_to) if reply_to else None,
                photo=photo,
                at=time.perf_counter(),
            )
        )
        return msg


def _most_in_window(times: list[float], window: float = 60.0) -> int:
    """The most of the sorted `times` inside any `window` seconds."""
    best = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _error(
    code: int,
    description: str,
    retry_after: int | None = None,
    *,
    migrate_to_chat_id: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    if migrate_to_chat_id is not None:
        body["parameters"] = {"migrate_to_chat_id": migrate_to_chat_id}
    return web.json_response(body, status=code)


_JSON_KEYS = {
    "reply_markup",
    "commands",
    "scope",
    "link_preview_options",
    "reply_parameters",
    "allowed_updates",
    "results",
    "button",
    "entities",
    "caption_entities",
}
_INT_KEYS = {
    "chat_id",
    "user_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "cache_time",
    "max_connections",
}
_BOOL_KEYS = {
    "disable_web_page_preview",
    "disable_notification",
    "drop_pending_updates",
    "show_alert",
    "protect_content",
    "is_personal",
}


def _decode(key: str, value: Any) -> Any:
    """Undo PTB's form encoding: non-string parameters arrive JSON-encoded."""
    if not isinstance(value, str):
        return value
    if key in _JSON_KEYS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in _INT_KEYS:
        try:
            return int(value)
        except ValueError:
            return value
    if key in _BOOL_KEYS:
        return value.lower() == "true"
    return value


def _entities(text: str, username: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        out.append({"type": "bot_command", "offset": 0, "length": utf16_len(text[:length])})
    for m in re.finditer(rf"@{re.escape(username)}\b", text):
        if m.start() == 0 or not text[: m.start()].startswith("/") or " " in text[: m.start()]:
            out.append(
                {
                    "type": "mention",
                    "offset": utf16_len(text[: m.start()]),
                    "length": utf16_len(m.group(0)),
                }
            )
    return out
