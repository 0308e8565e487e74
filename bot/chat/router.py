"""The conversation: which handler answers an `Incoming`, and errors translated in one place.

Transport-neutral (no `telegram` import): the Telegram layer and the console build an
`Incoming`, give it to `Conversation.handle` with their `Outbox`, and render what comes
back. Each feature module has a `register(conversation)` function that adds its
commands and buttons to this instance, and `bot.app.build_conversation` calls them:

    def register(conv: Conversation) -> None:
        conv.command("subscribe", subscribe, description="commands.subscribe")
        conv.callback("b", on_button)    # callback data "b:..." (at most 64 bytes)

    async def subscribe(conv: Conversation, msg: Incoming, out: Outbox) -> None:
        await conv.say(msg, out, "briefing.subscribed")

`description` is a catalog key: the command is then published with setMyCommands.
Plain text that is neither a command nor a button goes to the `text` handler
(bot/chat/digests.py: an article, else a follow-up question).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.chat.edits import first_time
from bot.domain import Lang
from bot.errors import DigestBotError, StoreUnavailable
from bot.i18n import error_text, t
from bot.limits import allow_command
from bot.messages import ChatMembers, Incoming, Outbox, Reply
from bot.render import escape, rtl_text
from bot.services import Services
from bot.store.redis import StoreError

log = logging.getLogger(__name__)

Handler = Callable[["Conversation", Incoming, Outbox], Awaitable[None]]


def plain_html(lang: str, text: str) -> str:
    """`text` (plain, e.g. a catalog message) as safe HTML for a reply: escaped, and for
    Arabic with direction marks on every line (bot.render.rtl_text), so a line that
    starts with a Latin name or a /command still reads right to left."""
    return escape(rtl_text(text, lang) if lang == "ar" else text)


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

    def __init__(self, services: Services) -> None:
        self.services = services
        self.commands: dict[str, Command] = {}
        self.callbacks: dict[str, Handler] = {}
        self.text: Handler = _hint
        self.document: Handler | None = None
        # who administers a group (getChatMember); the Telegram layer sets it
        self.members: ChatMembers | None = None

    # --- registration (by each feature's `register`) -----------------------------------
    def command(
        self, name: str, handler: Handler, *, description: str | None = None, admin: bool = False
    ) -> None:
        """Answer `/name` (case-insensitive, no slash) with `handler`. Raises ValueError
        when another feature already registered that command."""
        key = name.lower()
        if key in self.commands:
            raise ValueError(f"command /{key} is registered twice")
        self.commands[key] = Command(key, handler, description, admin)

    def callback(self, prefix: str, handler: Handler) -> None:
        """Answer button data `prefix:...` with `handler`. Raises ValueError when the
        prefix is taken."""
        if prefix in self.callbacks:
            raise ValueError(f"callback prefix {prefix!r} is registered twice")
        self.callbacks[prefix] = handler

    def on_text(self, handler: Handler) -> None:
        """Answer plain text (not a command, not a button) with `handler`."""
        self.text = handler

    def on_document(self, handler: Handler) -> None:
        """Answer a message that carries a file (`Incoming.document`) with `handler`."""
        self.document = handler

    def published_commands(self) -> list[Command]:
        """The commands to publish in Telegram's menu, in registration order."""
        return [c for c in self.commands.values() if c.description and not c.admin]

    # --- helpers for handlers ------------------------------------------------------
    async def lang(self, msg: Incoming) -> Lang:
        """The user's interface language (stored preference, else Telegram's); in a
        group or channel, the chat's own /language setting when it has one."""
        users = self.services.users
        if msg.chat_type != "private" and msg.chat_id != msg.user_id:
            chat = await users.prefs(msg.chat_id)
            if chat.lang_set:
                return chat.lang
        return await users.lang(msg.user_id, msg.language_code)

    async def say(self, msg: Incoming, out: Outbox, key: str, **params: object) -> list[int]:
        """Send the catalog message `key` in the user's language (escaped, as info)."""
        lang = await self.lang(msg)
        html = plain_html(lang, t(lang, key, **params))
        return await out.send(Reply(html=html, edit_placeholder=True))

    async def button_notice(self, msg: Incoming, out: Outbox, key: str, **params: object) -> None:
        """Answer a button press that does nothing (stale or unknown data, a story
        gone): in a private chat with the catalog message `key`, as before; in a group or
        a channel only with a toast (answerCallbackQuery) for the presser, never a
        message: any reader can send a button press with any data."""
        if msg.chat_type == "private":
            await self.say(msg, out, key, **params)
            return
        await self.toast(msg, out, key, **params)

    async def toast(self, msg: Incoming, out: Outbox, key: str, **params: object) -> None:
        """Answer a button press with the catalog message `key` in the presser's own
        language (not the group's or channel's: only they see it)."""
        lang = await self.services.users.lang(msg.user_id, msg.language_code)
        await out.toast(t(lang, key, **params))

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.services.settings.admin_ids

    # --- routing -------------------------------------------------------------------
    async def handle(self, msg: Incoming, out: Outbox) -> None:
        """Answer one user action. Typed errors become translated messages here; any
        other exception propagates to the transport's error handler."""
        try:
            if await first_time(self.services.handled, msg):  # an edit: once per content
                await self._route(msg, out)
        except DigestBotError as err:
            await self.send_error(msg, out, err)
        except StoreError as exc:  # Redis went away mid-request: say so, in their language
            await self.send_error(msg, out, StoreUnavailable(f"Redis failed: {exc}"))

    async def send_error(self, msg: Incoming, out: Outbox, err: DigestBotError) -> None:
        """Tell the user what went wrong, in their language, without internal details."""
        lang = await self._lang_or_guess(msg)
        log.info("user error %s for chat %s: %s", err.key, msg.chat_id, err.detail)
        html = plain_html(lang, error_text(lang, err))
        await out.send(Reply(html=html, kind="error", edit_placeholder=True))

    async def internal_error_text(self, msg: Incoming | None) -> str:
        """The "something went wrong" text in the user's language (for error handlers)."""
        lang: str = "en"
        if msg is not None:
            lang = await self._lang_or_guess(msg)
        return t(lang, "error.internal")

    async def _lang_or_guess(self, msg: Incoming) -> str:
        """The user's language; when Redis cannot tell, their Telegram language."""
        try:
            return await self.lang(msg)
        except Exception:  # storage away: an error message must still go out
            return "ar" if (msg.language_code or "").startswith("ar") else "en"

    async def _route(self, msg: Incoming, out: Outbox) -> None:
        if msg.callback is not None:
            prefix = msg.callback.split(":", 1)[0]
            handler = self.callbacks.get(prefix)
            if handler is None:
                await self.button_notice(msg, out, "chat.expired")
                return
            await handler(self, msg, out)
            return
        if msg.unsupported is not None:  # a video, a voice message, a sticker, ...
            if msg.chat_type == "private" or msg.mentioned or msg.reply_to_bot:
                await self.say(msg, out, f"unsupported.{msg.unsupported}")
            return
        if msg.document is not None and self.document is not None:
            asked = msg.command == "summarize" or msg.mentioned or msg.reply_to_bot
            if msg.chat_type == "private" or asked:  # in a group: pictures, else a pointer
                await self.document(self, msg, out)  # the caption is its instruction
                return
        if msg.command is not None:
            cmd = self.commands.get(msg.command.lower())
            if cmd is None and msg.chat_type != "private":
                return  # maybe another bot's: not ours to answer
            if not await self._command_allowed(msg, out):
                return
            if cmd is None:
                await self.say(msg, out, "chat.unknown_command")
                return
            if cmd.admin and not self.is_admin(msg.user_id):
                await self.say(msg, out, "stats.not_available")
                return
            await cmd.handler(self, msg, out)
            return
        if msg.chat_type == "channel":
            return  # in a channel: only commands
        if msg.chat_type != "private" and not (
            msg.reply_to_bot or msg.mentioned or msg.reply_to_post
        ):
            return  # in groups: only commands, mentions, replies to the bot, comments
        await self.text(self, msg, out)

    async def _command_allowed(self, msg: Incoming, out: Outbox) -> bool:
        """Count the command against the sender's COMMANDS_PER_MINUTE (bot.limits);
        over it, the first extra command gets one short notice, later ones nothing (a
        reply per command is what flooded a group's pace)."""
        verdict = await allow_command(self.services.limits, msg.user_id)
        if not verdict.allowed and verdict.notice:
            await self.say(msg, out, "chat.commands_slow_down", seconds=verdict.seconds)
        return verdict.allowed


async def _hint(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Plain text when no feature handles it: say what the bot understands."""
    await conv.say(msg, out, "chat.hint")
