"""Per-user limits, counted in Redis so they hold across bot processes.

* Rate: at most SUMMARY_RATE_PER_MINUTE new summaries (or questions) per user per
  minute, in fixed one-minute windows (`keys.rate(user, window)`). A request reserves
  a full unit before work starts; when it turns out to be a cache hit, most of the unit
  is refunded, so cache hits count lightly (CACHE_HIT_WEIGHT of a request).
* Budget: at most DAILY_TOKEN_BUDGET LLM tokens per user per UTC day
  (`keys.tokens(user, day)`), charged after the work with what it cost.

Admins (ADMIN_USER_IDS) are exempt from both. Over a limit, `reserve` raises
RateLimited(seconds=...) or BudgetExceeded(hours=...), and nothing is counted but the
hit itself (metrics.RATE_LIMIT_HITS, limit="summary_rate" / "token_budget").
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.errors import BudgetExceeded, RateLimited
from bot.store.redis import Pipeline, Store

UNIT = 10  # a new summary costs UNIT points of the per-minute allowance
CACHE_HIT_WEIGHT = 2  # a cache hit costs this many points (of UNIT)
WINDOW = 60

# INCRBY the window counter unless it would pass the limit; returns the new value or -1.
_RESERVE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -1 end
v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return v
"""


@dataclass(frozen=True)
class Ticket:
    """A reservation made by `reserve`; hand it back to `settle`."""

    user_id: int
    window_key: str | None  # None for admins (nothing was counted)


class Limits:
    """Checks and counts per-user limits; one instance per process, state in Redis."""

    def __init__(self, store: Store, settings: Settings, clock: Clock | None = None) -> None:
        self.store = store
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    def exempt(self, user_id: int) -> bool:
        return user_id in self.settings.admin_ids

    def _day(self) -> str:
        return self.clock.now().date().isoformat()

    async def reserve(self, user_id: int) -> Ticket:
        """Reserve one request for `user_id` before doing the work.

        Raises BudgetExceeded(hours=...) when today's token budget is used up, and
        RateLimited(seconds=...) when the user is over the per-minute rate.
        """
        if self.exempt(user_id):
            return Ticket(user_id, None)
        async with self.store.redis.pipeline(transaction=False) as pipe:
            check = self.queue_reserve(pipe, user_id)
            results = await pipe.execute()
        return await check(results)

    def queue_reserve(
        self, pipe: Pipeline, user_id: int
    ) -> Callable[[list[Any]], Awaitable[Ticket]]:
        """Queue what `reserve` sends on a caller's Redis pipeline (one round trip with
        other commands). Once the pipeline has run, await the returned check with its
        results: it returns the Ticket or raises what `reserve` raises."""
        if self.exempt(user_id):

            async def exempt(results: list[Any]) -> Ticket:
                return Ticket(user_id, None)

            return exempt
        now = self.clock.now()
        stamp = now.timestamp()
        window = int(stamp // WINDOW)
        key = self.store.keys.rate(user_id, window)
        limit = self.settings.summary_rate_per_minute * UNIT
        index = len(pipe)
        pipe.get(self.store.keys.tokens(user_id, self._day()))
        pipe.eval(_RESERVE, 1, key, UNIT, limit, WINDOW * 2)  # EVAL: no SCRIPT EXISTS trip

        async def check(results: list[Any]) -> Ticket:
            used_raw, value = results[index], results[index + 1]
            if int(used_raw or 0) >= self.settings.daily_token_budget:
                if int(value) >= 0:
                    await self.store.redis.decrby(key, UNIT)  # not counted after all
                metrics.RATE_LIMIT_HITS.labels(limit="token_budget").inc()
                midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
                raise BudgetExceeded(hours=max(1, math.ceil(midnight / 3600)))
            if int(value) < 0:
                metrics.RATE_LIMIT_HITS.labels(limit="summary_rate").inc()
                wait = max(1, math.ceil((window + 1) * WINDOW - stamp))
                raise RateLimited(seconds=wait)
            return Ticket(user_id, key)

        return check

    async def settle(self, ticket: Ticket, *, cached: bool, tokens: int = 0) -> None:
        """Finish a reservation: refund most of it for a cache hit, charge `tokens`."""
        if ticket.window_key is None:
            return
        async with self.store.redis.pipeline(transaction=False) as pipe:
            self.queue_settle(pipe, ticket, cached=cached, tokens=tokens)
            if len(pipe):
                await pipe.execute()

    def queue_settle(
        self, pipe: Pipeline, ticket: Ticket, *, cached: bool, tokens: int = 0
    ) -> None:
        """Queue what `settle` sends on a caller's Redis pipeline (the caller runs it)."""
        if ticket.window_key is None:
            return
        if cached:
            pipe.decrby(ticket.window_key, UNIT - CACHE_HIT_WEIGHT)
        if tokens > 0:
            key = self.store.keys.tokens(ticket.user_id, self._day())
            pipe.incrby(key, tokens)
            pipe.expire(key, 2 * 86400)

    async def cancel(self, ticket: Ticket) -> None:
        """Give the whole reservation back (the request failed before any work was done)."""
        if ticket.window_key is not None:
            await self.store.redis.decrby(ticket.window_key, UNIT)

    async def tokens_today(self, user_id: int) -> int:
        return int(await self.store.redis.get(self.store.keys.tokens(user_id, self._day())) or 0)
