"""Per-user limits, counted in Redis so they hold across bot processes.

* Rate: at most SUMMARY_RATE_PER_MINUTE new summaries (or questions) per user in ANY
  60 seconds: a sliding log (`keys.rate_log(user)`, a sorted set of the last minute's
  requests scored by time, each member carrying its weight), checked and appended by one
  Lua call. A request reserves a full unit before work starts; when it turns out to be a
  cache hit, its entry is re-weighted to CACHE_HIT_WEIGHT, so cache hits count lightly.
  (Fixed calendar-minute windows let 2x the rate through across a minute boundary.)
* Budget: at most DAILY_TOKEN_BUDGET LLM tokens per user per UTC day
  (`keys.tokens(user, day)`). Before an LLM computation the caller reserves its
  estimated cost (`hold_tokens`, atomic: refused when it does not fit); `settle` then
  charges the true cost minus what was held, refunding the difference. A charge past
  the hold never takes the counter more than one LLM call (`one_call_tokens`) past the
  budget: the digest flow stops starting calls once it has spent what it held, so the
  counter is clamped there.
* A request that fails keeps its rate unit once it did work (fetched, read, or called a
  model): `cancel(..., keep_unit=True)`; only one refused before any work (a link
  that is not a URL, no budget left) gives it back.

Why a hand-written script and not the `limits` library: its Redis strategies read
wall time (`time.time()`) inside the library, so the injectable clock (bot/clock.py)
could not drive them in tests, and it has no partial refund (the cache-hit weight).
The script is one key per call, so it fits a Redis Cluster as is; time comes from
`self.clock` in ARGV.

Admins (ADMIN_USER_IDS) are exempt from both. Over a limit, `reserve` raises
RateLimited(seconds=...) or BudgetExceeded(hours=...), and nothing is counted but the
hit itself (metrics.RATE_LIMIT_HITS, limit="summary_rate" / "token_budget").
"""

from __future__ import annotations

import math
import uuid
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

# KEYS[1] the user's log; ARGV now_ms, window_ms, cost, limit, member ('<id>:<weight>').
# Drops entries older than the window, sums the weights left; adds the member when the
# cost fits and returns {1, used}, else {0, ms until enough weight has left the window}.
_RESERVE = """
local now, win = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], ':(%d+)$'))
end
if used + cost > limit then
  local excess = used + cost - limit
  for i = 1, #entries, 2 do
    excess = excess - tonumber(string.match(entries[i], ':(%d+)$'))
    if excess <= 0 then return {0, tonumber(entries[i + 1]) + win - now} end
  end
  return {0, win}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], win)
return {1, used + cost}
"""

# KEYS[1] today's token counter; ARGV amount (> 0), cap, ttl: adds the amount, but takes
# the counter no higher than the cap (nor lower than it was) -> the new value
_CHARGE = """
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local v = before + tonumber(ARGV[1])
if v > tonumber(ARGV[2]) then v = math.max(before, tonumber(ARGV[2])) end
redis.call('SET', KEYS[1], v, 'EX', ARGV[3])
return v
"""
# the most output one LLM call of a digest may write (a detailed digest, with room)
MAX_CALL_OUTPUT_TOKENS = 2600

