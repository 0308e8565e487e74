"""A Redis-backed global token bucket: at most BROADCAST_RATE briefings/s, all processes.

One Lua script owns the bucket hash (`keys.broadcast_bucket()`: tokens, timestamp)
and reads the server's clock (`TIME`), so every process on every machine shares one
rate without trusting its own clock. `acquire()` reserves the next slot and sleeps
until it: the script answers how long this caller must wait.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.commands.core import AsyncScript

from bot import metrics
from bot.store.redis import Store

# KEYS[1] bucket hash; ARGV rate (tokens/s), burst (max tokens)
# Every call RESERVES the next token: the bucket may go negative (a queue of callers),
# and the reply is how long this caller must wait, in microseconds, before its turn.
# Callers then send at exactly `rate` on average, with no retry loop.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000000) - 1
local wait = 0
if tokens < 0 then
  wait = math.ceil(-tokens * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000 + math.ceil(wait / 1000))
return wait
"""


@dataclass
class RateLimiter:
    """Global send-rate gate. `burst` defaults to one second's worth (at least 1); the
    briefing delivery uses burst=1, so sends are spaced evenly at 1/rate and no one-second
    window ever holds more than rate + 1 messages (Telegram counts per second)."""

    store: Store
    rate: float
    burst: float | None = None
    waits: int = 0
    _script: AsyncScript | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.burst is None:
            self.burst = max(1.0, self.rate)
        self._script = self.store.redis.register_script(_TAKE)

    async def reserve(self) -> float:
        """Reserve the next send slot; returns the seconds to wait until it (0.0: now)."""
        assert self._script is not None
        wait_us = await self._script(
            keys=[self.store.keys.broadcast_bucket()], args=[self.rate, self.burst or 1.0]
        )
        return int(wait_us) / 1_000_000

    async def acquire(self) -> None:
        """Return when this caller's send slot has come (a real-time pacing sleep)."""
        wait = await self.reserve()
        if wait > 0:
            self.waits += 1
            metrics.RATE_LIMIT_HITS.labels(limit="broadcast").inc()
            await asyncio.sleep(wait)
