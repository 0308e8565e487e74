"""Transport-neutral messages: what the conversation receives and what it answers.

The Telegram layer turns an `Update` into an `Incoming` and each `Reply` into a
Telegram message; the console does the same with a terminal. Nothing here imports
`telegram` or the chat layer: core services (briefings' buttons, the delivery sender)
use these types too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class Button:
    """An inline button: either `callback` data (at most 64 bytes) or a `url`."""

    text: str
    callback: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Document:
    """A file the user sent: what the transport says about it, and how to download it
    (`download` returns the bytes; the caller checks `size` against its limit first)."""

    file_id: str
    name: str | None
    mime_type: str | None
    size: int | None
    download: Callable[[], Awaitable[bytes]]
    photo: bool = False  # a Telegram photo (read by OCR), not a file
    unique_id: str | None = None  # the same file's id in every message (Telegram's file_unique_id)


@dataclass
class Incoming:
    """One user action: a message, a command, or a button press (`callback`)."""

    user_id: int
    chat_id: int
    text: str = ""
    chat_type: Literal["private", "group", "channel"] = "private"
    language_code: str | None = None
    command: str | None = None  # without the slash and without @botname
    args: str = ""
    message_id: int | None = None
    reply_to_message_id: int | None = None
    reply_to_text: str | None = None
    reply_to_bot: bool = False
    mentioned: bool = False
    forwarded: bool = False
    callback: str | None = None  # callback data of a pressed button
    callback_message_id: int | None = None
    first_name: str | None = None
    document: Document | None = None  # a file sent with the message (caption in `text`)
    # the chat a message was sent on behalf of: an anonymous group admin (the group
    # itself), a linked channel, or the channel of a channel post (which has no user)
    sender_chat_id: int | None = None
    # (channel id, post id) when the message replies to Telegram's copy of a channel
    # post in the channel's discussion group (a comment on that post)
    reply_to_post: tuple[int, int] | None = None
    # a message the bot cannot read ("video", "voice", "sticker", ...): the router
    # answers it in private chats with what the bot can do
    unsupported: str | None = None
    # an edited message: when it was edited (Unix seconds); the router answers what it
    # says now, once per distinct content (bot/chat/edits.py)
    edited_at: int | None = None


@dataclass
class Reply:
    """One outgoing message, already rendered as Telegram HTML.

    `edit_placeholder` asks the transport to edit the progress placeholder into this
    reply instead of sending a new message. `Outbox.send` returns the ids of the sent
    messages (the conversation binds digests and answers to their articles with them).
    """

    html: str
    buttons: list[list[Button]] = field(default_factory=list)
    disable_preview: bool = True
    edit_placeholder: bool = False
    photo: bytes | None = None
    article_id: str | None = None  # the article this message is about (for follow-ups)
    kind: Literal["digest", "answer", "info", "error", "briefing"] = "info"
    edit_message_id: int | None = None  # edit this earlier bot message instead of sending
    reply_to_message_id: int | None = None  # send as a reply to this message


class ChatMembers(Protocol):
    """Who administers a group or channel (the Telegram layer asks getChatMember /
    getChatAdministrators; the chat layer caches the answers)."""

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        """True when `user_id` is the creator or an administrator of `chat_id`."""
        ...

    async def channel_admins(self, channel: str) -> tuple[int, list[int]] | None:
        """The channel's id and its administrators' user ids, for `@name` or an id;
        None when the channel is unknown or the bot is not in it."""
        ...


class Outbox(Protocol):
    """Where a conversation's replies go; each transport (Telegram, console) implements it."""

    async def typing(self) -> None:
        """Show that the bot is working (Telegram's "typing" action)."""

    async def progress(self, text: str) -> None:
        """Show `text` in the single progress placeholder: posted once, then edited."""

    async def live(self, html: str, *, reply_to: int | None = None) -> None:
        """Show `html`, a reply still being written (whole, valid HTML each time), in the
        progress placeholder as it grows (posted first, as a reply to `reply_to`, when
        there is none); the transport throttles (or skips) it. The next `send` with
        `edit_placeholder` replaces it."""

    async def toast(self, text: str) -> None:
        """Answer the button press being handled with `text`, a short notice only the
        presser sees (Telegram: answerCallbackQuery; never a message in the chat)."""

    async def send(self, reply: Reply) -> list[int]:
        """Deliver `reply` (editing the placeholder when `reply.edit_placeholder`).

        Returns the ids of the messages that carry it (several when it was split; the
        console returns made-up ids). Raises nothing for delivery problems it handled.
        """
        ...
