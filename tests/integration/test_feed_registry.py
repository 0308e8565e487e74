"""The poll registry is reference-counted (issue 11, point 5) and /addsource is rate-limited.

Before: a feed stayed in the registry (polled every interval) after every user who had
added it removed it or used /forget, until a restart; so the 20-source cap could be
passed by adding and removing, and a forgotten user's URLs were kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.briefings import registry
from bot.briefings import sources as srcs
from bot.briefings.sources import Source
from bot.privacy import forget_user
from bot.store.redis import Store
from tests.fakes.pages import PageServer
from tests.integration.telegram_harness import Bot
from tests.integration.test_feeds import rss


@pytest.fixture
async def fetcher() -> AsyncIterator[srcs.Fetcher]:
    async with srcs.Fetcher(frozenset({"127.0.0.1"})) as f:
        yield f


def feed(pages: PageServer, name: str) -> str:
    body = rss(name, [(f"خبر من {name}", f"http://x.example/{name}", "")])
    return pages.add(f"/{name}.xml", body, "application/rss+xml")


async def polled(store: Store) -> set[str]:
    return {s.name for s in await srcs.all_sources(store, [])}


async def test_a_feed_is_polled_while_some_user_has_it(
    pages: PageServer, fetcher: srcs.Fetcher, store: Store
) -> None:
    a = await srcs.add_source(store, fetcher, 1, feed(pages, "alpha"))
    await srcs.add_source(store, fetcher, 2, feed(pages, "alpha"))
    await srcs.add_source(store, fetcher, 2, feed(pages, "alpha"))  # again: one reference
    b = await srcs.add_source(store, fetcher, 2, feed(pages, "beta"))
    assert await polled(store) == {"alpha", "beta"}
    assert await srcs.remove_source(store, 1, a.id) == a
    assert await polled(store) == {"alpha", "beta"}  # user 2 still has it
    assert await srcs.remove_source(store, 2, a.id) == a
    assert await polled(store) == {"beta"}
    assert await srcs.remove_source(store, 2, a.id) is None  # twice: changes nothing
    assert await srcs.remove_source(store, 2, b.id) == b
    assert await polled(store) == set()
    assert not await store.redis.exists(store.keys.feed_refs(a.id), store.keys.feed_refs(b.id))


async def test_the_source_cap_cannot_be_passed_by_adding_and_removing(
    pages: PageServer, fetcher: srcs.Fetcher, store: Store
) -> None:
    for round_ in range(3):
        for i in range(4):
            src = await srcs.add_source(store, fetcher, 9, feed(pages, f"f{round_}-{i}"))
            await srcs.remove_source(store, 9, src.id)
    kept = await srcs.add_source(store, fetcher, 9, feed(pages, "kept"))
    assert [s.id for s in await srcs.all_sources(store, [])] == [kept.id]


async def test_forget_drops_the_users_feeds_from_polling(
    pages: PageServer, fetcher: srcs.Fetcher, store: Store
) -> None:
    await srcs.add_source(store, fetcher, 3, feed(pages, "mine"))
    await srcs.add_source(store, fetcher, 3, feed(pages, "shared"))
    await srcs.add_source(store, fetcher, 4, feed(pages, "shared"))
    await forget_user(store, 3, private_chat_id=3)
    assert await polled(store) == {"shared"}
    urls = [await store.redis.hgetall(store.keys.feed_registry())]
    assert "mine.xml" not in str(urls)  # the forgotten user's URL is gone
    assert "3" not in await store.redis.smembers(
        store.keys.feed_refs(Source("s", feed(pages, "shared")).id)
    )


async def test_the_registry_before_reference_counts_is_migrated(
    store: Store,
) -> None:
    k = store.keys
    kept, stale = Source("kept", "http://k.example/rss"), Source("stale", "http://s.example/rss")
    await store.redis.hset(k.legacy_feed_registry(), kept.id, kept.to_json())
    await store.redis.hset(k.legacy_feed_registry(), stale.id, stale.to_json())
    await store.redis.hset(k.user_sources(42), kept.id, kept.to_json())
    assert await polled(store) == {"kept"}
    assert not await store.redis.exists(k.legacy_feed_registry())
    assert await store.redis.smembers(k.feed_refs(kept.id)) == {"42"}


async def test_addsource_is_rate_limited_per_user(
    settings: object, store: Store, botapi: object, pages: PageServer
) -> None:
    from tests.integration.telegram_harness import running_bot

    url = feed(pages, "limited")
    async with running_bot(settings, store, botapi, summary_rate_per_minute=2) as bot:  # type: ignore[arg-type]
        await _three_adds(bot, url)
    assert pages.hits["/limited.xml"] == 2  # the refused one fetched nothing


async def _three_adds(bot: Bot, url: str) -> None:
    for _ in range(2):
        bot.fake.command(31, f"/addsource {url}")
        await bot.reply(31, contains="limited")
    bot.fake.command(31, f"/addsource {url}")
    assert "too fast" in (await bot.reply(31, contains="too fast")).plain


async def test_a_concurrent_add_and_remove_of_one_feed_leave_it_polled_if_kept(
    pages: PageServer, fetcher: srcs.Fetcher, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/removesource and /addsource of the same feed at once, by the same user: the
    remove has taken the feed from the user's hash and is about to drop its reference
    when the add runs. Before the per-user lock the add's reference was dropped by the
    remove after it: the user kept the feed, and it was never polled again."""
    url = feed(pages, "both")
    src = await srcs.add_source(store, fetcher, 5, url)
    reached, go = asyncio.Event(), asyncio.Event()
    release = registry.release_ref

    async def paused_release(s: Store, feed_id: str, user_id: int) -> int:
        reached.set()
        await go.wait()  # the remove stops between its two steps
        return await release(s, feed_id, user_id)

    monkeypatch.setattr(registry, "release_ref", paused_release)
    removing = asyncio.create_task(srcs.remove_source(store, 5, src.id))
    await reached.wait()
    adding = asyncio.create_task(srcs.add_source(store, fetcher, 5, url))
    await asyncio.wait({adding}, timeout=1.0)  # the add finishes here if nothing stops it
    go.set()
    assert await removing == src
    assert await adding == src
    assert [s.id for s in await srcs.user_sources(store, 5)] == [src.id]
    assert await polled(store) == {"both"}  # the user has it, so it is polled
