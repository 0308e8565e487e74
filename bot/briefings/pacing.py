"""Briefings to groups and channels: Telegram's per-chat pace, and what each sent
briefing message holds.

`ChatSender` wraps the delivery `Sender` (bot/briefings/delivery.py) without changing
it:

* **Pacing.** Telegram lets a bot send about 20 messages a minute to one group or
  channel (GROUP_MESSAGES_PER_MINUTE). Before a message to a chat with a negative id
  (a group, supergroup or channel), a Lua script keeps a sliding 60-second log of that
  chat's sends in Redis and either takes a place in it or says how long to wait; the
  sender waits and asks again. Shared by every process that delivers, so several
  delivery processes together stay under the limit. Private chats are not paced here
  (the broadcast limiter paces the whole bot).
* **Recall.** A briefing's keyboard carries one `bd:<article id>` button per story, in
  order; the ids of the message(s) of that briefing are remembered with those story
  ids (`bot.briefings.recall`), so a reply to a briefing asks about its stories.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.commands.core import AsyncScript

from bot.briefings.delivery import Batched, Sender
from bot.briefings.message import DIGEST_PREFIX, UNSUBSCRIBE
from bot.briefings.recall import remember_many
from bot.messages import Button
from bot.store.redis import Store

WINDOW = 61.0  # Telegram's minute, plus a second for the sends' own latency

# KEYS[1] the chat's send log (zset of unique member -> time); ARGV now, window,
# limit, member -> 0 when a place was taken, else the seconds to wait
_TAKE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


def story_ids(buttons: list[list[Button]]) -> list[str]:
    """The story article ids of a briefing keyboard, in story order."""
    return [
        b.callback[len(DIGEST_PREFIX) :]
        for row in buttons
        for b in row
        if b.callback and b.callback.startswith(DIGEST_PREFIX)
    ]


def without_unsubscribe(buttons: list[list[Button]]) -> list[list[Button]]:
    """A group's or channel's briefing has no Unsubscribe button: any member could tap
    it (admins send /unsubscribe)."""
    rows = [[b for b in row if b.callback != UNSUBSCRIBE] for row in buttons]
    return [row for row in rows if row]


class ChatSender:
    """A `Sender` that paces groups and channels and remembers briefing messages."""

    def __init__(
        self,
        inner: Sender,
        store: Store,
        *,
        per_minute: int = 20,
        recall_ttl: int = 7 * 86400,
        window: float = WINDOW,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.store = store
        self.per_minute = per_minute
        self.recall_ttl = recall_ttl
        self.window = window
        self.now = now
        self.sleep = sleep
        self._take: AsyncScript = store.redis.register_script(_TAKE)
        self._seq = 0
        self._parts: dict[int, list[int]] = {}  # chat -> earlier parts of a briefing
        # the recall writes of sends finishing together share one pipeline
        self._recall = Batched(self._remember)

    async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        stories = story_ids(buttons)
        if chat_id < 0:
            await self.wait_turn(chat_id)
            buttons = without_unsubscribe(buttons)
        message_id = await self.inner.send(chat_id, html, buttons)
        if not buttons:  # a first part of a long briefing: the keyboard comes last
            self._parts.setdefault(chat_id, []).append(message_id)
        elif stories:
            ids = [*self._parts.pop(chat_id, []), message_id]
            await self._recall((chat_id, ids, stories))
        return message_id

    async def _remember(self, items: list[tuple[int, list[int], list[str]]]) -> list[None]:
        await remember_many(self.store, items, ttl=self.recall_ttl)
        return [None] * len(items)

    async def wait_turn(self, chat_id: int) -> None:
        """Return once `chat_id` may get one more message within its per-minute limit."""
        while True:
            self._seq += 1
            now = self.now()
            wait = float(
                await self._take(
                    keys=[self.store.keys.chat_pace(chat_id)],
                    args=[now, self.window, self.per_minute, f"{now}:{id(self)}:{self._seq}"],
                )
            )
            if wait <= 0:
                return
            await self.sleep(min(wait, self.window))
