"""Per-chat follow-up context in Redis: which article a question is about, and past turns.

Every key lives for `CONTEXT_TTL_DAYS` (refreshed on write), so the context survives a
restart and is shared by every process of the bot:

* `chat_message(chat, msg)` -> article id: the digest (or answer) message a reply points at;
* `chat_active(chat)` -> article id: the chat's most recent article;
* `chat_history(chat, article)`: list of the last `MAX_TURNS` question/answer turns (JSON);
* `chat_index(chat)`: set of the chat's message-map and history keys, so `/reset` can
  delete them without scanning the key space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.store.redis import Pipeline, Store

MAX_TURNS = 4


@dataclass(frozen=True)
class Turn:
    """One past question and the answer the bot gave."""

    question: str
    answer: str


class ChatContext:
    """Reads and writes the follow-up context of chats (no LLM, no article text)."""

    def __init__(self, store: Store, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    async def bind_message(self, chat_id: int, message_id: int, article_id: str) -> None:
        """Remember that message `message_id` in the chat is about `article_id`."""
        async with self._store.redis.pipeline(transaction=False) as pipe:
            self.queue_bind(pipe, chat_id, message_id, article_id)
            await pipe.execute()

    def queue_bind(self, pipe: Pipeline, chat_id: int, message_id: int, article_id: str) -> None:
        """Queue `bind_message`'s writes on a caller's Redis pipeline (the caller runs it).

        Not a MULTI: the message key and the chat index live in different cluster slots,
        and a half-done write only leaves a key that /reset misses and the TTL removes.
        """
        keys = self._store.keys
        key = keys.chat_message(chat_id, message_id)
        pipe.set(key, article_id, ex=self._ttl)
        pipe.sadd(keys.chat_index(chat_id), key)
        pipe.expire(keys.chat_index(chat_id), self._ttl)

    async def set_active(self, chat_id: int, article_id: str) -> None:
        """Make `article_id` the chat's current article."""
        await self._store.redis.set(self._store.keys.chat_active(chat_id), article_id, ex=self._ttl)

    def queue_active(self, pipe: Pipeline, chat_id: int, article_id: str) -> None:
        """Queue `set_active`'s write on a caller's Redis pipeline (the caller runs it)."""
        pipe.set(self._store.keys.chat_active(chat_id), article_id, ex=self._ttl)

    async def active_article(self, chat_id: int) -> str | None:
        """The chat's current article id, or None when there is none (or it expired)."""
        value = await self._store.redis.get(self._store.keys.chat_active(chat_id))
        return str(value) if value else None

    async def article_for_reply(self, chat_id: int, message_id: int) -> str | None:
        """The article id bound to `message_id` in the chat, or None."""
        value = await self._store.redis.get(self._store.keys.chat_message(chat_id, message_id))
        return str(value) if value else None

    async def history(self, chat_id: int, article_id: str) -> list[Turn]:
        """The last turns (oldest first, at most MAX_TURNS) about `article_id` in the chat."""
        raw = await self._store.redis.lrange(
            self._store.keys.chat_history(chat_id, article_id), -MAX_TURNS, -1
        )
        turns: list[Turn] = []
        for item in raw:
            try:
                data = json.loads(item)
                turns.append(Turn(question=str(data["q"]), answer=str(data["a"])))
            except (ValueError, KeyError, TypeError):
                continue
        return turns

    async def add_turn(self, chat_id: int, article_id: str, turn: Turn) -> None:
        """Append a turn, keeping only the last MAX_TURNS."""
        keys, r = self._store.keys, self._store.redis
        key = keys.chat_history(chat_id, article_id)
        item = json.dumps({"q": turn.question, "a": turn.answer}, ensure_ascii=False)
        async with r.pipeline(transaction=False) as pipe:  # two cluster slots: no MULTI
            pipe.rpush(key, item)
            pipe.ltrim(key, -MAX_TURNS, -1)
            pipe.expire(key, self._ttl)
            pipe.sadd(keys.chat_index(chat_id), key)
            pipe.expire(keys.chat_index(chat_id), self._ttl)
            await pipe.execute()

    async def move(self, old: int, new: int) -> int:
        """Chat `old` (a group) is now `new` (the supergroup it became): its active
        article and question histories go to `new` (what `new` already has wins), so a
        question after the upgrade is still about the article the group was reading.
        The message map stays behind: the new chat numbers its messages afresh, and an
        old id would point a reply to an unrelated message. Returns how many keys moved
        (0 on a second call)."""
        keys, r = self._store.keys, self._store.redis
        moved = 0
        active = await r.get(keys.chat_active(old))
        if active:
            await r.set(keys.chat_active(new), active, ex=self._ttl, nx=True)
            moved += 1
        prefix = keys.chat_history(old, "")
        for member in [str(m) for m in await r.smembers(keys.chat_index(old))]:
            if not member.startswith(prefix):
                continue
            turns = await r.lrange(member, 0, -1)
            target = keys.chat_history(new, member[len(prefix) :])
            if turns and not await r.exists(target):
                async with r.pipeline(transaction=False) as pipe:  # two cluster slots
                    pipe.rpush(target, *turns)
                    pipe.expire(target, self._ttl)
                    pipe.sadd(keys.chat_index(new), target)
                    pipe.expire(keys.chat_index(new), self._ttl)
                    await pipe.execute()
                moved += 1
        await self.reset(old)
        return moved

    async def reset(self, chat_id: int) -> None:
        """Forget the chat's active article, message map and histories."""
        keys, r = self._store.keys, self._store.redis
        index = keys.chat_index(chat_id)
        members = [str(m) for m in await r.smembers(index)]
        await r.delete(keys.chat_active(chat_id), index, *members)
