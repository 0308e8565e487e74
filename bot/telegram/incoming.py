"""Telegram Update -> `Incoming`: the one place that reads a Telegram message's fields
(text, entities, reply, chat type, sender chat, callback) for the chat layer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from telegram import Message, MessageEntity, MessageOriginChannel, Update

from bot.ingest.inputs import find_url
from bot.messages import Incoming

_ARABIC = re.compile("[\u0600-\u06ff]")

# Telegram's shared sender accounts: every anonymous group admin writes as
# GroupAnonymousBot, everyone posting as a channel as Channel_Bot, and a linked
# channel's posts are forwarded by "Telegram". Their messages carry the chat they speak
# for in `sender_chat`; that chat is the sender (a pseudo-user per chat), or all of
# them would share one rate limit, token budget and set of preferences.
SHARED_SENDERS = frozenset({1087968824, 136817688, 777000})


def to_incoming(update: Update, bot_id: int, bot_username: str) -> Incoming | None:
    """Return the transport-neutral view of `update`, or None when it is not for us
    (a command addressed to another bot, a channel post, a service message)."""
    query = update.callback_query
    if query is not None:
        message = query.message
        if message is None:
            return None
        return Incoming(
            user_id=query.from_user.id,
            chat_id=message.chat.id,
            chat_type=_chat_type(message.chat.type),
            language_code=query.from_user.language_code,
            callback=query.data or "",
            callback_message_id=message.message_id,
            first_name=query.from_user.first_name,
        )
    # an edited message is read as what it says now (the router answers it once per
    # content); edited channel posts are not asked for (webhook.ALLOWED_UPDATES)
    msg = update.message or update.edited_message or update.channel_post
    if msg is None or (msg.from_user is None and update.channel_post is None):
        return None
    entities = msg.entities or msg.caption_entities or ()
    text = with_hidden_links(msg.text or msg.caption or "", entities)
    incoming = Incoming(
        user_id=_sender_id(msg),
        chat_id=msg.chat.id,
        text=text,
        chat_type=_chat_type(msg.chat.type),
        language_code=msg.from_user.language_code if msg.from_user else _chat_language(msg),
        message_id=msg.message_id,
        forwarded=msg.forward_origin is not None,
        first_name=msg.from_user.first_name if msg.from_user else None,
        sender_chat_id=msg.sender_chat.id if msg.sender_chat else None,
        edited_at=edit_time(update),
    )
    if entities and entities[0].type == MessageEntity.BOT_COMMAND and entities[0].offset == 0:
        token = msg.parse_entity(entities[0]) if msg.text else text[: entities[0].length]
        name, _, target = token[1:].partition("@")
        if target and target.lower() != bot_username.lower():
            return None  # "/cmd@otherbot"
        incoming.command = name.lower()
        incoming.args = text[len(token) :].strip()
    mention = f"@{bot_username}".lower()
    incoming.mentioned = any(
        e.type == MessageEntity.MENTION and _entity_text(msg, e).lower() == mention
        for e in entities
    )
    reply = msg.reply_to_message
    if reply is not None:
        incoming.reply_to_message_id = reply.message_id
        reply_entities = reply.entities or reply.caption_entities or ()
        incoming.reply_to_text = (
            with_hidden_links(reply.text or reply.caption or "", reply_entities) or None
        )
        incoming.reply_to_bot = reply.from_user is not None and reply.from_user.id == bot_id
        origin = reply.forward_origin
        if reply.is_automatic_forward and isinstance(origin, MessageOriginChannel):
            incoming.reply_to_post = (origin.chat.id, origin.message_id)
    if not text and incoming.command is None:
        if incoming.edited_at is not None:
            return None  # a live location moving, a sticker swapped: nothing new to read
        incoming.unsupported = unsupported_kind(msg)
        return incoming if incoming.unsupported else None
    return incoming


def edit_time(update: Update) -> int | None:
    """When an `edited_message` was edited (Unix seconds; its send time when Telegram
    gives no edit date), else None."""
    msg = update.edited_message
    if msg is None:
        return None
    when = msg.edit_date or msg.date
    return int(when.timestamp())


def _sender_id(msg: Message) -> int:
    """Who sent `msg`, for limits and preferences: the user; for a channel post (no
    user) the channel; for a shared sender account (SHARED_SENDERS) the chat it speaks
    for (the group itself for an anonymous admin, the channel posting in a group)."""
    if msg.from_user is None:
        return msg.chat.id
    if msg.from_user.id in SHARED_SENDERS and msg.sender_chat is not None:
        return msg.sender_chat.id
    return msg.from_user.id


# What a message the bot cannot read carries, in the order Telegram fills the fields
# (an animation also has `document`, a venue also `location`). Photos and documents are
# read (bot/telegram/documents.py); service messages (joins, pins, ...) are not answered.
_UNSUPPORTED = (
    "animation",
    "video",
    "video_note",
    "voice",
    "audio",
    "sticker",
    "location",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "venue",
)


def unsupported_kind(msg: Message) -> str | None:
    """The kind of a text-less message the bot cannot read ("video", "voice", ...;
    "other" for a dice, game, story or venue), or None."""
    if msg.photo or (msg.document is not None and msg.animation is None):
        return None
    for name in _UNSUPPORTED:
        if getattr(msg, name, None):
            return name if name in _ANSWERED else "other"
    return None


_ANSWERED = frozenset(_UNSUPPORTED[:9])


def with_hidden_links(text: str, entities: Sequence[MessageEntity]) -> str:
    """`text` with the links hidden behind its words (`text_link` entities: a channel's
    "Read more" linked to the article) added on a line of their own, when it shows no
    link itself: the chat layer reads links from the text."""
    if not text or find_url(text):
        return text
    hidden = [e.url for e in entities if e.type == MessageEntity.TEXT_LINK and e.url]
    return "\n".join([text, *dict.fromkeys(hidden)]) if hidden else text


def _chat_type(telegram_type: str) -> Literal["private", "group", "channel"]:
    if telegram_type == "private":
        return "private"
    return "channel" if telegram_type == "channel" else "group"  # group or supergroup


def _entity_text(msg: Message, entity: MessageEntity) -> str:
    return msg.parse_entity(entity) if msg.text else msg.parse_caption_entity(entity)


# --- Outbox ------------------------------------------------------------------------


def _chat_language(msg: Message) -> str | None:
    """A channel post has no user and so no `language_code`: until the channel's admins
    set `/language`, an Arabic channel title (or post) means an Arabic channel."""
    sample = f"{msg.chat.title or ''} {msg.text or msg.caption or ''}"
    return "ar" if _ARABIC.search(sample) else None
