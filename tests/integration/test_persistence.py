"""Data that survives: the embedded server (REDIS_URL unset) keeps user data across a
restart of the bot's store and of the server itself, and caches carry TTLs.

This exercises `open_store` for real: with REDIS_URL unset and BOT_DATA_DIR set, it
starts the bundled Valkey server with the append-only file under BOT_DATA_DIR; the
test writes through the bot's own modules, closes the store (which stops the
server), opens it again on the same folder and reads everything back.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import cast

import pytest
from redis.exceptions import RedisError

from bot.briefings import sources, subscriptions
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.store.redis import Store, open_store
from bot.summarize.service import SummarizeService
from bot.users import Users
from tests.fakes.pages import PageServer

NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
USER = 4242

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>أخبار الصباح</title><link>https://example.com/</link><description>آخر الأخبار</description>
<item><title>انطلاق معرض الكتاب في الرياض بمشاركة ألف دار نشر</title>
<link>https://example.com/a1</link><pubDate>Sun, 01 Mar 2026 04:00:00 GMT</pubDate></item>
<item><title>ارتفاع أسعار النفط في الأسواق العالمية</title>
<link>https://example.com/a2</link><pubDate>Sun, 01 Mar 2026 03:00:00 GMT</pubDate></item>
</channel></rss>"""


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """REDIS_URL unset (even if the environment sets it): the embedded default."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=None,
        bot_data_dir=tmp_path / "botdata",
        redis_prefix="persist",
        fetch_allow_hosts="127.0.0.1",
    )


@pytest.fixture
async def feed_server(pages: PageServer) -> AsyncIterator[str]:
    yield pages.add("/feed.xml", FEED, content_type="application/rss+xml; charset=utf-8")


async def write_user_data(settings: Settings, store: Store, feed_url: str) -> None:
    users = Users(store, settings)
    await users.touch(USER, USER)
    await users.set_lang(USER, "ar")
    await users.set_length(USER, "detailed")
    await subscriptions.subscribe(
        store, user_id=USER, chat_id=USER, hhmm=time(7, 30), tz="Asia/Riyadh", lang="ar", now=NOW
    )
    fetcher = Fetcher.from_settings(settings)
    try:
        await sources.add_source(store, fetcher, USER, feed_url)
    finally:
        await fetcher.aclose()


async def test_user_data_survives_a_restart_of_the_embedded_server(
    embedded_settings: Settings, feed_server: str, seed_text: str
) -> None:
    store = await open_store(embedded_settings)
    try:
        assert store.url.startswith("unix://")
        assert str(embedded_settings.bot_data_dir) in store.url
        # the operator's durability settings, on the embedded server too
        assert await store.redis.config_get("appendonly") == {"appendonly": "yes"}
        assert await store.redis.config_get("appendfsync") == {"appendfsync": "everysec"}
        await write_user_data(embedded_settings, store, feed_server)
        service = await SummarizeService.create(embedded_settings, store)
        digest = await service.digest(seed_text, kind="text", lang="ar")
        assert digest.path == "extractive" and not digest.cached
        keys = sorted(await store.redis.keys(store.keys.pattern()))
    finally:
        await store.close()  # stops the server this process started

    aof = embedded_settings.bot_data_dir / "valkey"
    assert any(aof.rglob("*.aof")), "no append-only file written"

    store = await open_store(embedded_settings)
    try:
        assert store._server is not None, "a fresh server, not the old one"
        assert sorted(await store.redis.keys(store.keys.pattern())) == keys
        users = Users(store, embedded_settings)
        prefs = await users.prefs(USER, "en")
        assert (prefs.lang, prefs.length, prefs.tz) == ("ar", "detailed", "Asia/Riyadh")
        sub = await subscriptions.get(store, USER)
        assert sub is not None and (sub.hhmm, sub.tz) == (time(7, 30), "Asia/Riyadh")
        assert await subscriptions.count(store) == 1
        (src,) = await sources.user_sources(store, USER)
        assert (src.name, src.url, src.language) == ("أخبار الصباح", feed_server, "ar")

        # user data never expires; caches do
        k = store.keys
        for key in (k.user(USER), k.users(), k.subscription(USER), k.due(), k.user_sources(USER)):
            assert await store.redis.ttl(key) == -1, key
        cached = [
            key
            for key in keys
            if key.startswith((k.digest(""), k.article(""))) and await store.redis.ttl(key) > 0
        ]
        assert any(key.startswith(k.digest("")) for key in cached)
        assert any(key.startswith(k.article("")) for key in cached)
        for key in keys:
            if key.startswith((k.digest(""), k.article(""))):
                assert await store.redis.ttl(key) > 0, key

        # and the digest is served from the cache after the restart
        service = await SummarizeService.create(embedded_settings, store)
        again = await service.digest(seed_text, kind="text", lang="ar")
        assert again.cached and again.headline == digest.headline
    finally:
        await store.close()


async def test_a_second_process_reuses_the_running_embedded_server(
    embedded_settings: Settings,
) -> None:
    """Two bot processes on one data dir share one server: the second does not stop it."""
    first = await open_store(embedded_settings)
    try:
        second = await open_store(embedded_settings)
        assert second._server is None and second.url == first.url
        await second.redis.hset(second.keys.user(1), "lang", "en")
        await second.close()
        assert cast(str, await first.redis.hget(first.keys.user(1), "lang")) == "en"
    finally:
        await first.close()


async def test_the_first_process_exiting_leaves_the_server_to_the_second(
    embedded_settings: Settings,
) -> None:
    """The process that started the server closes first: the other one keeps working,
    and the server stops when that last user closes."""
    first = await open_store(embedded_settings)
    second = await open_store(embedded_settings)
    try:
        assert first._server is not None and second._server is None
        await first.close()
        await second.redis.hset(second.keys.user(2), "lang", "ar")
        assert cast(str, await second.redis.hget(second.keys.user(2), "lang")) == "ar"
        third = await open_store(embedded_settings)  # a newcomer reuses it too
        assert third._server is None
        await third.close()
        assert await second.redis.ping()
    finally:
        await second.close()
    sock = embedded_settings.bot_data_dir / "valkey" / "valkey.sock"
    import redis as sync_redis

    with pytest.raises(sync_redis.RedisError):  # the last user stopped it
        sync_redis.Redis.from_url(f"unix://{sock}", socket_connect_timeout=1).ping()
    again = await open_store(embedded_settings)
    try:
        assert again._server is not None  # and the next process starts a fresh one
        assert cast(str, await again.redis.hget(again.keys.user(2), "lang")) == "ar"
    finally:
        await again.close()


async def test_nothing_acknowledged_is_lost_when_the_server_is_killed(
    embedded_settings: Settings, feed_server: str
) -> None:
    """kill -9 of the Redis server right after the writes: with the append-only file
    every acknowledged write is in the kernel already (everysec only bounds what a
    power cut could lose), so a restart finds all of it."""
    store = await open_store(embedded_settings)
    try:
        await write_user_data(embedded_settings, store, feed_server)
        pid = int((await store.redis.info("server"))["process_id"])
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RedisError):
            await store.redis.ping()
    finally:
        await store.close()

    store = await open_store(embedded_settings)
    try:
        assert int((await store.redis.info("server"))["process_id"]) != pid
        prefs = await Users(store, embedded_settings).prefs(USER, "en")
        assert (prefs.lang, prefs.length) == ("ar", "detailed")
        assert await subscriptions.get(store, USER) is not None
        assert len(await sources.user_sources(store, USER)) == 1
    finally:
        await store.close()
