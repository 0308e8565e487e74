"""Subscriptions to the daily briefing, and the due set that drives delivery.

A subscription is a Redis hash (`keys.subscription(user_id)`, no TTL: user data):
chat id, local time, zone, language, the scheduled slot (`slot`, UTC epoch seconds of
the next briefing) and `last_sent` (UTC epoch of the last delivered briefing). The due
set (`keys.due()`) holds every subscriber scored by the time they may next be claimed:
their slot, or a lease expiry while a process is delivering to them (see delivery).
Both live under the `{sched}` hash tag, so Lua scripts can touch them together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from typing import Any, cast

from bot.briefings import registry
from bot.briefings.schedule import format_hhmm, is_zone, next_due, parse_hhmm
from bot.errors import BadTime, BadTimezone
from bot.store.redis import Store

DEFAULT_TIME = time(7, 0)


@dataclass(frozen=True)
class Subscription:
    """One user's daily briefing settings and schedule state."""

    user_id: int
    chat_id: int
    hhmm: time
    tz: str
    lang: str
    slot: datetime  # the next (or current, while claimed) delivery slot, UTC
    last_sent: datetime | None = None
    kind: str = "private"  # "group" or "channel": the chat itself is the subscriber

    def to_hash(self) -> dict[str, str]:
        return {
            "user_id": str(self.user_id),
            "chat_id": str(self.chat_id),
            "time": format_hhmm(self.hhmm),
            "tz": self.tz,
            "lang": self.lang,
            "slot": str(int(self.slot.timestamp())),
            "last_sent": str(int(self.last_sent.timestamp())) if self.last_sent else "",
            "kind": self.kind,
        }

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Subscription:
        last = data.get("last_sent") or ""
        return cls(
            user_id=int(data["user_id"]),
            chat_id=int(data["chat_id"]),
            hhmm=parse_hhmm(data["time"]),
            tz=data["tz"],
            lang=data.get("lang") or "ar",
            slot=datetime.fromtimestamp(int(data["slot"]), UTC),
            last_sent=datetime.fromtimestamp(int(last), UTC) if last else None,
            kind=data.get("kind") or "private",
        )


def check_time(text: str | None) -> time:
    """Parse the user's HH:MM (None or "" gives 07:00); raises BadTime."""
    if not text or not text.strip():
        return DEFAULT_TIME
    try:
        return parse_hhmm(text)
    except ValueError:
        raise BadTime(text, value=text.strip()[:20]) from None


def check_zone(name: str) -> str:
    """Validate an IANA zone name (case-insensitive match on the common spelling)."""
    name = name.strip()
    if is_zone(name):
        return name
    fixed = "/".join(p[:1].upper() + p[1:] for p in name.split("/"))
    if is_zone(fixed):
        return fixed
    raise BadTimezone(name, zone=name[:40])


async def subscribe(
    store: Store,
    *,
    user_id: int,
    chat_id: int,
    hhmm: time,
    tz: str,
    lang: str,
    now: datetime,
    kind: str | None = None,
) -> Subscription:
    """Create or update the user's subscription and schedule their next slot. A group
    or channel subscribes under its own chat id (`kind` "group" or "channel").

    Re-subscribing (for example to change the time) never yields a second briefing on
    the same local day: the per-day idempotency key is checked when the slot is claimed.
    """
    if not is_zone(tz):
        raise BadTimezone(tz, zone=tz[:40])
    prev = await get(store, user_id)
    sub = Subscription(
        user_id=user_id,
        chat_id=chat_id,
        hhmm=hhmm,
        tz=tz,
        lang=lang,
        slot=next_due(hhmm, tz, now),
        last_sent=prev.last_sent if prev else None,
        kind=kind or (prev.kind if prev else "private"),
    )
    await _save(store, sub)
    return sub


async def _save(store: Store, sub: Subscription) -> None:
    k = store.keys
    # Only {sched} keys inside the transaction (one Redis Cluster slot).
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.hset(k.subscription(sub.user_id), mapping=cast(Any, sub.to_hash()))
        pipe.zadd(k.due(), {str(sub.user_id): sub.slot.timestamp()})
        await pipe.execute()
    await store.redis.hset(k.user(sub.user_id), "tz", sub.tz)


