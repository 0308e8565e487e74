"""Groups and channels on the Telegram side: who administers a chat, and the bot's own
membership changes.

`TelegramMembers` answers the chat layer's `ChatMembers` questions with getChatMember
(is this user an admin of the group?) and getChat + getChatAdministrators (the
channel behind `@name`, and its admins, for `/channel`). `on_my_chat_member` handles
the bot being removed from (or kicked out of) a group or channel: the chat's
subscription and settings are deleted, as after a 403 on its briefing.
`on_migrated` follows a group upgraded to a supergroup (a new chat id, announced by
the `migrate_to_chat_id` / `migrate_from_chat_id` service messages): its settings,
briefing, own sources and follow-up context move to the new id (bot/supergroups.py).
"""

from __future__ import annotations

import logging

from telegram import Bot, ChatMember, ChatMemberUpdated, Message
from telegram.error import TelegramError

from bot.privacy import forget_user
from bot.services import Services
from bot.store.redis import Store
from bot.supergroups import move_chat

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


async def on_migrated(old: int, new: int, services: Services) -> None:
    """Group `old` became supergroup `new`: move what the bot keeps about it (once: the
    second of the two service messages finds nothing left to move)."""
    await move_chat(
        old,
        new,
        users=services.users,
        briefings=services.briefings,
        context=services.followups.context,
    )
