"""User preferences in Redis: interface/digest language, digest length, time zone.

One hash per user (`keys.user(id)`: lang, length, tz, chat_id, first_seen) and a set of
every user seen (`keys.users()`), which /stats counts and /forget cleans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from bot.config import Settings
from bot.domain import Lang, Length
from bot.i18n import lang_from_code
from bot.store.redis import Pipeline, Store


@dataclass(frozen=True)
class Prefs:
    """A user's effective preferences (defaults filled in)."""

    lang: Lang
    length: Length
    tz: str
    lang_set: bool = False  # the user chose `lang` (else it came from Telegram)


class Users:
    """Reads and writes user preferences."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def prefs(
        self, user_id: int, language_code: str | None = None, *, touch_chat: int | None = None
    ) -> Prefs:
        """Return the user's preferences: a stored language wins over Telegram's
        `language_code` (ar… -> Arabic, anything else English). With `touch_chat`, also
        record the user and their private chat (one round trip)."""
        if touch_chat is None:
            raw = await self.store.redis.hgetall(self.store.keys.user(user_id))
            return self.prefs_from(cast(dict[str, str], raw), language_code)
        async with self.store.redis.pipeline(transaction=False) as pipe:
            index = self.queue_prefs(pipe, user_id, touch_chat=touch_chat)
            results = await pipe.execute()
        return self.prefs_from(results[index], language_code)

    def queue_prefs(self, pipe: Pipeline, user_id: int, *, touch_chat: int | None = None) -> int:
        """Queue what `prefs` sends on a caller's Redis pipeline (so it shares a round trip
        with other commands); return the index of the result to give to `prefs_from`."""
        index = len(pipe)
        key = self.store.keys.user(user_id)
        pipe.hgetall(key)
        if touch_chat is not None:
            pipe.sadd(self.store.keys.users(), user_id)
            pipe.hset(key, "chat_id", touch_chat)
        return index

    def prefs_from(self, raw: dict[str, str], language_code: str | None = None) -> Prefs:
        """The effective preferences for a user hash read by `queue_prefs`."""
        stored = raw.get("lang")
        lang: Lang = cast(Lang, stored) if stored in ("ar", "en") else lang_from_code(language_code)
        length = raw.get("length")
        return Prefs(
            lang=lang,
            length=cast(Length, length) if length in ("short", "detailed") else "short",
            tz=raw.get("tz") or self.settings.default_timezone,
            lang_set=stored in ("ar", "en"),
        )

    async def lang(self, user_id: int, language_code: str | None = None) -> Lang:
        """Return the user's language (stored preference, else from `language_code`)."""
        return (await self.prefs(user_id, language_code)).lang

    async def touch(self, user_id: int, chat_id: int) -> None:
        """Record that the user was seen in a private chat `chat_id` (for /stats, briefings)."""
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(self.store.keys.users(), user_id)
            pipe.hset(self.store.keys.user(user_id), "chat_id", chat_id)
            await pipe.execute()

    async def set_lang(self, user_id: int, lang: Lang) -> None:
        await self.store.redis.hset(self.store.keys.user(user_id), "lang", lang)

    async def set_length(self, user_id: int, length: Length) -> None:
        await self.store.redis.hset(self.store.keys.user(user_id), "length", length)

    async def known_admin(self, chat_id: int, user_id: int) -> bool | None:
        """Whether `user_id` administers the group `chat_id`, as last checked (None: not
        checked within CHAT_ADMIN_CACHE_SECONDS)."""
        cached = await self.store.redis.get(self.store.keys.chat_admin(chat_id, user_id))
        return cached == "1" if cached in ("1", "0") else None

    async def remember_admin(self, chat_id: int, user_id: int, admin: bool) -> None:
        """Keep a getChatMember answer for CHAT_ADMIN_CACHE_SECONDS (0: not at all)."""
        ttl = self.settings.chat_admin_cache_seconds
        if ttl:
            key = self.store.keys.chat_admin(chat_id, user_id)
            await self.store.redis.set(key, "1" if admin else "0", ex=ttl)

    async def move(self, old: int, new: int) -> bool:
        """Chat `old` (a group) is now `new` (the supergroup it became): its settings
        (/language, /length, /timezone) and its place among the users seen go to `new`
        (settings `new` already has win). False when nothing was left to move."""
        keys = self.store.keys
        moved = await self.store.move_hash(keys.user(old), keys.user(new)) > 0
        if await self.store.redis.srem(keys.users(), old):
            await self.store.redis.sadd(keys.users(), new)
            moved = True
        return moved

    async def count(self) -> int:
        """Return how many users the bot has seen."""
        return int(await self.store.redis.scard(self.store.keys.users()))

    async def forget(self, user_id: int) -> None:
        """Delete the user's preferences and membership. Other features extend /forget
        with their own data (sources, subscriptions) in their own modules."""
        # not a MULTI: the two keys live in different cluster slots
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.store.keys.user(user_id))
            pipe.srem(self.store.keys.users(), user_id)
            await pipe.execute()
