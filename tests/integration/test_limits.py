"""Per-user limits in Redis: they hold across processes (two Limits on two connections)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.errors import BudgetExceeded, RateLimited
from bot.limits import Limits
from bot.store.redis import Store, client_for
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import ADMIN, NOW, running_bot

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "cnn-arabic-2013-syria.html"


@pytest.fixture
async def second_store(store: Store) -> AsyncIterator[Store]:
    """Another connection on the same keys: what a second bot process would have."""
    other = Store(redis=client_for(store.url), keys=store.keys, url=store.url)
    yield other
    await other.redis.aclose()


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
    with pytest.raises(RateLimited) as err:
        await b.reserve(1)
    assert err.value.params == {"seconds": 40}  # until the minute turns
    await a.reserve(2)  # another user is not affected
    clock.advance(seconds=40)
    await b.reserve(1)


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
    with pytest.raises(BudgetExceeded) as err:
        await b.reserve(7)
    assert err.value.params == {"hours": 12}  # 12:00 UTC: resets at midnight
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
        assert sorry.plain == "ترسل الطلبات بسرعة كبيرة. انتظر 60 ثانية ثم حاول مجددًا."
        bot.fake.message(62, second, language_code="en")  # someone else is fine
        await bot.reply(62, contains="•")