# KEYS[1] today's token counter; ARGV amount, budget, ttl -> new value, or -1 - what is
# left of the budget (no room)
_HOLD = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return -1 - math.max(0, tonumber(ARGV[2]) - used)
end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return v
"""


@dataclass(frozen=True)
class Ticket:
    """A reservation made by `reserve`; hand it back to `settle`."""

    user_id: int
    window_key: str | None  # None for admins (nothing was counted)
    member: str = ""  # the request's entry in the sliding log
    stamp_ms: int = 0  # its score


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
        stamp = int(now.timestamp() * 1000)
        key = self.store.keys.rate_log(user_id)
        member = f"{uuid.uuid4().hex}:{UNIT}"
        limit = self.settings.summary_rate_per_minute * UNIT
        index = len(pipe)
        pipe.get(self.store.keys.tokens(user_id, self._day()))
        # EVAL: no SCRIPT EXISTS trip
        pipe.eval(_RESERVE, 1, key, stamp, WINDOW * 1000, UNIT, limit, member)
        ticket = Ticket(user_id, key, member, stamp)

        async def check(results: list[Any]) -> Ticket:
            used_raw, (ok, value) = results[index], results[index + 1]
            if int(used_raw or 0) >= self.settings.daily_token_budget:
                if int(ok):
                    await self.cancel(ticket)  # not counted after all
                metrics.RATE_LIMIT_HITS.labels(limit="token_budget").inc()
                raise BudgetExceeded(hours=self._hours_to_midnight())
            if not int(ok):
                metrics.RATE_LIMIT_HITS.labels(limit="summary_rate").inc()
                raise RateLimited(seconds=max(1, math.ceil(int(value) / 1000)))
            return ticket

        return check

    def _hours_to_midnight(self) -> int:
        now = self.clock.now()
        midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
        return max(1, math.ceil(midnight / 3600))

    async def hold_tokens(self, ticket: Ticket, estimate: int) -> int:
        """Reserve `estimate` tokens of today's budget for the request, atomically, before
        its LLM work starts; returns the amount held (0 for admins), to hand to `settle`.

        Raises BudgetExceeded(hours=..., left=tokens still free today) when it does not
        fit in what is left today.
        """
        if ticket.window_key is None or estimate <= 0:
            return 0
        key = self.store.keys.tokens(ticket.user_id, self._day())
        budget = self.settings.daily_token_budget
        value = await self.store.redis.eval(_HOLD, 1, key, estimate, budget, 2 * 86400)
        if int(value) < 0:
            metrics.RATE_LIMIT_HITS.labels(limit="token_budget").inc()
            raise BudgetExceeded(hours=self._hours_to_midnight(), left=-1 - int(value))
        return estimate

    async def spend(self, user_id: int, tokens: int) -> None:
        """Charge `tokens` to `user_id`'s budget today, atomically, if they fit (work
        with no rate unit of its own, e.g. an on-demand briefing's items from the
        user's own sources). Admins are exempt. Raises BudgetExceeded(hours=...) when
        it does not fit."""
        if self.exempt(user_id) or tokens <= 0:
            return
        key = self.store.keys.tokens(user_id, self._day())
        budget = self.settings.daily_token_budget
        value = await self.store.redis.eval(_HOLD, 1, key, tokens, budget, 2 * 86400)
        if int(value) < 0:
            metrics.RATE_LIMIT_HITS.labels(limit="token_budget").inc()
            raise BudgetExceeded(hours=self._hours_to_midnight(), left=-1 - int(value))

    async def settle(self, ticket: Ticket, *, cached: bool, tokens: int = 0, held: int = 0) -> None:
        """Finish a reservation: refund most of it for a cache hit, charge `tokens`
        (less the `held` estimate already charged by `hold_tokens`)."""
        if ticket.window_key is None:
            return
        async with self.store.redis.pipeline(transaction=False) as pipe:
            self.queue_settle(pipe, ticket, cached=cached, tokens=tokens, held=held)
            if len(pipe):
                await pipe.execute()

    def queue_settle(
        self, pipe: Pipeline, ticket: Ticket, *, cached: bool, tokens: int = 0, held: int = 0
    ) -> None:
        """Queue what `settle` sends on a caller's Redis pipeline (the caller runs it)."""
        if ticket.window_key is None:
            return
        if cached:
            pipe.zrem(ticket.window_key, ticket.member)
            light = ticket.member.rsplit(":", 1)[0] + f":{CACHE_HIT_WEIGHT}"
            pipe.zadd(ticket.window_key, {light: ticket.stamp_ms})
        key = self.store.keys.tokens(ticket.user_id, self._day())
        if tokens > held:  # spent past the hold: at most one call past the budget
            cap = self.settings.daily_token_budget + self.one_call_tokens()
            pipe.eval(_CHARGE, 1, key, tokens - held, cap, 2 * 86400)
        elif tokens < held:
            pipe.incrby(key, tokens - held)
            pipe.expire(key, 2 * 86400)

    def charge(self, tokens: int, cached: int = 0) -> int:
        """What `tokens` spent cost the budget when `cached` of them were prompt tokens
        the server read from its prefix cache (LLM_CACHED_INPUT_PRICE each, rounded up)."""
        cached = max(0, min(cached, tokens))
        price = self.settings.llm_cached_input_price
        return tokens - cached + math.ceil(cached * price)

    def one_call_tokens(self) -> int:
        """The most one LLM call of a digest costs: a full prompt and the longest reply."""
        return self.settings.llm_max_input_tokens + MAX_CALL_OUTPUT_TOKENS

    async def cancel(self, ticket: Ticket, *, held: int = 0, keep_unit: bool = False) -> None:
        """Give the reservation back: the `held` tokens, and the rate unit unless
        `keep_unit` (the request failed after doing work: it keeps its unit)."""
        if ticket.window_key is None or (keep_unit and not held):
            return
        async with self.store.redis.pipeline(transaction=False) as pipe:
            if not keep_unit:
                pipe.zrem(ticket.window_key, ticket.member)
            if held:
                pipe.decrby(self.store.keys.tokens(ticket.user_id, self._day()), held)
            await pipe.execute()

    async def tokens_today(self, user_id: int) -> int:
        return int(await self.store.redis.get(self.store.keys.tokens(user_id, self._day())) or 0)


