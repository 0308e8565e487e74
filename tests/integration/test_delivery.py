"""Delivery tick against a real Redis and the fake Bot API (real python-telegram-bot)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from telegram import Bot

from bot.briefings import subscriptions as subs
from bot.briefings.delivery import Batched, Delivery, Rendered, format_counts
from bot.briefings.subscriptions import Subscription
from bot.messages import Button
from bot.privacy import forget_user
from bot.store.redis import Store
from bot.telegram.sender import TelegramSender
from tests.fakes.botapi import BotAPI

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 07:00 in Riyadh


async def build(sub: Subscription, now: datetime) -> Rendered:
    html = f"<b>Briefing</b> for {sub.user_id} ({sub.lang}) {now:%Y-%m-%d}"
    return Rendered([(html, [[Button("Unsubscribe", callback="bu")]])])


async def build_empty(sub: Subscription, now: datetime) -> Rendered:
    return Rendered([("nothing new", [])], empty=True)


class Sleeps:
    """Records the waits delivery asks for, without waiting (no sleeps in tests)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def sender(botapi: BotAPI) -> AsyncIterator[TelegramSender]:
    s = TelegramSender(Bot(botapi.token, base_url=botapi.base_url))
    await s.start()
    try:
        yield s
    finally:
        await s.close()


def make(store: Store, sender: TelegramSender, **kw: object) -> Delivery:
    kw.setdefault("builder", build)
    kw.setdefault("sleep", Sleeps())

    async def forget(user_id: int, private_chat_id: int | None) -> None:  # as bot/app.py wires it
        await forget_user(store, user_id, private_chat_id=private_chat_id)

    kw.setdefault("on_blocked", forget)
    return Delivery(store=store, sender=sender, **kw)  # type: ignore[arg-type]


async def add(
    store: Store,
    uid: int,
    *,
    tz: str = "Asia/Riyadh",
    at: time = time(7, 0),
    now: datetime = T0 - timedelta(hours=12),
    lang: str = "ar",
) -> Subscription:
    return await subs.subscribe(store, user_id=uid, chat_id=uid, hhmm=at, tz=tz, lang=lang, now=now)


