"""/forget deletes every key about the user, whatever feature wrote it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.store.redis import Store
from tests.fakes.botapi import BotAPI
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot, article_page, model, running_bot
from tests.integration.test_feeds import rss

USER = 4343
OTHER = 5151


@pytest.fixture
async def bot(
    settings: Settings, store: Store, botapi: BotAPI, fake_llm: FakeLLM
) -> AsyncIterator[Bot]:
    fake_llm.handler = model
    async with running_bot(settings, store, botapi, fake_llm) as b:
        yield b


async def _keys_about(store: Store, user_id: int, *, counters: bool = True) -> list[str]:
    """Every key whose name carries the user id, and shared sets that list the user
    (without `counters`: but the usage counters, which /forget keeps)."""
    mine = re.compile(rf"(?<=[:{{]){user_id}(?=[:}}]|$)")
    counter = re.compile(rf":(rate|tokens):{user_id}:")
    found = [
        key
        async for key in store.redis.scan_iter(match=store.keys.pattern(), count=1000)
        if mine.search(key.removeprefix(store.keys.prefix))
        and (counters or not counter.search(key))
    ]
    if await store.redis.sismember(store.keys.users(), user_id):
        found.append(store.keys.users())
    if await store.redis.zscore(store.keys.due(), str(user_id)) is not None:
        found.append(store.keys.due())
    return found


async def _use_everything(bot: Bot, pages: PageServer, seed_text: str, user: int) -> None:
    fake = bot.fake
    url = pages.add(f"/news-{user}", article_page(seed_text, "مكالمة بين بايدن وبوتين"))
    feed = pages.add(
        f"/rss-{user}.xml",
        rss("موقع الاختبار", [("خبر", "http://x.example/1", "")]),
        "application/rss+xml",
    )
    fake.command(user, "/language ar", user_id=user, language_code="ar")
    await bot.reply(user)
    fake.message(user, url, user_id=user, language_code="ar")  # a digest: limits, context
    await bot.reply(user, contains="•")
    fake.message(user, "متى بدأ الاتصال؟", user_id=user, language_code="ar")  # a follow-up
    await bot.reply(user)
    fake.command(user, "/subscribe 07:30", user_id=user, language_code="ar")
    await bot.reply(user)
    fake.command(user, "/timezone Asia/Beirut", user_id=user, language_code="ar")
    await bot.reply(user)
    fake.command(user, f"/addsource {feed}", user_id=user, language_code="ar")
    await bot.reply(user, contains="موقع الاختبار")


async def test_forget_leaves_no_key_about_the_user(
    bot: Bot, store: Store, pages: PageServer, seed_text: str
) -> None:
    await _use_everything(bot, pages, seed_text, USER)
    await _use_everything(bot, pages, seed_text, OTHER)
    before = await _keys_about(store, USER)
    # the features really wrote user data: preferences, subscription, sources, limits, context
    assert any(":user:" in k for k in before) and any(":sub:" in k for k in before)
    assert any(":rate:" in k for k in before) and any("{chat:" in k for k in before), "\n".join(
        before
    )

    bot.fake.command(USER, "/forget", user_id=USER, language_code="ar")
    done = await bot.reply(USER)
    assert "حذفت كل ما خزّنته عنك" in done.plain
    assert "تبقى عدّادات الاستخدام وحدها" in done.plain  # and says what it keeps

    # only the usage counters stay (counts and times, no content): see the next tests
    assert await _keys_about(store, USER, counters=False) == []
    assert await _keys_about(store, USER)
    # the other user keeps everything
    assert len(await _keys_about(store, OTHER)) >= len(before) - 2
    assert await store.redis.exists(store.keys.subscription(OTHER))


BUDGET = 9_000  # a digest of the seed article costs about 3,900 tokens
BUDGET_AR = "استهلكت حصة التلخيص لهذا اليوم."


async def test_forget_does_not_reset_the_daily_budget(
    settings: Settings,
    store: Store,
    botapi: BotAPI,
    fake_llm: FakeLLM,
    pages: PageServer,
    seed_text: str,
) -> None:
    """Issue 18 point 4: spend, /forget, repeat (three times: /forget's own limit). Before,
    /forget deleted the day's token counter: 60,000 tokens were spent against 20,000."""

    def copy(n: int) -> str:  # another text each time: no digest cache hit
        return "\n\n".join(f"{p} ({n})" for p in seed_text.split("\n\n") if p.strip())

    links = [pages.add(f"/spend/{n}", article_page(copy(n))) for n in range(3)]
    async with running_bot(settings, store, botapi, fake_llm, daily_token_budget=BUDGET) as bot:
        user, answered, refused = 6161, 0, 0
        for link in links:
            start = len(bot.fake.sent)
            bot.fake.message(user, link, user_id=user, language_code="ar")
            reply = await bot.fake.wait_for(
                lambda s: s.chat_id == user and ("•" in s.plain or BUDGET_AR in s.plain),
                30,
                start=start,
            )
            answered += "•" in reply.plain
            refused += BUDGET_AR in reply.plain
            spent = await bot.services.limits.tokens_today(user)
            bot.fake.command(user, "/forget", user_id=user, language_code="ar")
            await bot.reply(user, contains="حذفت كل ما خزّنته عنك")
            assert await bot.services.limits.tokens_today(user) == spent  # kept
        total = await bot.services.limits.tokens_today(user)
    assert answered >= 1 and refused >= 1  # the budget ran out, /forget or not
    assert total < 2 * BUDGET, total


async def test_forget_is_rate_limited(bot: Bot, store: Store) -> None:
    """/forget scans the store: at most a few an hour, then a clear "wait" message."""
    for _ in range(3):
        bot.fake.command(USER, "/forget", user_id=USER, language_code="ar")
        done = await bot.reply(USER)
        assert "حذفت كل ما خزّنته عنك" in done.plain
    bot.fake.command(USER, "/forget", user_id=USER, language_code="en")
    wait = await bot.reply(USER)
    assert "You asked me to forget you a moment ago" in wait.plain, wait.plain
    assert "minutes" in wait.plain
