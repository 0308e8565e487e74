"""Briefing commands end to end: the real Application against the fake Bot API."""

from __future__ import annotations

from datetime import time

from bot.briefings import sources as srcs
from bot.briefings import subscriptions as subs
from bot.briefings.feeds import FeedPoller
from bot.briefings.sources import Source
from bot.clock import FrozenClock
from bot.ingest.fetch import Fetcher
from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import NOW, Bot
from tests.integration.test_feeds import page, rss
from tests.unit.test_stories import DIFFERENT, SYNDICATED


async def test_subscribe_timezone_unsubscribe_in_arabic_and_bad_input(
    bot: Bot, store: Store
) -> None:
    fake = bot.fake
    fake.command(11, "/timezone Asia/Riyadh", language_code="ar")
    assert "Asia/Riyadh" in (await bot.reply(11, contains="Asia/Riyadh")).plain
    fake.command(11, "/subscribe ٠٧:٣٠", language_code="ar")
    reply = await bot.reply(11, contains="07:30")
    assert "تم الاشتراك" in reply.plain
    sub = await subs.get(store, 11)
    assert sub is not None and sub.hhmm == time(7, 30) and sub.tz == "Asia/Riyadh"
    assert sub.lang == "ar" and sub.chat_id == 11
    fake.command(11, "/subscribe 25:99", language_code="ar")
    assert "غير صالح" in (await bot.reply(11, contains="25:99")).plain
    fake.command(11, "/timezone Mars/Olympus", language_code="ar")
    await bot.reply(11, contains="Mars/Olympus")
    sub2 = await subs.get(store, 11)
    assert sub2 == sub  # bad input changed nothing
    fake.command(12, "/subscribe")
    assert "07:00" in (await bot.reply(12, contains="Subscribed")).plain
    fake.command(12, "/unsubscribe")
    await bot.reply(12, contains="unsubscribed")
    assert await subs.get(store, 12) is None


async def test_sources_add_list_remove_with_buttons(
    bot: Bot, pages: PageServer, store: Store
) -> None:
    fake = bot.fake
    feed = pages.add(
        "/rss.xml", rss("موقع الاختبار", [("خبر", "http://x.example/1", "")]), "application/rss+xml"
    )
    plain = pages.add("/plain", "<html><body><p>صفحة عادية</p></body></html>")
    fake.command(21, f"/addsource {plain}")
    assert "not an RSS" in (await bot.reply(21, contains="RSS")).plain
    fake.command(21, "/addsource http://10.0.0.5/rss")
    assert "not allowed" in (await bot.reply(21, contains="not allowed")).plain
    fake.command(21, f"/addsource {feed}")
    await bot.reply(21, contains="موقع الاختبار")
    fake.command(21, "/sources")
    assert "موقع الاختبار" in (await bot.reply(21, contains="sources")).plain
    fake.command(21, "/removesource")
    choose = await bot.reply(21, contains="Choose")
    data = choose.buttons[0]["callback_data"]
    assert data.startswith("rs:") and len(data.encode()) <= 64
    fake.callback(21, choose.message_id, data)
    await bot.reply(21, contains="Removed")
    assert await srcs.user_sources(store, 21) == []


async def test_briefing_now_then_story_digest_and_unsubscribe_buttons(
    bot: Bot, pages: PageServer, store: Store, fake_llm: FakeLLM
) -> None:
    a = pages.add("/a", page("بايدن وبوتين", SYNDICATED["copy-agency"].split("\n\n")))
    b = pages.add("/b", page("الناتو", (DIFFERENT["nato-meeting"] + "\n\n").split("\n\n") * 3))
    feed = pages.add(
        "/f.xml", rss("ألفا", [("بايدن وبوتين", a, ""), ("الناتو", b, "")], NOW), "text/xml"
    )
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        report = await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all([Source("ألفا", feed)])
        await srcs.add_source(store, fetcher, 31, feed)  # the user's own source
    assert report.new == 2
    fake = bot.fake
    await subs.subscribe(store, user_id=31, chat_id=31, hhmm=time(7), tz="UTC", lang="en", now=NOW)
    fake.command(31, "/briefing")
    brief = await bot.reply(31, contains="Your briefing")
    assert "1. " in brief.plain and "2. " in brief.plain
    datas = [btn["callback_data"] for btn in brief.buttons]
    assert datas[-1] == "bu" and sum(d.startswith("bd:") for d in datas) == 2
    fake.callback(31, brief.message_id, datas[0])
    digest = await bot.reply(31, contains="•", wait=15)
    assert digest.message_id != brief.message_id
    fake.callback(31, brief.message_id, "bu")
    await bot.reply(31, contains="unsubscribed")
    assert await subs.get(store, 31) is None
    # Updates are handled in order, so the digest's bookkeeping is done by now: the
    # story's article is the chat's active article, ready for follow-up questions.
    active = await store.redis.get(store.keys.chat_active(31))
    assert active and await bot.services.summarizer.get_article(active) is not None
