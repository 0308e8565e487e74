"""Digest cache and single flight, both in Redis.

The digest cache key is sha256 of (normalized article text, language, length, model,
prompt version): pasted text and URLs with the same body share one entry, and a new
model or prompt starts a fresh one.

`SingleFlight.run(key, lookup=..., compute=...)` makes concurrent identical requests
share one computation:

* within a process, later callers await the first caller's asyncio future;
* across processes, the first caller takes a Redis lock (`SET NX PX`, with a random
  token, refreshed by a heartbeat while it computes, released only by its owner); the
  others subscribe to the key's "done" channel, re-check the cache on each message and
  on a short backoff poll, and take the lock themselves if it disappears without a
  result (holder crashed or failed). A waiter that waits longer than `wait_timeout`
  computes on its own, so nothing blocks forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from redis.exceptions import RedisError

from bot.domain import Digest, text_hash
from bot.store.redis import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


def digest_cache_key(text: str, lang: str, length: str, model: str, prompt_version: str) -> str:
    """Return the cache identity of a digest (hex)."""
    parts = [text_hash(text), lang, length, model, prompt_version]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:40]


async def get_digest(store: Store, key: str) -> Digest | None:
    """Return the cached digest under `key`, or None (also when the entry is unreadable)."""
    raw = await store.redis.get(store.keys.digest(key))
    if raw is None:
        return None
    try:
        return Digest.model_validate_json(raw)
    except ValueError:
        log.warning("dropping an unreadable cached digest %s", key)
        return None


async def put_digest(store: Store, key: str, digest: Digest, ttl_seconds: int) -> None:
    """Store `digest` under `key` for `ttl_seconds` (stored with cached=False)."""
    data = digest.model_copy(update={"cached": False}).model_dump_json()
    await store.redis.set(store.keys.digest(key), data, ex=ttl_seconds)


class SingleFlight(Generic[T]):
    """One computation per key at a time, in this process and across processes."""

    def __init__(
        self,
        store: Store,
        *,
        lock_ttl: float = 30.0,
        wait_timeout: float = 120.0,
        max_poll: float = 0.5,
    ) -> None:
        self.store = store
        self.lock_ttl = lock_ttl
        self.wait_timeout = wait_timeout
        self.max_poll = max_poll
        self._local: dict[str, asyncio.Future[T]] = {}

    async def run(
        self,
        key: str,
        *,
        lookup: Callable[[], Awaitable[T | None]],
        compute: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        """Return (value, shared): `shared` is True when the value came from the cache or
        from another caller's computation, False when this call computed it.

        `compute` must store its result where `lookup` finds it before returning.
        Exceptions from `compute` reach this caller and the in-process waiters.
        """
        while True:
            pending = self._local.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending), True
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled
                # the leader was cancelled: try again (maybe become the leader)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._local[key] = future
        try:
            value, shared = await self._across_processes(key, lookup, compute)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: no "never retrieved" noise without waiters
            raise
        else:
            future.set_result(value)
            return value, shared
        finally:
            self._local.pop(key, None)

    async def _across_processes(
        self,
        key: str,
        lookup: Callable[[], Awaitable[T | None]],
        compute: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        hit = await lookup()
        if hit is not None:
            return hit, True
        redis = self.store.redis
        lock = self.store.keys.flight(key)
        channel = self.store.keys.flight_done(key)
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.wait_timeout
        pubsub: Any = None
        try:
            while True:
                if await redis.set(lock, token, nx=True, px=int(self.lock_ttl * 1000)):
                    return await self._lead(lock, channel, token, lookup, compute)
                if pubsub is None:
                    pubsub = redis.pubsub()
                    await pubsub.subscribe(channel)
                hit = await self._wait(pubsub, lock, lookup, deadline)
                if hit is not None:
                    return hit, True
                if time.monotonic() >= deadline:
                    log.warning("single flight: gave up waiting for %s, computing here", key)
                    return await compute(), False
        finally:
            if pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.unsubscribe(channel)
                    await pubsub.aclose()

    async def _wait(
        self,
        pubsub: Any,
        lock: str,
        lookup: Callable[[], Awaitable[T | None]],
        deadline: float,
    ) -> T | None:
        """Wait for the holder; return its result, or None when the lock is gone (or the
        deadline passed) without one."""
        delay = 0.02
        hit = await lookup()
        while hit is None:
            if not await self.store.redis.exists(lock):
                return await lookup()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(delay, remaining))
            delay = min(delay * 2, self.max_poll)
            hit = await lookup()
        return hit

    async def _lead(
        self,
        lock: str,
        channel: str,
        token: str,
        lookup: Callable[[], Awaitable[T | None]],
        compute: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        redis = self.store.redis
        try:
            hit = await lookup()  # finished between our first look and the lock
            if hit is not None:
                return hit, True
            async with self._heartbeat(lock, token):
                return await compute(), False
        finally:
            with contextlib.suppress(RedisError, OSError):
                await redis.eval(_RELEASE, 1, lock, token)  # type: ignore[misc]
                await redis.publish(channel, "done")

    @contextlib.asynccontextmanager
    async def _heartbeat(self, lock: str, token: str) -> AsyncIterator[None]:
        """Keep the lock alive while computing (a crashed process stops refreshing it)."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.lock_ttl / 3)
                with contextlib.suppress(RedisError, OSError):
                    await self.store.redis.eval(  # type: ignore[misc]
                        _EXTEND, 1, lock, token, int(self.lock_ttl * 1000)
                    )

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
