"""Feed polling and /addsource against the local page server and a real Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest
from aiohttp import web

from bot.briefings import sources as srcs
from bot.briefings.feeds import FeedPoller, PollReport, load_articles
from bot.briefings.sources import Source
from bot.clock import FrozenClock
from bot.errors import BlockedAddress, NotAFeed
from bot.ingest.fetch import Fetcher
from bot.store.redis import Store
from tests.fakes.pages import PageServer

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
STORY = (
    "أعلن البيت الأبيض انتهاء الاتصال الهاتفي بين الرئيس الأميركي جو بايدن ونظيره الروسي "
    "فلاديمير بوتين، حيث بدأ الاتصال الهاتفي النادر على وقع التوتر العسكري في أوكرانيا. "
)


def rss(title: str, items: list[tuple[str, str, str]], now: datetime = NOW) -> str:
    """An RSS 2.0 feed: items are (title, link, description), dated now - 1 h, - 2 h ..."""
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        f"<description>{escape(d)}</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=i + 1))}</pubDate></item>"
        for i, (t, link, d) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.com/</link>{body}</channel></rss>"
    )


def page(title: str, paragraphs: list[str]) -> str:
    ps = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"</head><body><nav>الرئيسية | أخبار | رياضة</nav><article><h1>{escape(title)}</h1>"
        f"{ps}</article><footer>جميع الحقوق محفوظة</footer></body></html>"
    )


def add_article(pages: PageServer, path: str, title: str, n: int = 4) -> str:
    paras = [f"{STORY} الفقرة رقم {i} من خبر {title} مع تفاصيل إضافية." for i in range(n)]
    return pages.add(path, page(title, paras))


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    f = Fetcher(frozenset({"127.0.0.1"}))
    try:
        yield f
    finally:
        await f.aclose()


def poller(store: Store, fetcher: Fetcher, clock: FrozenClock | None = None) -> FeedPoller:
    return FeedPoller(store=store, fetcher=fetcher, clock=clock or FrozenClock(NOW))


async def test_new_entries_fetched_extracted_and_stored_once(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    a1 = add_article(pages, "/a1", "خبر أول")
    a2 = add_article(pages, "/a2", "خبر ثان")
    feed = pages.add(
        "/feed.xml",
        rss("وكالة الاختبار", [("خبر أول", a1, "ملخص"), ("خبر ثان", a2, "ملخص")]),
        content_type="application/rss+xml; charset=utf-8",
    )
    src = Source("وكالة الاختبار", feed, "ar")
    # Two replicas polling at once: each article page is still fetched once.
    p1, p2 = poller(store, fetcher), poller(store, fetcher)
    import asyncio

    r1, r2 = await asyncio.gather(p1.poll_all([src]), p2.poll_all([src]))
    assert r1.new + r2.new == 2
    assert pages.hits["/a1"] == 1 and pages.hits["/a2"] == 1
    stored = await load_articles(store, NOW - timedelta(days=1), NOW)
    assert sorted(a.title for a in stored) == ["خبر أول", "خبر ثان"]
    first = next(a for a in stored if a.url == a1)
    assert "الفقرة رقم 3" in first.text and "الرئيسية" not in first.text
    assert first.source_name == "وكالة الاختبار"
    assert first.published == (NOW - timedelta(hours=1)).timestamp()
    again = await poller(store, fetcher).poll_all([src])
    assert again.new == 0 and pages.hits["/a1"] == 1


async def test_conditional_get_304_costs_one_request(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    a1 = add_article(pages, "/a1", "خبر")
    body = rss("feed", [("خبر", a1, "ملخص")])
    seen_conditional: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen_conditional.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(
            text=body,
            content_type="application/rss+xml",
            headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 05:00:00 GMT"},
        )

    src = Source("feed", pages.add_handler("/feed.xml", handler), "ar")
    first = await poller(store, fetcher).poll_all([src])
    second = await poller(store, fetcher).poll_all([src])
    assert first.new == 1 and second.not_modified == 1 and second.new == 0
    assert seen_conditional == [None, '"v1"']
    assert pages.last_headers["/feed.xml"]["If-Modified-Since"] == "Mon, 02 Mar 2026 05:00:00 GMT"
    assert pages.hits["/a1"] == 1


async def test_malformed_feed_backs_off_and_never_blocks_others(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    a1 = add_article(pages, "/a1", "خبر")
    good = Source("good", pages.add("/good.xml", rss("good", [("خبر", a1, "x")]), "text/xml"), "ar")
    bad = Source(
        "bad", pages.add("/bad.xml", "<rss><channel><item><title>نص مكسور", "text/xml"), "ar"
    )
    html = Source("html", pages.add("/page", "<html><body>not a feed</body></html>"), "ar")
    clock = FrozenClock(NOW)
    report = await poller(store, fetcher, clock).poll_all([bad, good, html])
    assert report.new == 1 and report.failed == 2
    state = await store.redis.hgetall(store.keys.feed_state(bad.id))
    assert state["failures"] == "1"
    assert int(state["next_try"]) == int((NOW + timedelta(minutes=5)).timestamp())
    # Within the back-off the broken feed is not fetched again...
    hits = pages.hits["/bad.xml"]
    report = await poller(store, fetcher, clock).poll_all([bad])
    assert report.backing_off == 1 and pages.hits["/bad.xml"] == hits
    # ...after it, it is retried and the back-off doubles.
    clock.advance(minutes=6)
    await poller(store, fetcher, clock).poll_all([bad])
    state = await store.redis.hgetall(store.keys.feed_state(bad.id))
    assert state["failures"] == "2"
    assert int(state["next_try"]) == int((clock.now() + timedelta(minutes=10)).timestamp())


async def test_feed_on_a_private_address_is_refused(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    private = Source("metadata", "http://169.254.169.254/latest/feed.xml", "ar")
    redirect = Source("redirect", pages.redirect("/r.xml", "http://10.0.0.1/feed.xml"), "ar")
    report = await poller(store, fetcher).poll_all([private, redirect])
    assert report.failed == 2
    assert set(report.errors.values()) == {"error.blocked"}
    with pytest.raises(BlockedAddress):
        await srcs.add_source(store, fetcher, 1, "http://192.168.1.10/rss")
    assert await srcs.user_sources(store, 1) == []


async def test_poll_lock_lets_one_replica_poll_per_interval(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    src = Source("f", pages.add("/f.xml", rss("f", []), "text/xml"), "ar")
    first = await poller(store, fetcher).poll_all([src], lock_for=timedelta(minutes=30))
    second = await poller(store, fetcher).poll_all([src], lock_for=timedelta(minutes=30))
    assert not first.locked and second.locked
    assert pages.hits["/f.xml"] == 1
    assert isinstance(second, PollReport) and "another process" in second.line()


async def test_addsource_discovers_feed_from_site_and_refuses_non_feeds(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    feed = pages.add(
        "/news/rss.xml",
        rss("أخبار الموقع", [("عنوان عربي للخبر", "http://x/1", "")]),
        "application/rss+xml",
    )
    site = pages.add(
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml" title="RSS" '
        'href="/news/rss.xml"></head><body>موقع</body></html>',
    )
    src = await srcs.add_source(store, fetcher, 7, site)
    assert src.url == feed and src.name == "أخبار الموقع" and src.language == "ar"
    assert [s.url for s in await srcs.user_sources(store, 7)] == [feed]
    defaults = [Source("Default", "https://example.com/feed", "ar")]
    assert [s.name for s in await srcs.sources_for(store, defaults, 7)] == [
        "Default",
        "أخبار الموقع",
    ]
    assert [s.url for s in await srcs.all_sources(store, defaults)][1] == feed
    plain = pages.add("/plain", "<html><body><p>just a page</p></body></html>")
    with pytest.raises(NotAFeed):
        await srcs.add_source(store, fetcher, 7, plain)
    assert len(await srcs.user_sources(store, 7)) == 1
    removed = await srcs.remove_source(store, 7, src.id)
    assert removed == src and await srcs.user_sources(store, 7) == []
    assert await srcs.remove_source(store, 7, src.id) is None


def test_feeds_file_defaults(tmp_path: object) -> None:
    from pathlib import Path

    from bot.errors import ConfigError

    sample = Path(__file__).parents[2] / "feeds.sample.toml"
    loaded = srcs.load_defaults(sample)
    assert len(loaded) >= 3 and all(s.url.startswith("https://") for s in loaded)
    assert srcs.load_defaults(None) == []
    bad = Path(str(tmp_path)) / "bad.toml"
    bad.write_text('[[feeds]]\nname = "x"\n', "utf-8")
    with pytest.raises(ConfigError):
        srcs.load_defaults(bad)


async def test_entry_link_to_private_address_is_not_fetched(
    store: Store, pages: PageServer, fetcher: Fetcher
) -> None:
    summary = STORY * 3  # a feed that carries the text in its description
    feed = pages.add(
        "/f.xml",
        rss(
            "f", [("داخلي", "http://10.1.2.3/admin", summary), ("قصير", "http://192.168.0.9/", "x")]
        ),
        "application/rss+xml",
    )
    report = await poller(store, fetcher).poll_all([Source("f", feed, "ar")])
    # The private pages are never requested; the long description stands in for the
    # first entry, the second (no usable text) is dropped.
    assert report.new == 1 and report.entry_errors == 1
    (stored,) = await load_articles(store, NOW - timedelta(days=1), NOW)
    assert stored.url == "http://10.1.2.3/admin" and stored.text.startswith("أعلن البيت الأبيض")


async def test_logs_show_a_feed_links_host_only(
    store: Store, pages: PageServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 point 9: a feed entry's link, and a user's feed URL, can carry a token
    (`?key=...`); the poller's log lines name the host only, as everywhere else."""
    gone = pages.url("/missing-story?key=SECRET-ENTRY-TOKEN")
    feed = pages.add("/private.xml", rss("private", [("خبر", gone, STORY * 2)]), "text/xml")
    broken = pages.add("/broken.xml?token=SECRET-FEED-TOKEN", "<rss><channel>x", "text/xml")
    sources = [
        Source("private", feed + "?token=SECRET-FEED-TOKEN", "ar"),
        Source("b", broken, "ar"),
    ]
    with caplog.at_level(logging.INFO, logger="bot"):
        report = await poller(store, fetcher).poll_all(sources)
    assert report.new == 1 and report.failed == 1  # the entry kept the feed's summary
    lines = [r.getMessage() for r in caplog.records]
    assert any("127.0.0.1" in line and "using the feed's summary" in line for line in lines)
    assert not any("SECRET" in line or "missing-story" in line for line in lines), lines
