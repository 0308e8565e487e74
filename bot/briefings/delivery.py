"""The delivery tick: claim due subscribers, send each one briefing, reschedule.

Correct with any number of processes sharing one Redis:

* **Claim.** A Lua script takes up to `batch` members of the due set whose score is
  <= now and, in the same step, re-scores them to their lease expiry. Another
  process's claim no longer sees them, so two processes never both take one subscriber.
* **Lease.** Short (45 s) and renewed by a heartbeat every 15 s while the process
  lives (`lease.py`). If the process dies before rescheduling, the member's score is
  the lease expiry: it becomes claimable again then, and the next tick of any
  survivor delivers it (within lease + one tick, under 2 minutes). Nobody is lost.
* **Idempotency.** Before sending, a per-subscriber, per-local-date key is set to
  `sending:<lease expiry>`; after Telegram accepted the message it becomes `done`.
  A claim that finds `done` counts `already_sent` and only reschedules; one that finds
  an unexpired `sending:` leaves the subscriber to the process in flight. At most one
  briefing per subscriber per local day, except:
* **Crash bound.** A `kill -9` after Telegram accepted a message but before the key
  says `done` lets that subscriber get the briefing again when the lease expires. The
  duplicates are bounded by the sends in flight at the kill: at most `concurrency`
  (default 16) subscribers, each once. (A process stalled past its lease, e.g. a
  frozen event loop, can lose members it is sending to the same way; the heartbeat
  then stops renewing them.)
* **Grace.** A slot older than `grace` (BRIEFING_GRACE_HOURS) when claimed is skipped
  to the next day (`late_skipped`); otherwise the briefing goes out late.

Round trips are shared. A tick loads the subscriptions of a whole claimed batch in one
pipeline; the idempotency checks of the subscribers reaching that step together run as
one Lua call (`_BEGIN` over many keys: each key is still checked and set atomically),
and their done-marks and reschedules as one {sched} MULTI. A task still waits for its
own write to land before its concurrency slot frees, so the crash bound above holds.

Every outcome is counted: sent (a briefing, or the short "nothing new" line when
BRIEFING_SKIP_EMPTY is off), skipped_empty (nothing new and BRIEFING_SKIP_EMPTY on),
blocked (403: unsubscribed), failed (retries exhausted: retried by a later tick within
the grace window), already_sent, late_skipped; plus in_flight / gone / replanned for
diagnostics.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from redis.commands.core import AsyncScript

from bot import metrics
from bot.briefings import subscriptions as subs
from bot.briefings.batched import Batched as Batched  # re-exported (tests, compose)
from bot.briefings.lease import HEARTBEAT, LEASE, Leases
from bot.briefings.limiter import RateLimiter
from bot.briefings.schedule import next_due, slot_date
from bot.briefings.subscriptions import Subscription
from bot.messages import Button
from bot.store.redis import Store

log = logging.getLogger(__name__)

OUTCOMES = ("sent", "skipped_empty", "blocked", "failed", "already_sent", "late_skipped")
SENT_TTL = 3 * 24 * 3600  # the per-day key outlives any local day in any zone


class SendBlocked(Exception):
    """Telegram answered 403: the user blocked the bot or the chat is gone."""


class SendRetryAfter(Exception):
    """Telegram answered 429; wait `seconds` before retrying."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class SendFailed(Exception):
    """Any other send failure (network, 5xx, 400): retried with back-off, bounded."""


class SendMoved(Exception):
    """Telegram answered that the group is now the supergroup `chat_id` (a 400 with
    `migrate_to_chat_id`: the bot missed or has not yet handled the upgrade)."""

    def __init__(self, chat_id: int) -> None:
        super().__init__(f"the group is now supergroup {chat_id}")
        self.chat_id = chat_id


class Sender(Protocol):
    async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        """Send one HTML message; return its message id. Raises SendBlocked,
        SendRetryAfter, SendMoved or SendFailed."""
        ...


