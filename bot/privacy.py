"""Forgetting a user: `/forget`, and the clean-up after Telegram answers 403.

One function deletes everything stored about a user, whichever feature wrote it:
preferences and membership, subscription and schedule, their own sources, briefing
send marks, the marks of answered messages in their private chat (`keys.handled`: a
content hash per message, for edits) and its follow-up context. Shared caches
(articles, digests, answers) are not about a user and stay until they expire.

The usage counters stay too (`keys.rate_log`, `keys.tokens`, the command and /forget
logs): they hold counts and times, no content, and expire on their own (a minute to
two days). Deleting them let anyone reset their daily token budget and rate window by
sending /forget between requests; the confirmation tells the user they are kept.
"""

from __future__ import annotations

import logging

from bot.briefings import forget_subscriber
from bot.followups import ChatContext
from bot.store.redis import Store

log = logging.getLogger(__name__)


async def forget_user(store: Store, user_id: int, *, private_chat_id: int | None = None) -> None:
    """Delete every key that holds data about `user_id` but its usage counters (never
    raises on missing keys).

    `private_chat_id` is the user's private chat with the bot (the same id as the user
    on Telegram); its follow-up context is deleted too. Group chats are shared and stay.
    """
    keys, r = store.keys, store.redis
    async with r.pipeline(transaction=False) as pipe:  # different cluster slots
        pipe.delete(keys.user(user_id))
        pipe.srem(keys.users(), user_id)
        await pipe.execute()
    await forget_subscriber(store, user_id)
    for pattern in keys.user_counter_patterns(user_id):
        async for key in r.scan_iter(match=pattern, count=500):
            await r.delete(key)
    if private_chat_id is not None:
        await ChatContext(store, ttl_seconds=1).reset(private_chat_id)
    log.info("forgot user %s", user_id)
