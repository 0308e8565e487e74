"""The poll registry: every feed some user has among their own sources, reference-counted.

`keys.feed_registry()` (hash: feed id -> source JSON) is what the poller fetches besides
the operator's defaults. Each feed's references are the set `keys.feed_refs(id)` of the
users who have it; adding a reference and removing the last one change the set and the
registry together in one Lua script (both keys carry the `{feeds}` hash tag, so the
script runs on a Redis Cluster too). A set, not a counter: adding a feed a user already
has, or removing one twice, cannot skew the count.

Order against the user's own hash (another slot, so not in the same script): a
reference is taken before the user's hash gains the feed and released after it lost
it, so a crash in between leaves at worst an extra poll, never a user's feed unpolled.
Those two steps are not atomic together, so a user's changes run one at a time under
`sources_lock`: a /removesource and an /addsource of the same feed at once could
otherwise end with the feed in the user's hash and no reference (never polled again).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from bot.errors import RateLimited
from bot.store.redis import Store

log = logging.getLogger(__name__)

_ADD = """
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return redis.call('SCARD', KEYS[2])
"""

_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
local left = redis.call('SCARD', KEYS[2])
if left == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return left
"""


LOCK_TTL_MS = 10_000  # a holder that dies frees the lock after this
LOCK_WAIT_SECONDS = 5.0
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@asynccontextmanager
async def sources_lock(store: Store, user_id: int) -> AsyncIterator[None]:
    """Hold the user's sources lock (Redis, so across processes) for a change of their
    own sources. Raises RateLimited(seconds=1) when it stays taken LOCK_WAIT_SECONDS."""
    key, token = store.keys.user_sources_lock(user_id), uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOCK_WAIT_SECONDS
    while not await store.redis.set(key, token, nx=True, px=LOCK_TTL_MS):
        if loop.time() > deadline:
            raise RateLimited(seconds=1)
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        await store.redis.eval(_UNLOCK, 1, key, token)


async def add_ref(store: Store, feed_id: str, user_id: int, source_json: str) -> int:
    """Record that `user_id` has the feed; list it for polling. Returns its user count."""
    k = store.keys
    keys = (k.feed_registry(), k.feed_refs(feed_id))
    return int(await store.redis.eval(_ADD, 2, *keys, feed_id, str(user_id), source_json))


async def release_ref(store: Store, feed_id: str, user_id: int) -> int:
    """Drop `user_id`'s reference; the feed stops being polled when none is left.
    Returns how many users still have it."""
    k = store.keys
    keys = (k.feed_registry(), k.feed_refs(feed_id))
    return int(await store.redis.eval(_RELEASE, 2, *keys, feed_id, str(user_id)))


async def release_all(store: Store, user_id: int) -> None:
    """Release every feed in the user's own sources (before the hash is deleted)."""
    own = cast(dict[str, str], await store.redis.hgetall(store.keys.user_sources(user_id)))
    for feed_id in own:
        await release_ref(store, feed_id, user_id)


async def registered(store: Store) -> dict[str, str]:
    """The registry (feed id -> source JSON), migrating the unreferenced one first."""
    await migrate_legacy(store)
    return cast(dict[str, str], await store.redis.hgetall(store.keys.feed_registry()))


async def migrate_legacy(store: Store) -> None:
    """Rebuild references from every user's own sources once, when the registry of the
    version without references still exists; then delete it (its stale feeds go)."""
    k = store.keys
    legacy = k.legacy_feed_registry()
    if not await store.redis.exists(legacy):
        return
    prefix, suffix = k.user_sources(0).rsplit("0", 1)
    count = 0
    async for key in store.redis.scan_iter(match=f"{prefix}*{suffix}", count=500):
        uid = str(key)[len(prefix) : len(str(key)) - len(suffix)]
        if not uid.lstrip("-").isdigit():
            continue
        own = cast(dict[str, str], await store.redis.hgetall(key))
        for feed_id, raw in own.items():
            await add_ref(store, feed_id, int(uid), raw)
            count += 1
    await store.redis.delete(legacy)
    log.info("feed registry migrated to reference counts: %d user feeds", count)
