"""Groups and channels on the Telegram side: who administers a chat, and the bot's own
membership changes.

`TelegramMembers` answers the chat layer's `ChatMembers` questions with getChatMember
(is this user an admin of the group?) and getChat + getChatAdministrators (the
channel behind `@name`, and its admins, for `/channel`). `on_my_chat_member` handles
the bot being removed from (or kicked out of) a group or channel: the chat's
subscription and settings are deleted, as after a 403 on its briefing.
`on_migrated` follows a group upgraded to a supergroup (a new chat id, announced by
the `migrate_to_chat_id` / `migrate_from_chat_id` service messages): its settings and
its briefing move to the new id (the old one would be refused with "group chat was
upgraded to a supergroup chat").
"""

from __future__ import annotations

import logging
from typing import Any, cast

from telegram import Bot, ChatMember, ChatMemberUpdated, Message
from telegram.error import TelegramError

from bot.briefings import Briefings
from bot.privacy import forget_user
from bot.store.redis import Store

log = logging.getLogger(__name__)

ADMIN_STATUSES = (ChatMember.OWNER, ChatMember.ADMINISTRATOR)
GONE_STATUSES = (ChatMember.LEFT, ChatMember.BANNED)


class TelegramMembers:
    """`bot.messages.ChatMembers` over the Bot API."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self.bot.get_chat_member(chat_id, user_id)
        return member.status in ADMIN_STATUSES

    async def channel_admins(self, channel: str) -> tuple[int, list[int]] | None:
        try:
            chat = await self.bot.get_chat(channel)
            if chat.type != "channel":
                return None
            admins = [m.user.id for m in await self.bot.get_chat_administrators(chat.id)]
        except TelegramError as exc:
            log.info("channel %s not reachable: %s", channel, exc)
            return None
        if self.bot.id not in admins:
            return None  # the bot could not post there
        return chat.id, admins


async def on_my_chat_member(change: ChatMemberUpdated, store: Store) -> None:
    """The bot left or was removed from a group or channel: forget that chat."""
    chat = change.chat
    if chat.type == "private" or change.new_chat_member.status not in GONE_STATUSES:
        return
    log.info("removed from %s %s: unsubscribing it", chat.type, chat.id)
    await forget_user(store, chat.id, private_chat_id=chat.id)


def migration(message: Message | None) -> tuple[int, int] | None:
    """(old id, new id) when `message` announces a group's upgrade to a supergroup."""
    if message is None:
        return None
    if message.migrate_to_chat_id:
        return message.chat.id, message.migrate_to_chat_id
    if message.migrate_from_chat_id:
        return message.migrate_from_chat_id, message.chat.id
    return None


async def on_migrated(old: int, new: int, store: Store, briefings: Briefings) -> None:
    """Group `old` became supergroup `new`: move its settings and subscription (once:
    the second of the two service messages finds nothing left to move)."""
    key_old, key_new = store.keys.user(old), store.keys.user(new)
    prefs = await store.redis.hgetall(key_old)
    sub = await briefings.subscription(old)
    if not prefs and sub is None:
        return
    log.info("group %s became supergroup %s: moving its settings", old, new)
    if prefs:
        await store.redis.hset(key_new, mapping=cast(Any, prefs))
    if sub is not None:
        await briefings.move_subscription(old, new)
    await store.redis.delete(key_old)