@dataclass
class Hold:
    """What one request holds of today's budget: call it with an estimate before LLM
    work (`hold_tokens`; returns what is held in all, 0 for admins), then hand `held`
    to `settle` or `cancel`."""

    limits: Limits
    ticket: Ticket
    held: int = 0

    async def __call__(self, estimate: int) -> int:
        self.held += await self.limits.hold_tokens(self.ticket, estimate)
        return self.held


# --- cheap commands and /forget: counted, never charged ------------------------------------
#
# Commands that make no LLM call (/help, /start, /briefing, /sources, settings ...) are not
# charged to the summary rate, but each reply is a message, and Telegram paces a group at
# 20 a minute: without a limit one member could keep a group's (and the bot's) sending
# busy. Each user may send COMMANDS_PER_MINUTE commands in any 60 seconds; over it, the
# first extra command gets one short notice and the rest are dropped silently until the
# window has room again. /forget has its own, slower limit (FORGET_PER_HOUR): it scans
# the store.

FORGET_PER_HOUR = 3
NOTICE = "notice"  # the log member marking the one notice of a window

# KEYS[1] the log; ARGV now_ms, window_ms, limit, member -> {1, 0} counted; else
# {0, ms until a place frees} the first time over the limit in the window (a notice is
# due, and marked), {-1, ms} after that
_COUNT = """
local now, win, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local n = redis.call('ZCARD', KEYS[1])
local noticed = redis.call('ZSCORE', KEYS[1], 'notice')
if noticed then n = n - 1 end
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], win)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + win - now
if noticed then return {-1, wait} end
redis.call('ZADD', KEYS[1], now, 'notice')
redis.call('PEXPIRE', KEYS[1], win)
return {0, wait}
"""


@dataclass(frozen=True)
class Verdict:
    """Whether a counted action may go on; when not, whether to say so (`notice`: the
    first refusal of its window) and in how many seconds a place frees."""

    allowed: bool
    notice: bool = False
    seconds: int = 0


async def _count(
    limits: Limits, user_id: int, key: str, limit: int, window_s: int, label: str
) -> Verdict:
    if limits.exempt(user_id):
        return Verdict(True)
    stamp = int(limits.clock.now().timestamp() * 1000)
    member = uuid.uuid4().hex
    status, wait_ms = await limits.store.redis.eval(
        _COUNT, 1, key, stamp, window_s * 1000, limit, member
    )
    if int(status) == 1:
        return Verdict(True)
    metrics.RATE_LIMIT_HITS.labels(limit=label).inc()
    seconds = max(1, math.ceil(int(wait_ms) / 1000))
    return Verdict(False, notice=int(status) == 0, seconds=seconds)


async def allow_command(limits: Limits, user_id: int) -> Verdict:
    """Count one command of `user_id` against COMMANDS_PER_MINUTE (admins exempt)."""
    key = limits.store.keys.command_log(user_id)
    limit = limits.settings.commands_per_minute
    return await _count(limits, user_id, key, limit, WINDOW, "commands")


async def allow_forget(limits: Limits, user_id: int) -> Verdict:
    """Count one /forget of `user_id` against FORGET_PER_HOUR (admins exempt)."""
    key = limits.store.keys.forget_log(user_id)
    return await _count(limits, user_id, key, FORGET_PER_HOUR, 3600, "forget")