@dataclass
class Rendered:
    """A briefing ready to send: message parts (HTML, keyboard); `empty` = nothing new."""

    parts: list[tuple[str, list[list[Button]]]]
    empty: bool = False
    told: list[Any] = field(default_factory=list)  # compose.Told: recorded once sent
    updates: int = 0  # items that are updates of a story told before
    left_out: int = 0  # told stories left out: nothing new


Builder = Callable[[Subscription, datetime], Awaitable[Rendered]]
Sleep = Callable[[float], Awaitable[None]]

# KEYS sent keys; ARGV now, lease_until, ttl -> per key 'ok' | 'done' | 'busy'
_BEGIN = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local state = 'ok'
  if v == 'done' then
    state = 'done'
  elseif v then
    local until_ts = tonumber(string.sub(v, 9))
    if until_ts and until_ts > tonumber(ARGV[1]) then state = 'busy' end
  end
  if state == 'ok' then
    redis.call('SET', key, 'sending:' .. ARGV[2], 'EX', tonumber(ARGV[3]))
  end
  out[i] = state
end
return out
"""


# KEYS[1] due zset, then per item its subscription hash and, when ARGV says it was
# sent, its sent key; ARGV[1] sent-key ttl, then per item: user id, next slot (epoch
# seconds), last_sent (epoch seconds, or '' for a reschedule only). A subscription
# deleted meanwhile (/unsubscribe during the send) is not brought back.
_FINISH = """
local ttl = tonumber(ARGV[1])
local k = 2
for i = 2, #ARGV, 3 do
  local uid, slot, last = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local sub = KEYS[k]
  if last ~= '' then
    redis.call('SET', KEYS[k + 1], 'done', 'EX', ttl)
    k = k + 2
  else
    k = k + 1
  end
  if redis.call('EXISTS', sub) == 1 then
    if last ~= '' then
      redis.call('HSET', sub, 'slot', slot, 'last_sent', last)
    else
      redis.call('HSET', sub, 'slot', slot)
    end
    redis.call('ZADD', KEYS[1], slot, uid)
  end