async def test_due_subscriber_gets_one_briefing_and_is_rescheduled(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    await add(store, 2, at=time(9, 0))  # not due yet at 07:00
    d = make(store, sender)
    counts = await d.tick(T0)
    assert counts["sent"] == 1
    assert [s.chat_id for s in botapi.sent] == [1]
    msg = botapi.sent[0]
    assert msg.parse_mode == "HTML" and msg.disable_preview
    assert msg.buttons[0]["callback_data"] == "bu"
    sub = await subs.get(store, 1)
    assert sub is not None and sub.slot == T0 + timedelta(days=1)
    assert sub.last_sent == T0
    # Same instant again: nothing is due any more.
    again = await d.tick(T0)
    assert sum(again.values()) == 0
    assert len(botapi.sent) == 1


async def test_two_processes_same_instant_each_subscriber_exactly_once(
    store: Store, botapi: BotAPI, redis_url: str
) -> None:
    from bot.store.redis import client_for

    n = 60
    for uid in range(1, n + 1):
        await add(store, uid, tz=["Asia/Riyadh", "Europe/London"][uid % 2])
    # Second "process": its own Redis connection and its own Bot client.
    other = Store(redis=client_for(redis_url), keys=store.keys, url=redis_url)
    s1 = TelegramSender(Bot(botapi.token, base_url=botapi.base_url))
    s2 = TelegramSender(Bot(botapi.token, base_url=botapi.base_url))
    await s1.start()
    await s2.start()
    try:
        # London's 07:00 on 2 March is 07:00 UTC: tick when both zones are due.
        now = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
        d1 = make(store, s1, batch=7, concurrency=4)
        d2 = make(other, s2, batch=7, concurrency=4)
        c1, c2 = await asyncio.gather(d1.tick(now), d2.tick(now))
    finally:
        await s1.close()
        await s2.close()
        await other.redis.aclose()
    chats = [s.chat_id for s in botapi.sent]
    assert sorted(chats) == list(range(1, n + 1))  # everyone, nobody twice
    assert c1["sent"] + c2["sent"] == n
    assert c1["sent"] > 0 and c2["sent"] > 0  # both really worked


async def test_crash_after_claim_lease_expires_and_nobody_is_lost(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    await add(store, 2)
    d = make(store, sender)
    claimed = await d.claim(T0, 10)  # a process claims ... and dies before sending
    assert sorted(claimed) == [1, 2]
    assert sum((await d.tick(T0 + timedelta(seconds=30))).values()) == 0  # still leased
    counts = await d.tick(T0 + d.lease + timedelta(seconds=1))
    assert counts["sent"] == 2
    assert sorted(s.chat_id for s in botapi.sent) == [1, 2]
    # recovery (lease + one 60 s tick) within 2 minutes, not the old 10-minute lease
    assert d.lease + timedelta(minutes=1) <= timedelta(minutes=2)


class Monotonic:
    """A monotonic clock that moves when told (the lease heartbeat's elapsed time)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_heartbeat_keeps_a_slow_broadcast_claimed_until_it_finishes(
    store: Store, botapi: BotAPI
) -> None:
    """A live process renews its leases: a survivor ticking after the first lease would
    have expired takes nothing, and the subscriber gets one briefing."""
    await add(store, 1)
    entered, go = asyncio.Event(), asyncio.Event()
    sent: list[int] = []

    class SlowSender:
        async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
            entered.set()
            await go.wait()  # Telegram throttling us for a long while
            sent.append(chat_id)
            return len(sent)

    clock = Monotonic()
    slow = Delivery(store=store, sender=SlowSender(), builder=build)  # type: ignore[arg-type]
    slow.leases.monotonic = clock
    survivor = Delivery(store=store, sender=SlowSender(), builder=build)  # type: ignore[arg-type]
    task = asyncio.create_task(slow.tick(T0))
    await asyncio.wait_for(entered.wait(), 10)
    clock.t += 40  # 40 s into the broadcast: the heartbeat renews
    assert await slow.leases.renew(T0) == 1
    sent_key = store.keys.sent(1, "2026-03-02")
    assert await store.redis.get(sent_key) == f"sending:{int(T0.timestamp()) + 85}"
    counts = await survivor.tick(T0 + timedelta(seconds=61))  # the first lease is over
    assert sum(counts.values()) == 0  # still ours
    go.set()
    assert (await task)["sent"] == 1
    assert sent == [1] and not slow.leases.held
    assert await store.redis.get(sent_key) == "done"


async def test_a_lease_taken_over_is_never_renewed_by_the_old_holder(store: Store) -> None:
    await add(store, 1)
    stalled = Delivery(store=store, sender=None, builder=build)  # type: ignore[arg-type]
    other = Delivery(store=store, sender=None, builder=build)  # type: ignore[arg-type]
    assert await stalled.claim(T0, 10) == [1]
    later = T0 + stalled.lease + timedelta(seconds=1)  # it stalled past its lease
    assert await other.claim(later, 10) == [1]
    assert await stalled.leases.renew(T0) == 0 and not stalled.leases.held
    score = await store.redis.zscore(store.keys.due(), "1")
    assert score == other.leases.expiry(1)


async def test_crash_after_marking_sending_is_retried_after_lease(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    d = make(store, sender)

    async def crash(sub: Subscription, now: datetime) -> Rendered:
        raise SystemExit("kill -9 stand-in: died between marking and sending")

    dying = make(store, sender, builder=crash)
    await dying.claim(T0, 10)
    with pytest.raises(SystemExit):
        await dying.deliver(1, T0)
    assert botapi.sent == []
    later = T0 + d.lease + timedelta(seconds=1)
    counts = await d.tick(later)
    assert counts["sent"] == 1
    # The next tick in the same local day finds the key `done` (re-subscribed for a
    # slot already passed at `later`, 46 s after 07:00).
    await subs.subscribe(
        store,
        user_id=1,
        chat_id=1,
        hhmm=time(7, 0),
        tz="Asia/Riyadh",
        lang="ar",
        now=later - timedelta(minutes=30),
    )
    counts = await d.tick(later)
    assert counts["already_sent"] == 1
    assert len(botapi.sent) == 1


async def test_restart_within_grace_sends_late_and_after_grace_skips(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    await add(store, 2, at=time(1, 0))  # 01:00 Riyadh = 22:00 UTC the day before
    d = make(store, sender)  # grace 6 h
    counts = await d.tick(T0 + timedelta(hours=5))  # bot was down from 03:00 to 09:00 UTC
    assert counts["sent"] == 1  # user 1: 5 h late, within grace
    assert counts["late_skipped"] == 1  # user 2: 11 h late
    assert [s.chat_id for s in botapi.sent] == [1]
    sub2 = await subs.get(store, 2)
    assert sub2 is not None and sub2.slot == datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    counts = await d.tick(datetime(2026, 3, 2, 22, 0, tzinfo=UTC))
    assert counts["sent"] == 1 and botapi.sent[-1].chat_id == 2


async def test_dst_seven_oclock_london_on_both_sides(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 5, tz="Europe/London", now=datetime(2026, 3, 28, 0, 0, tzinfo=UTC))
    d = make(store, sender)
    assert (await d.tick(datetime(2026, 3, 28, 7, 0, tzinfo=UTC)))["sent"] == 1  # GMT
    assert sum((await d.tick(datetime(2026, 3, 29, 5, 59, tzinfo=UTC))).values()) == 0
    assert (await d.tick(datetime(2026, 3, 29, 6, 0, tzinfo=UTC)))["sent"] == 1  # BST
    assert len(botapi.sent) == 2


async def test_403_unsubscribes_and_removes_user_data(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    await add(store, 2)
    await store.redis.hset(store.keys.user_sources(2), "http://x/feed", "{}")
    botapi.fail(2, 403)
    counts = await make(store, sender).tick(T0)
    assert counts["blocked"] == 1 and counts["sent"] == 1
    assert await subs.get(store, 2) is None
    assert await store.redis.zscore(store.keys.due(), "2") is None
    assert not await store.redis.exists(store.keys.user_sources(2), store.keys.user(2))
    left = [k for p in store.keys.user_counter_patterns(2) async for k in store.redis.scan_iter(p)]
    assert left == []  # not even today's send mark
    assert await subs.get(store, 1) is not None


async def test_429_retry_after_is_honoured(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    from bot import metrics

    hits = metrics.value("digestbot_rate_limit_hits_total", limit="telegram_429")
    sent = metrics.value("digestbot_briefings_total", outcome="sent")
    await add(store, 1)
    botapi.fail(1, 429, retry_after=3)
    sleeps = Sleeps()
    counts = await make(store, sender, sleep=sleeps).tick(T0)
    assert counts["sent"] == 1
    assert metrics.value("digestbot_rate_limit_hits_total", limit="telegram_429") == hits + 1
    assert metrics.value("digestbot_briefings_total", outcome="sent") == sent + 1
    assert sleeps.waits == [3.0]
    assert [e[1] for e in botapi.errors] == [429]
    assert len(botapi.sent_to(1)) == 1


async def test_other_failures_back_off_bounded_then_retry_next_tick(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    botapi.fail(1, 500, times=4)
    sleeps = Sleeps()
    d = make(store, sender, sleep=sleeps, max_attempts=4)
    counts = await d.tick(T0)
    assert counts["failed"] == 1
    assert sleeps.waits == [1.0, 2.0, 4.0]  # exponential, bounded
    assert botapi.sent == []
    counts = await d.tick(T0 + d.lease + timedelta(seconds=1))  # within grace: retried
    assert counts["sent"] == 1 and len(botapi.sent) == 1


async def test_empty_briefing_skipped_or_short_line(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    counts = await make(store, sender, builder=build_empty, skip_empty=True).tick(T0)
    assert counts["skipped_empty"] == 1 and botapi.sent == []
    await add(store, 2, now=T0 + timedelta(hours=1))  # due tomorrow
    counts = await make(store, sender, builder=build_empty).tick(T0 + timedelta(days=1))
    assert counts["sent"] == 2 and counts["skipped_empty"] == 0
    assert sorted(s.chat_id for s in botapi.sent) == [1, 2]  # the short line went out
    assert botapi.sent[0].plain == "nothing new"
    assert format_counts(counts).startswith("sent=2 skipped_empty=0 blocked=0")


async def test_unsubscribed_while_claimed_is_dropped(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    d = make(store, sender)
    await d.claim(T0, 10)
    assert await subs.unsubscribe(store, 1)
    assert await d.deliver(1, T0) == "gone"
    assert botapi.sent == []


async def test_unsubscribed_during_the_send_is_not_brought_back(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1)
    await add(store, 2)

    async def unsubscribing(sub: Subscription, now: datetime) -> Rendered:
        if sub.user_id == 1:  # /unsubscribe lands while the briefing is on its way
            await subs.unsubscribe(store, 1)
        return await build(sub, now)

    counts = await make(store, sender, builder=unsubscribing).tick(T0)
    assert counts["sent"] == 2  # it was already under way
    assert await subs.get(store, 1) is None
    assert await store.redis.zscore(store.keys.due(), "1") is None
    assert await store.redis.zscore(store.keys.due(), "2") == (T0 + timedelta(days=1)).timestamp()


async def test_scheduler_runs_tick_every_minute_and_polling_per_interval(
    store: Store, sender: TelegramSender, settings: object
) -> None:
    from bot.briefings import Briefings, start_scheduler

    cfg = settings.model_copy(update={"feed_poll_minutes": 15})  # type: ignore[attr-defined]
    b = Briefings.create(cfg, store, sender, llm=None)
    scheduler = start_scheduler(b)
    try:
        tick, poll = scheduler.get_job("briefing-tick"), scheduler.get_job("feed-poll")
        assert tick.trigger.interval == timedelta(minutes=1)
        assert poll.trigger.interval == timedelta(minutes=15)
        for job in (tick, poll):
            assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time >= 30
    finally:
        scheduler.shutdown(wait=False)
        await b.aclose()


async def test_global_limiter_shared_by_processes(store: Store, redis_url: str) -> None:
    from bot.briefings.limiter import RateLimiter
    from bot.store.redis import client_for

    other = Store(redis=client_for(redis_url), keys=store.keys, url=redis_url)
    try:
        a = RateLimiter(store, rate=5.0, burst=2.0)
        b = RateLimiter(other, rate=5.0, burst=2.0)  # another process, same bucket
        assert await a.reserve() == 0.0
        assert await b.reserve() == 0.0
        first = await a.reserve()  # the burst is spent across both: queue at 1/rate
        second = await b.reserve()
        assert 0.15 < first <= 0.2 + 1e-6
        assert 0.35 < second <= 0.4 + 1e-6
    finally:
        await other.redis.aclose()


async def test_language_change_after_subscribing_is_followed(
    store: Store, sender: TelegramSender, botapi: BotAPI
) -> None:
    await add(store, 1, lang="ar")
    await store.redis.hset(store.keys.user(1), "lang", "en")  # /language en later
    sub = await subs.get(store, 1)
    assert sub is not None and sub.lang == "en"
    await make(store, sender).tick(T0)
    assert "(en)" in botapi.sent[0].plain


async def test_endless_429_is_bounded(store: Store, sender: TelegramSender, botapi: BotAPI) -> None:
    await add(store, 1)
    botapi.fail(1, 429, retry_after=2, times=10)
    sleeps = Sleeps()
    counts = await make(store, sender, sleep=sleeps, max_retry_after=3).tick(T0)
    assert counts["failed"] == 1 and sleeps.waits == [2.0, 2.0, 2.0]
    assert botapi.sent == []


async def test_batched_calls_share_one_run_and_each_gets_its_own_result() -> None:
    runs: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        runs.append(items)
        if 13 in items:
            raise ValueError("redis down")
        return [i * 10 for i in items]

    batched = Batched(run)
    assert await asyncio.gather(*(batched(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert runs == [[0, 1, 2, 3, 4]]  # five concurrent callers, one round trip
    results = await asyncio.gather(batched(12), batched(13), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)  # a failed run fails its callers
    assert await batched(7) == 70  # and the next call works again


async def test_the_tick_runs_the_heartbeat_every_15_seconds(store: Store) -> None:
    """The tick itself renews its leases on the heartbeat's schedule (here a scripted
    wait standing in for the 15 s sleep), not only when renew is called by hand."""
    await add(store, 1)
    entered, go = asyncio.Event(), asyncio.Event()
    beats: asyncio.Queue[None] = asyncio.Queue()
    waits: list[float] = []
    renewed = asyncio.Event()

    async def beat_sleep(seconds: float) -> None:
        waits.append(seconds)
        await beats.get()

    class SlowSender:
        async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
            entered.set()
            await go.wait()
            return 1

    clock = Monotonic()
    d = Delivery(store=store, sender=SlowSender(), builder=build, beat_sleep=beat_sleep)  # type: ignore[arg-type]
    d.leases.monotonic = clock
    renew = d.leases.renew

    async def spy(now: datetime) -> int:
        n = await renew(now)
        renewed.set()
        return n

    d.leases.renew = spy  # type: ignore[method-assign]
    task = asyncio.create_task(d.tick(T0))
    await asyncio.wait_for(entered.wait(), 10)
    clock.t += 15
    beats.put_nowait(None)
    await asyncio.wait_for(renewed.wait(), 10)
    assert waits and waits[0] == d.heartbeat.total_seconds() == 15
    score = await store.redis.zscore(store.keys.due(), "1")
    assert score == T0.timestamp() + 15 + d.lease.total_seconds()
    go.set()
    assert (await task)["sent"] == 1