async def get(store: Store, user_id: int) -> Subscription | None:
    """The user's subscription, or None. Its `lang` follows a later /language change
    (the user's stored preference wins over the language saved at /subscribe)."""
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(store.keys.subscription(user_id))
        pipe.hget(store.keys.user(user_id), "lang")
        data, pref = await pipe.execute()
    if not data:
        return None
    if pref in ("ar", "en"):
        data["lang"] = pref
    return Subscription.from_hash(cast(dict[str, str], data))


async def unsubscribe(store: Store, user_id: int) -> bool:
    """Remove the subscription and its schedule; True when there was one."""
    k = store.keys
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.delete(k.subscription(user_id))
        pipe.zrem(k.due(), str(user_id))
        removed, _ = await pipe.execute()
    return bool(removed)


async def forget_user(store: Store, user_id: int) -> None:
    """Delete every briefing datum of the user: subscription, schedule, own sources,
    story memory and topics.

    Used after a 403 (the user blocked the bot) and by /forget.
    """
    await unsubscribe(store, user_id)
    await store.redis.delete(store.keys.briefing_memory(user_id), store.keys.topics(user_id))
    async with registry.sources_lock(store, user_id):
        await registry.release_all(store, user_id)  # their feeds stop being polled
        await store.redis.delete(store.keys.user_sources(user_id))


async def move(store: Store, old: int, new: int) -> bool:
    """Subscriber `old` (a group) is now `new` (the supergroup it became): its
    subscription (time, zone, language, next slot, last briefing), today's send marks
    (no second briefing on the day of the move), story memory and topics go to `new`;
    what `new` already has wins. True when there was a subscription to move. Each step
    moves only what is still under `old`, so a second call (the other service message,
    another process) does nothing."""
    k, r = store.keys, store.redis
    raw = cast(dict[str, str], await r.hgetall(k.subscription(old)))
    if raw and not await r.exists(k.subscription(new)):
        sub = replace(Subscription.from_hash(raw), user_id=new, chat_id=new)
        async with r.pipeline(transaction=True) as pipe:  # {sched} keys: one slot
            pipe.hset(k.subscription(new), mapping=cast(Any, sub.to_hash()))
            pipe.zadd(k.due(), {str(new): sub.slot.timestamp()})
            await pipe.execute()
    prefix = k.sent(old, "")
    async for key in r.scan_iter(match=k.sent(old, "*"), count=500):
        day = str(key)[len(prefix) :]
        ttl = int(await r.pttl(key))
        await r.set(k.sent(new, day), str(await r.get(key) or "1"), nx=True, px=max(ttl, 1000))
        await r.delete(key)
    await store.move_hash(k.briefing_memory(old), k.briefing_memory(new))
    await store.move_hash(k.topics(old), k.topics(new))
    if raw:
        await unsubscribe(store, old)
    return bool(raw)


async def user_timezone(store: Store, user_id: int, default: str) -> str:
    """The user's zone preference (set by /timezone or /subscribe), else `default`."""
    tz = cast(str | None, await store.redis.hget(store.keys.user(user_id), "tz"))
    return tz if tz and is_zone(tz) else default


async def set_timezone(store: Store, user_id: int, tz: str, *, now: datetime) -> str:
    """Store the user's zone; re-plan their briefing if subscribed. Returns the zone."""
    tz = check_zone(tz)
    sub = await get(store, user_id)
    if sub is None:
        await store.redis.hset(store.keys.user(user_id), "tz", tz)
        return tz
    await subscribe(
        store,
        user_id=user_id,
        chat_id=sub.chat_id,
        hhmm=sub.hhmm,
        tz=tz,
        lang=sub.lang,
        now=now,
        kind=sub.kind,
    )
    return tz


async def count(store: Store) -> int:
    """Number of subscribers."""
    return int(await store.redis.zcard(store.keys.due()))


async def count_by_kind(store: Store) -> dict[str, int]:
    """Subscribers by kind: private chats, groups and channels (groups and channels
    subscribe under their negative chat ids)."""
    members = cast(list[str], await store.redis.zrange(store.keys.due(), 0, -1))
    ids = [int(m) for m in members]
    chats = [i for i in ids if i < 0]
    counts = {"private": len(ids) - len(chats), "group": 0, "channel": 0}
    async with store.redis.pipeline(transaction=False) as pipe:
        for cid in chats:
            pipe.hget(store.keys.subscription(cid), "kind")
        kinds = await pipe.execute() if chats else []
    for kind in kinds:
        counts["channel" if kind == "channel" else "group"] += 1
    return counts
