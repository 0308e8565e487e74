"""Which stories a sent briefing message holds (so a reply to it is a question about
them): chat + message id -> the story article ids in order, with the chat context's
TTL. Written by the delivery's `ChatSender` and by /briefing, read by the chat layer."""

from __future__ import annotations

import json
from typing import cast

from bot.store.redis import Store


async def remember_briefing(
    store: Store, chat_id: int, message_ids: list[int], stories: list[str], *, ttl: int
) -> None:
    """Remember that each of `message_ids` in `chat_id` holds `stories` (in order)."""
    if not stories or not message_ids:
        return
    value = json.dumps(stories)
    async with store.redis.pipeline(transaction=False) as pipe:
        for mid in message_ids:
            pipe.set(store.keys.briefing_message(chat_id, mid), value, ex=ttl)
        await pipe.execute()


async def remember_many(
    store: Store, items: list[tuple[int, list[int], list[str]]], *, ttl: int
) -> None:
    """`remember_briefing` for many (chat, message ids, stories) in one round trip."""
    async with store.redis.pipeline(transaction=False) as pipe:
        for chat_id, message_ids, stories in items:
            value = json.dumps(stories)
            for mid in message_ids:
                pipe.set(store.keys.briefing_message(chat_id, mid), value, ex=ttl)
        await pipe.execute()


async def briefing_stories(store: Store, chat_id: int, message_id: int) -> list[str]:
    """The story article ids of a briefing message, or [] when it is not one (or expired)."""
    raw = cast(str | None, await store.redis.get(store.keys.briefing_message(chat_id, message_id)))
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    return [str(x) for x in data] if isinstance(data, list) else []
