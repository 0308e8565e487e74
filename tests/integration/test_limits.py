"""Per-user limits in Redis: they hold across processes (two Limits on two connections)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import metrics
from bot.clock import FrozenClock
from bot.config import Settings
from bot.errors import BudgetExceeded, RateLimited
from bot.limits import Limits
from bot.store.redis import Store, client_for
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import ADMIN, NOW, running_bot

TOO_FAST_AR = "ترسل الطلبات بسرعة كبيرة. انتظر {seconds} ثانية ثم حاول مجددًا."
REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"


@pytest.fixture
async def second_store(store: Store) -> AsyncIterator[Store]:
    """Another connection on the same keys: what a second bot process would have."""
    other = Store(redis=client_for(store.url), keys=store.keys, url=store.url)
    yield other
    await other.redis.aclose()


def _hits(limit: str) -> float:
    return metrics.value("digestbot_rate_limit_hits_total", limit=limit)


def limits_pair(
    settings: Settings, store: Store, second: Store, clock: FrozenClock, **kw: object
) -> tuple[Limits, Limits]:
    cfg = settings.model_copy(update={"admin_user_ids": str(ADMIN), **kw})
    return Limits(store, cfg, clock), Limits(second, cfg, clock)


async def test_rate_is_shared_by_two_processes(
    settings: Settings, store: Store, second_store: Store
) -> None:
    clock = FrozenClock(NOW + timedelta(seconds=20))
    a, b = limits_pair(settings, store, second_store, clock, summary_rate_per_minute=3)
    await a.reserve(1)
    await b.reserve(1)
    await a.reserve(1)
    hits = _hits("summary_rate")
    with pytest.raises(RateLimited) as err:
        await b.reserve(1)
    assert err.value.params == {"seconds": 60}  # until the first one is a minute old
    assert _hits("summary_rate") == hits + 1  # counted in /metrics
    await a.reserve(2)  # another user is not affected
    clock.advance(seconds=59)
    with pytest.raises(RateLimited):
        await b.reserve(1)
    clock.advance(seconds=1)
    await b.reserve(1)


async def test_rate_holds_for_any_60_seconds_across_a_minute_boundary(
    settings: Settings, store: Store, second_store: Store
) -> None:
    """Issue 11 point 6: fixed calendar-minute windows let 10 requests through at :59
    and 10 more at :00. In any 60 s at most `summary_rate_per_minute` may pass."""
    minute = NOW.replace(second=0, microsecond=0)
    clock = FrozenClock(minute + timedelta(seconds=59, milliseconds=500))
    a, b = limits_pair(settings, store, second_store, clock, summary_rate_per_minute=10)
    for i in range(10):
        await (a if i % 2 else b).reserve(21)
    clock.advance(seconds=1)  # :00.5 of the next calendar minute
    refused = 0
    for _ in range(5):
        try:
            await a.reserve(21)
        except RateLimited as err:
            refused += 1
            assert err.params == {"seconds": 59}
    assert refused == 5
    clock.advance(seconds=59)  # the first ten are now a minute old
    for _ in range(10):
        await b.reserve(21)
    with pytest.raises(RateLimited):
        await a.reserve(21)


async def test_cache_hits_count_lightly(
    settings: Settings, store: Store, second_store: Store
) -> None:
    a, b = limits_pair(settings, store, second_store, FrozenClock(NOW), summary_rate_per_minute=3)
    for i in range(10):
        ticket = await (a if i % 2 else b).reserve(5)
        await (a if i % 2 else b).settle(ticket, cached=True)
    await a.reserve(5)  # ten cache hits still leave room for a new summary
    with pytest.raises(RateLimited):
        await b.reserve(5)


async def test_cancelled_request_is_not_counted(
    settings: Settings, store: Store, second_store: Store
) -> None:
    a, _ = limits_pair(settings, store, second_store, FrozenClock(NOW), summary_rate_per_minute=1)
    await a.cancel(await a.reserve(6))
    await a.reserve(6)


async def test_daily_token_budget(settings: Settings, store: Store, second_store: Store) -> None:
    clock = FrozenClock(NOW)
    a, b = limits_pair(settings, store, second_store, clock, daily_token_budget=5000)
    await a.settle(await a.reserve(7), cached=False, tokens=3000)
    await b.settle(await b.reserve(7), cached=False, tokens=2500)
    assert await a.tokens_today(7) == 5500
    hits, rate_hits = _hits("token_budget"), _hits("summary_rate")
    with pytest.raises(BudgetExceeded) as err:
        await b.reserve(7)
    assert err.value.params == {"hours": 12}  # 12:00 UTC: resets at midnight
    assert _hits("token_budget") == hits + 1 and _hits("summary_rate") == rate_hits
    clock.advance(hours=12)
    await b.reserve(7)


async def test_admins_are_exempt(settings: Settings, store: Store, second_store: Store) -> None:
    a, _ = limits_pair(
        settings,
        store,
        second_store,
        FrozenClock(NOW),
        summary_rate_per_minute=1,
        daily_token_budget=1000,
    )
    for _ in range(5):
        await a.settle(await a.reserve(ADMIN), cached=False, tokens=5000)


async def test_user_over_the_rate_gets_a_friendly_message(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    first = pages.add("/one", REAL.read_bytes())
    second = pages.add("/two", REAL.read_bytes().replace(b"<title>", b"<title>2 "))
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=1) as bot:
        bot.fake.message(61, first, language_code="ar")
        await bot.reply(61, contains="•")
        bot.fake.message(61, second, language_code="ar")
        sorry = await bot.reply(61)
        assert sorry.plain.strip("\u200f") == TOO_FAST_AR.format(seconds=60)
        bot.fake.message(62, second, language_code="en")  # someone else is fine
        await bot.reply(62, contains="•")


async def test_questions_share_the_rate_and_the_token_budget(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """A follow-up question reserves from the same per-minute allowance as a digest, and
    the tokens its answer cost are charged to the user's daily budget."""
    link = pages.add("/q", REAL.read_bytes())
    user = 63
    async with running_bot(settings, store, botapi, fake_llm, summary_rate_per_minute=2) as bot:
        limits = bot.services.limits
        bot.fake.message(user, link, user_id=user, language_code="ar")
        await bot.reply(user, contains="•")  # the digest: one of two units this minute
        after_digest = await limits.tokens_today(user)
        assert after_digest > 0

        bot.fake.message(user, "من شارك في الاتصال؟", user_id=user, language_code="ar")
        answer = await bot.reply(user)
        assert "الجواب من المقال نفسه" in answer.plain
        assert await limits.tokens_today(user) > after_digest  # the answer was charged
        charged = await limits.tokens_today(user)

        hits = _hits("summary_rate")
        bot.fake.message(user, "ما الخطوة التالية؟", user_id=user, language_code="ar")
        sorry = await bot.reply(user)
        assert sorry.plain.strip("\u200f") == TOO_FAST_AR.format(seconds=60)
        assert _hits("summary_rate") == hits + 1
        assert await limits.tokens_today(user) == charged  # a refused question costs nothing


async def test_failed_llm_attempts_are_charged_to_the_budget(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM, pages: PageServer
) -> None:
    """A model that answers garbage twice gives the user the offline digest, but both
    calls were made and paid for: they count in the user's budget, the day's stats and
    /metrics."""
    link = pages.add("/garbage", REAL.read_bytes())
    user = 64
    tokens_before = metrics.value("digestbot_llm_tokens_total", direction="in")
    async with running_bot(settings, store, botapi, fake_llm) as bot:
        fake_llm.handler = lambda body: "this is not the JSON object you asked for"
        bot.fake.message(user, link, user_id=user, language_code="ar")
        await bot.reply(user, contains="•", wait=30)
        assert fake_llm.calls == 2  # the request and its corrective retry
        spent = await bot.services.limits.tokens_today(user)
        sent = sum(
            sum(len(str(m.get("content", ""))) for m in body["messages"]) // 3
            for body in fake_llm.requests
        )
        assert spent >= sent > 0
    assert metrics.value("digestbot_llm_tokens_total", direction="in") >= tokens_before + sent