end
return 1
"""


@dataclass
class Delivery:
    """Runs ticks against one Redis. Safe to run in many processes at once."""

    store: Store
    sender: Sender
    builder: Builder
    grace: timedelta = timedelta(hours=6)
    skip_empty: bool = False
    limiter: RateLimiter | None = None
    lease: timedelta = LEASE
    heartbeat: timedelta = HEARTBEAT
    beat_sleep: Sleep = asyncio.sleep  # the heartbeat's wait (tests call renew instead)
    batch: int = 200
    concurrency: int = 16
    max_attempts: int = 4
    max_retry_after: int = 5  # 429 waits honoured per message before giving up (failed)
    backoff: float = 1.0
    sleep: Sleep = asyncio.sleep
    # 403: (user id, their private chat or None) -> forget them; wired by the composition
    # root (bot/privacy.py), so briefings never import what lies above them
    on_blocked: Callable[[int, int | None], Awaitable[None]] | None = None
    # a group found upgraded to a supergroup while sending: (old id, new id) -> move its
    # data (bot/supergroups.py, wired by the composition root); without it, only the
    # subscription and its briefing data move
    on_moved: Callable[[int, int], Awaitable[None]] | None = None
    on_progress: Callable[[int], None] | None = None
    # after a briefing was sent: (subscription, what was sent, now) -> remember it
    # (the composer's story memory; a failure there never fails the delivery)
    on_sent: Callable[[Subscription, Rendered, datetime], Awaitable[None]] | None = None
    leases: Leases = field(init=False, repr=False)
    _begin: AsyncScript | None = field(default=None, repr=False)
    _begins: Batched | None = field(default=None, repr=False)
    _writes: Batched | None = field(default=None, repr=False)
    _finish_script: AsyncScript | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.leases = Leases(
            self.store, lease=self.lease, heartbeat=self.heartbeat, sleep=self.beat_sleep
        )
        self._begin = self.store.redis.register_script(_BEGIN)
        self._begins = Batched(self._begin_many)
        self._writes = Batched(self._write_many)
        self._finish_script = self.store.redis.register_script(_FINISH)

    async def claim(self, now: datetime, limit: int) -> list[int]:
        """Atomically take up to `limit` due subscribers, leasing them (see lease.py)."""
        return await self.leases.claim(now, limit)

    async def tick(self, now: datetime) -> Counter[str]:
        """Deliver every briefing due at `now`; return the outcome counts."""
        counts: Counter[str] = Counter({name: 0 for name in OUTCOMES})
        sem = asyncio.Semaphore(self.concurrency)

        async def one(uid: int, sub: Subscription | None) -> None:
            async with sem:
                try:
                    outcome = await self._deliver(uid, sub, now)
                except Exception:  # one subscriber never stops the tick
                    log.exception("briefing for user %s failed", uid)
                    outcome = "failed"
                finally:
                    self.leases.release(uid)
                counts[outcome] += 1
                counts["sent_to_groups"] += int(uid < 0 and outcome == "sent")  # and channels
                metrics.BRIEFINGS.labels(outcome=outcome).inc()
                if self.on_progress:
                    self.on_progress(1)

        async with self.leases.beating(now):
            while ids := await self.claim(now, self.batch):
                loaded = await self._load(ids)
                await asyncio.gather(*(one(u, sub) for u, sub in zip(ids, loaded, strict=True)))
        return counts

    async def deliver(self, user_id: int, now: datetime) -> str:
        """Handle one claimed subscriber; return the outcome name."""
        try:
            return await self._deliver(user_id, await subs.get(self.store, user_id), now)
        finally:
            self.leases.release(user_id)

    async def _load(self, ids: list[int]) -> list[Subscription | None]:
        """The claimed subscriptions in one pipeline, as `subscriptions.get` reads them
        (the user's /language preference wins over the language saved at /subscribe)."""
        k = self.store.keys
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for uid in ids:
                pipe.hgetall(k.subscription(uid))
                pipe.hget(k.user(uid), "lang")
            raw = await pipe.execute()
        out: list[Subscription | None] = []
        for data, pref in zip(raw[::2], raw[1::2], strict=True):
            if not data:
                out.append(None)
                continue
            if pref in ("ar", "en"):
                data["lang"] = pref
            out.append(Subscription.from_hash(data))
        return out

    async def _deliver(self, user_id: int, sub: Subscription | None, now: datetime) -> str:
        k = self.store.keys
        if sub is None:
            await self.store.redis.zrem(k.due(), str(user_id))
            return "gone"
        if sub.slot > now:  # re-planned meanwhile (new time or zone): put it back
            await self.store.redis.zadd(k.due(), {str(user_id): sub.slot.timestamp()})
            return "replanned"
        if now - sub.slot > self.grace:
            await self._reschedule(sub, now)
            return "late_skipped"
        sent_key = k.sent(user_id, slot_date(sub.slot, sub.tz).isoformat())
        assert self._begins is not None
        until = self.leases.expiry(user_id) or self.leases.until(now)
        state = await self._begins((sent_key, now, until))
        if state == "ok":
            self.leases.sending(user_id, sent_key)  # the heartbeat renews the key too
        if state == "done":
            await self._reschedule(sub, now)
            return "already_sent"
        if state == "busy":
            return "in_flight"
        rendered = await self.builder(sub, now)
        if rendered.empty and self.skip_empty:
            await self._finish(sub, sent_key, now)
            return "skipped_empty"
        try:
            for html, buttons in rendered.parts:
                await self._send(sub.chat_id, html, buttons)
        except SendBlocked:
            await self._blocked(sub)
            return "blocked"
        except SendMoved as exc:
            # not sent: the mark goes, and the moved subscription (due at the same slot)
            # is delivered to the supergroup by the next tick
            await self.store.redis.delete(sent_key)
            await self._moved(sub, exc.chat_id)
            return "moved"
        except SendFailed:
            # Let the lease expire and a later tick retry (within the grace window).
            await self.store.redis.delete(sent_key)
            return "failed"
        if self.on_sent is not None:
            try:
                await self.on_sent(sub, rendered, now)
            except Exception:
                log.exception("remembering the briefing of user %s failed", sub.user_id)
        await self._finish(sub, sent_key, now)
        return "sent"  # a briefing, or the short "nothing new" line

    async def _send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        """Send one part: honour 429 retry_after, back off on other failures (bounded)."""
        failures = throttled = 0
        while True:
            if self.limiter is not None:
                await self.limiter.acquire()
            try:
                return await self.sender.send(chat_id, html, buttons)
            except SendRetryAfter as exc:
                metrics.RATE_LIMIT_HITS.labels(limit="telegram_429").inc()
                throttled += 1
                if throttled > self.max_retry_after:
                    raise SendFailed(f"still throttled after {throttled - 1} waits") from None
                log.info("429 for chat %s: waiting %.1fs", chat_id, exc.seconds)
                await self.sleep(exc.seconds)
            except SendFailed as exc:
                failures += 1
                if failures >= self.max_attempts:
                    log.warning("briefing to chat %s failed %d times: %s", chat_id, failures, exc)
                    raise
                await self.sleep(self.backoff * 2 ** (failures - 1))

    async def _finish(self, sub: Subscription, sent_key: str, now: datetime) -> None:
        """Mark the day done and reschedule (one MULTI shared with concurrent finishers)."""
        assert self._writes is not None
        await self._writes((sub, sent_key, now))

    async def _reschedule(self, sub: Subscription, now: datetime) -> None:
        assert self._writes is not None
        await self._writes((sub, None, now))

    async def _begin_many(self, items: list[tuple[str, datetime, int]]) -> list[str]:
        """One `_BEGIN` call per distinct (now, lease expiry) (all keys share {sched})."""
        assert self._begin is not None
        states: dict[int, str] = {}
        by_now: dict[tuple[datetime, int], list[int]] = {}
        for i, (_, now, until) in enumerate(items):
            by_now.setdefault((now, until), []).append(i)
        for (now, until), idx in by_now.items():
            out = await self._begin(
                keys=[items[i][0] for i in idx],
                args=[now.timestamp(), until, SENT_TTL],
            )
            states.update(zip(idx, (str(v) for v in out), strict=True))
        return [states[i] for i in range(len(items))]

    async def _write_many(
        self, items: list[tuple[Subscription, str | None, datetime]]
    ) -> list[None]:
        """Reschedules (and done-marks, when a sent key is given): one `_FINISH` call,
        atomic like a {sched} MULTI but with one reply to parse."""
        assert self._finish_script is not None
        k = self.store.keys
        keys: list[str] = [k.due()]
        args: list[str | int] = [SENT_TTL]
        for sub, sent_key, now in items:
            nxt = next_due(sub.hhmm, sub.tz, max(now, sub.slot))
            keys.append(k.subscription(sub.user_id))
            if sent_key is not None:
                keys.append(sent_key)
            last = "" if sent_key is None else str(int(now.timestamp()))
            args += [str(sub.user_id), str(int(nxt.timestamp())), last]
        await self._finish_script(keys=keys, args=args)
        return [None] * len(items)

    async def _moved(self, sub: Subscription, new: int) -> None:
        log.info("group %s is now supergroup %s: moving its briefing", sub.chat_id, new)
        if self.on_moved is not None:
            await self.on_moved(sub.user_id, new)
        else:
            await subs.move(self.store, sub.user_id, new)

    async def _blocked(self, sub: Subscription) -> None:
        """403: unsubscribe and delete the user's briefing data (issue 6)."""
        log.info("chat %s blocked the bot: unsubscribing user %s", sub.chat_id, sub.user_id)
        private = sub.chat_id if sub.chat_id == sub.user_id else None
        if self.on_blocked is not None:
            await self.on_blocked(sub.user_id, private)
        else:
            await subs.forget_user(self.store, sub.user_id)


def format_counts(counts: Counter[str]) -> str:
    """One line: the six outcomes always, then any diagnostics that happened."""
    parts = [f"{name}={counts.get(name, 0)}" for name in OUTCOMES]
    parts += [f"{n}={c}" for n, c in sorted(counts.items()) if n not in OUTCOMES and c]
    return " ".join(parts)
