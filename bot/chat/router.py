"""The conversation: which handler answers an `Incoming`, and errors translated in one place.

Transport-neutral (no `telegram` import): the Telegram layer and the console build an
`Incoming`, give it to `Conversation.handle` with their `Outbox`, and render what comes
back. Features add commands and buttons from their own modules:

    from bot.chat.router import Conversation

    @Conversation.command("subscribe", description="commands.subscribe")
    async def subscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
        await out.send(Reply(html=escape(conv.t(msg, "briefing.subscribed"))))

    @Conversation.callback("b")          # callback data "b:..." (at most 64 bytes)
    async def on_button(conv, msg, out): ...

and list their module in `PLUGINS`. `description` is a catalog key: the command is then
published with setMyCommands. Plain text that is neither a command nor an article goes
to the follow-up service when it is there (`services.followups`), else a hint
(bot/chat/digests.py decides what is an article).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from bot.chat.types import Incoming, Outbox, Reply
from bot.domain import Lang
from bot.errors import DigestBotError
from bot.i18n import error_text, t
from bot.render import escape, rtl_text

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

Handler = Callable[["Conversation", Incoming, Outbox], Awaitable[None]]


def plain_html(lang: str, text: str) -> str:
    """`text` (plain, e.g. a catalog message) as safe HTML for a reply: escaped, and for
    Arabic with direction marks on every line (bot.render.rtl_text), so a line that
    starts with a Latin name or a /command still reads right to left."""
    return escape(rtl_text(text, lang) if lang == "ar" else text)


# Modules that register commands/callbacks; a missing module is skipped.
PLUGINS: tuple[str, ...] = (
    "bot.chat.commands",
    "bot.chat.digests",
    "bot.chat.followups",
    "bot.briefings.chat",
)


@dataclass(frozen=True)
class Command:
    """A registered command. `description` is the catalog key shown in Telegram's menu
    (None: not published); `admin` commands are published to nobody."""

    name: str
    handler: Handler
    description: str | None = None
    admin: bool = False


class Conversation:
    """Routes user actions to handlers; one instance per process, shared by all chats."""

    commands: ClassVar[dict[str, Command]] = {}
    callbacks: ClassVar[dict[str, Handler]] = {}
    _plugins_loaded: ClassVar[bool] = False

    def __init__(self, services: Services) -> None:
        self.services = services
        self.load_plugins()

    # --- registration --------------------------------------------------------------
    @classmethod
    def command(
        cls, name: str, *, description: str | None = None, admin: bool = False
    ) -> Callable[[Handler], Handler]:
        """Decorator: register `handler` for `/name` (lower-case, no slash)."""

        def register(handler: Handler) -> Handler:
            cls.commands[name.lower()] = Command(name.lower(), handler, description, admin)
            return handler

        return register

    @classmethod
    def callback(cls, prefix: str) -> Callable[[Handler], Handler]:
        """Decorator: register `handler` for button data `prefix:...`."""

        def register(handler: Handler) -> Handler:
            cls.callbacks[prefix] = handler
            return handler

        return register

    @classmethod
    def load_plugins(cls) -> None:
        if cls._plugins_loaded:
            return
        for name in PLUGINS:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
        cls._plugins_loaded = True

    def published_commands(self) -> list[Command]:
        """The commands to publish in Telegram's menu, in registration order."""
        return [c for c in self.commands.values() if c.description and not c.admin]

    # --- helpers for handlers ------------------------------------------------------
    async def lang(self, msg: Incoming) -> Lang:
        """The user's interface language (stored preference, else Telegram's)."""
        return await self.services.users.lang(msg.user_id, msg.language_code)

    async def say(self, msg: Incoming, out: Outbox, key: str, **params: object) -> list[int]:
        """Send the catalog message `key` in the user's language (escaped, as info)."""
        lang = await self.lang(msg)
        html = plain_html(lang, t(lang, key, **params))
        return await out.send(Reply(html=html, edit_placeholder=True))

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.services.settings.admin_ids

    # --- routing -------------------------------------------------------------------
    async def handle(self, msg: Incoming, out: Outbox) -> None:
        """Answer one user action. Typed errors become translated messages here; any
        other exception propagates to the transport's error handler."""
        try:
            await self._route(msg, out)
        except DigestBotError as err:
            await self.send_error(msg, out, err)

    async def send_error(self, msg: Incoming, out: Outbox, err: DigestBotError) -> None:
        """Tell the user what went wrong, in their language, without internal details."""
        lang = await self.lang(msg)
        log.info("user error %s for chat %s: %s", err.key, msg.chat_id, err.detail)
        html = plain_html(lang, error_text(lang, err))
        await out.send(Reply(html=html, kind="error", edit_placeholder=True))

    async def internal_error_text(self, msg: Incoming | None) -> str:
        """The "something went wrong" text in the user's language (for error handlers)."""
        lang: str = "en"
        if msg is not None:
            with contextlib.suppress(Exception):
                lang = await self.lang(msg)
        return t(lang, "error.internal")

    async def _route(self, msg: Incoming, out: Outbox) -> None:
        if msg.callback is not None:
            prefix = msg.callback.split(":", 1)[0]
            handler = self.callbacks.get(prefix)
            if handler is None:
                await self.say(msg, out, "chat.expired")
                return
            await handler(self, msg, out)
            return
        if msg.command is not None:
            cmd = self.commands.get(msg.command.lower())
            if cmd is None:
                if msg.chat_type == "private":
                    await self.say(msg, out, "chat.unknown_command")
                return
            if cmd.admin and not self.is_admin(msg.user_id):
                await self.say(msg, out, "stats.not_available")
                return
            await cmd.handler(self, msg, out)
            return
        if msg.chat_type != "private" and not (msg.reply_to_bot or msg.mentioned):
            return  # in groups: only commands, mentions and replies to the bot
        from bot.chat.digests import on_text

        await on_text(self, msg, out)
