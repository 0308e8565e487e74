"""Leases on claimed subscribers: short, and renewed by a heartbeat while the process lives.

A delivery claim re-scores each due member of the `{sched}` due set to its lease expiry
(`until`); the member's per-day idempotency key then says `sending:<until>`. A process
that dies (kill -9) stops renewing, so its members become claimable again `lease`
seconds after its last heartbeat, and the next tick of any survivor delivers them:
recovery takes at most `lease` + one tick interval (45 s + 60 s with the defaults)
instead of the old fixed 10-minute lease. A live process renews every member it still
holds every `heartbeat` seconds, so a slow broadcast (429 storms, a slow LLM) never
loses its claims however long it takes.

Time: a lease is measured from the tick's `now` plus the monotonic time elapsed since
the tick began, so `briefing run-due --now ...` and tests with a fixed `now` behave as
before, and a broadcast longer than the lease keeps leasing ahead of itself.

Ownership: renewing checks that the member's score (and its key's `sending:` value)
is still the one this process set, so a member another process took over after a
stall is never renewed by the old holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.commands.core import AsyncScript

from bot.store.redis import Store

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=45)
HEARTBEAT = timedelta(seconds=15)

# KEYS[1] due zset; ARGV now, lease_until, limit -> claimed member ids
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
end
return ids
"""

# KEYS[1] due zset, then per member its sent key (KEYS[1] again when it has none yet);
# ARGV[1] new until, then per member: uid, held until -> the member ids renewed
_RENEW = """
local out = {}
for i = 2, #ARGV, 2 do
  local uid, held = ARGV[i], ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[1], uid)
  if score and tonumber(score) == tonumber(held) then
    redis.call('ZADD', KEYS[1], ARGV[1], uid)
    out[#out + 1] = uid
    local key = KEYS[i / 2 + 1]
    local v = key ~= KEYS[1] and redis.call('GET', key)
    if v and string.sub(v, 1, 8) == 'sending:' then
      redis.call('SET', key, 'sending:' .. ARGV[1], 'KEEPTTL')
    end
  end
end
return out
"""


@dataclass
class Leases:
    """The members this process holds, their lease expiries, and the heartbeat."""

    store: Store
    lease: timedelta = LEASE
    heartbeat: timedelta = HEARTBEAT
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    held: dict[int, tuple[int, str | None]] = field(default_factory=dict)
    _claim: AsyncScript | None = field(default=None, repr=False)
    _renew: AsyncScript | None = field(default=None, repr=False)
    _base: tuple[datetime, float] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._claim = self.store.redis.register_script(_CLAIM)
        self._renew = self.store.redis.register_script(_RENEW)

    def start(self, now: datetime) -> None:
        """A tick at `now` begins: leases are measured from here."""
        self._base = (now, self.monotonic())

    def until(self, now: datetime) -> int:
        """Lease expiry (epoch seconds, whole) for a claim or renewal made now."""
        base, started = self._base or (now, self.monotonic())
        elapsed = max(0.0, self.monotonic() - started) if base == now else 0.0
        return math.ceil(now.timestamp() + elapsed + self.lease.total_seconds())

    async def claim(self, now: datetime, limit: int) -> list[int]:
        """Atomically take up to `limit` members due at `now`, leased until `until`."""
        assert self._claim is not None
        until = self.until(now)
        ids = await self._claim(keys=[self.store.keys.due()], args=[now.timestamp(), until, limit])
        claimed = [int(i) for i in ids]
        for uid in claimed:
            self.held[uid] = (until, None)
        return claimed

    def expiry(self, uid: int) -> int | None:
        """The lease expiry this process holds `uid` until (None: not held)."""
        item = self.held.get(uid)
        return item[0] if item else None

    def sending(self, uid: int, sent_key: str) -> None:
        """`uid`'s per-day key now says `sending:<its lease>`: renew it with the lease."""
        if uid in self.held:
            self.held[uid] = (self.held[uid][0], sent_key)

    def release(self, uid: int) -> None:
        """Done with `uid` (sent, rescheduled, failed or left to another process)."""
        self.held.pop(uid, None)

    async def renew(self, now: datetime) -> int:
        """Extend every held lease to `until(now)`; returns how many were still ours
        (the others are forgotten)."""
        if not self.held:
            return 0
        assert self._renew is not None
        new = self.until(now)
        items = list(self.held.items())
        due = self.store.keys.due()
        keys = [due] + [key or due for _, (_, key) in items]
        args: list[str | int] = [new]
        for uid, (until, _) in items:
            args += [uid, until]
        renewed = {int(i) for i in await self._renew(keys=keys, args=args)}
        for uid, (until, _key) in items:
            now_held = self.held.get(uid)
            if now_held is None or now_held[0] != until:  # released meanwhile
                continue
            if uid in renewed:
                self.held[uid] = (new, now_held[1])
            else:  # finished meanwhile, or another process took it over: let it go
                log.debug("briefing lease on user %s is no longer ours", uid)
                self.held.pop(uid, None)
        return len(renewed)

    async def beat(self, now: datetime) -> None:
        """Renew every `heartbeat` until cancelled (runs beside a tick)."""
        while True:
            await self.sleep(self.heartbeat.total_seconds())
            try:
                await self.renew(now)
            except Exception:  # Redis away for a moment: the next beat tries again
                log.warning("briefing lease heartbeat failed", exc_info=True)

    @contextlib.asynccontextmanager
    async def beating(self, now: datetime) -> AsyncIterator[Leases]:
        """Run the heartbeat for the duration of a tick at `now`. Whatever a tick left
        held (it died with its Redis) is dropped, never renewed by a later tick."""
        self.start(now)
        self.held.clear()
        task = asyncio.create_task(self.beat(now))
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.held.clear()
