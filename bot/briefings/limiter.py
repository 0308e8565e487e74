"""A Redis-backed global token bucket: at most BROADCAST_RATE briefings/s, all processes.

One Lua script owns the bucket hash (`keys.broadcast_bucket()`: tokens, timestamp)
and reads the server's clock (`TIME`), so every process on every machine shares one
rate without trusting its own clock. `acquire()` returns once a token is granted;
when the bucket is empty the script answers how long to wait.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.commands.core import AsyncScript

from bot.store.redis import Store

# KEYS[1] bucket hash; ARGV rate (tokens/s), burst (max tokens)
# Returns 0 when a token was taken, else the wait in microseconds until one is due.
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
tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
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

    async def try_acquire(self) -> float:
        """Take a token if one is free: returns 0.0, else the seconds to wait first."""
        assert self._script is not None
        wait_us = await self._script(
            keys=[self.store.keys.broadcast_bucket()], args=[self.rate, self.burst or 1.0]
        )
        return int(wait_us) / 1_000_000

    async def acquire(self) -> None:
        """Wait until a token is granted (the pacing sleep is real time by design)."""
        while True:
            wait = await self.try_acquire()
            if wait <= 0:
                return
            self.waits += 1
            await asyncio.sleep(wait)
