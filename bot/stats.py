"""Daily counters in Redis (digests, cache hits/misses, LLM calls and tokens, ...).

One key per counter and UTC day (`store.keys.stat(name, "YYYY-MM-DD")`), kept ~40 days.
Counting never fails a request: Redis errors are logged and ignored.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from redis.exceptions import RedisError

from bot.store.redis import Pipeline, Store

log = logging.getLogger(__name__)

TTL_SECONDS = 40 * 86400


def _today() -> date:
    return datetime.now(UTC).date()


async def incr(store: Store, name: str, amount: int = 1, *, day: date | None = None) -> None:
    """Add `amount` to today's (or `day`'s) counter `name`."""
    await incr_many(store, {name: amount}, day=day)


async def incr_many(store: Store, amounts: dict[str, int], *, day: date | None = None) -> None:
    """Add to several of today's (or `day`'s) counters in one round trip."""
    try:
        async with store.redis.pipeline(transaction=False) as pipe:
            queue_many(store, pipe, amounts, day=day)
            if len(pipe):
                await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("stats: could not count %s: %s", ", ".join(amounts), exc)


async def incr_llm(store: Store, *, calls: int, tokens: int, cached: int = 0) -> None:
    """Charge LLM calls and tokens (failed attempts included) to the day's counters;
    `cached`: of the prompt tokens, those the server read from its prefix cache."""
    if calls:
        await incr_many(
            store, {"llm_calls": calls, "llm_tokens": tokens, "llm_cached_tokens": cached}
        )


def queue_many(
    store: Store, pipe: Pipeline, amounts: dict[str, int], *, day: date | None = None
) -> None:
    """Queue the increments of `incr_many` on a caller's Redis pipeline, so they share a
    round trip with the request's other writes (the caller runs it and owns its errors)."""
    stamp = (day or _today()).isoformat()
    for name, amount in amounts.items():
        if amount:
            key = store.keys.stat(name, stamp)
            pipe.incrby(key, amount)
            pipe.expire(key, TTL_SECONDS)


async def get(store: Store, name: str, day: date) -> int:
    """Return the counter `name` for `day` (0 when unset)."""
    value = await store.redis.get(store.keys.stat(name, day.isoformat()))
    return int(value or 0)


async def series(store: Store, name: str, days: list[date]) -> list[int]:
    """Return the counter `name` for each of `days`, in order."""
    if not days:
        return []
    # GETs in a plain pipeline, not MGET: one key per day, in different cluster slots
    async with store.redis.pipeline(transaction=False) as pipe:
        for d in days:
            pipe.get(store.keys.stat(name, d.isoformat()))
        values = await pipe.execute()
    return [int(v or 0) for v in values]
