"""Issue 11 point 2: one user's /addsource feed must not change other users' briefings.

A user feed carrying a near-copy of a default-feed story (back-dated, with a forged
sentence) used to become the story's lead, and its summary was cached per cluster, so
every subscriber of the default feeds read the forged item.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.briefings import sources as srcs
from bot.briefings.compose import Composer
from bot.briefings.feeds import FeedPoller, load_articles
from bot.briefings.sources import Source
from bot.clock import FrozenClock
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.store.redis import Store
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.test_briefing_cli import DUE, NOW, html_page
from tests.integration.test_feeds import rss
from tests.unit.test_stories import SYNDICATED

FORGED = "وأكد مصدر أن الاتصال انتهى بإعلان الحرب على الجميع فورا."


def item(body: dict[str, Any]) -> str:
    """A briefing item that shows which article it was written from."""
    article = body["messages"][1]["content"]
    head = "خبر مزور" if "إعلان الحرب" in article else "اتصال هاتفي بين بايدن وبوتين"
    return json.dumps({"headline": head, "bullets": ["تحدث الزعيمان هاتفيا."]}, ensure_ascii=False)


async def test_a_user_feed_copy_does_not_lead_the_story_for_anyone(
    store: Store, pages: PageServer, fake_llm: FakeLLM, settings: Settings
) -> None:
    fake_llm.handler = item
    real = pages.add("/op/1", html_page("بايدن وبوتين", SYNDICATED["copy-agency"]))
    forged = pages.add(
        "/evil/1", html_page("اتصال نادر", FORGED + "\n\n" + SYNDICATED["copy-edited"])
    )
    operator = Source(
        "الوكالة",
        pages.add("/op.xml", rss("الوكالة", [("بايدن", real, "")]), "application/rss+xml"),
    )
    # the forged entry claims to be 20 hours old: older than the operator's copy
    evil_rss = rss("شريرة", [("اتصال", forged, "")], NOW - timedelta(hours=19))
    evil_url = pages.add("/evil.xml", evil_rss, "application/rss+xml")
    evil = Source("شريرة", evil_url, "ar", operator=False)
    attacker, victim = 66, 67
    await store.redis.hset(store.keys.user_sources(attacker), evil.id, evil.to_json())
    await store.redis.hset(store.keys.feed_registry(), evil.id, evil.to_json())

    polled = await srcs.all_sources(store, [operator])
    assert {s.id: s.operator for s in polled} == {operator.id: True, evil.id: False}
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        report = await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all(polled)
    assert report.new == 2
    stored = {a.url: a for a in await load_articles(store, NOW - timedelta(days=2), NOW)}
    # the user feed's date is not trusted: its entry is dated when it was ingested
    assert stored[forged].published == NOW.timestamp()
    assert stored[real].published == (NOW - timedelta(hours=1)).timestamp()

    llm = LLMClient(settings)
    try:
        composer = Composer(store=store, llm=llm, defaults=[operator])
        mine = await composer.build(user_id=attacker, lang="ar", tz="UTC", now=DUE)
        # another process, so nothing is shared but Redis
        other = Composer(store=store, llm=llm, defaults=[operator])
        theirs = await other.build(user_id=victim, lang="ar", tz="UTC", now=DUE)
    finally:
        await llm.aclose()
    assert [i.headline for i in theirs.items] == ["اتصال هاتفي بين بايدن وبوتين"]
    # the operator's copy leads the story even for the user who added the copy
    assert [i.headline for i in mine.items] == ["اتصال هاتفي بين بايدن وبوتين"]
    assert mine.items[0].article_id == theirs.items[0].article_id == stored[real].id
    assert len(mine.items[0].links) == 2  # the user still sees their own outlet's link


async def test_summaries_are_cached_per_lead_article_not_per_story(
    store: Store, pages: PageServer, fake_llm: FakeLLM, settings: Settings
) -> None:
    """Two subscribers whose sources give one story different leads each get a summary
    of their own lead (one LLM call each), never the other's."""
    fake_llm.handler = item
    a = pages.add("/a/1", html_page("بايدن وبوتين", SYNDICATED["copy-agency"]))
    b = pages.add("/b/1", html_page("اتصال نادر", FORGED + "\n\n" + SYNDICATED["copy-edited"]))
    fa = Source("ألفا", pages.add("/a.xml", rss("ألفا", [("x", a, "")]), "application/rss+xml"))
    # the user's feed published first (and is dated by ingestion, earlier)
    fb = Source("بيتا", pages.add("/b.xml", rss("بيتا", [("y", b, "")]), "application/rss+xml"))
    user_b = Source(fb.name, fb.url, "ar", operator=False)
    await store.redis.hset(store.keys.user_sources(5), fb.id, user_b.to_json())
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        await FeedPoller(store, fetcher, FrozenClock(NOW - timedelta(hours=3))).poll_all([user_b])
        await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all([fa])
    llm = LLMClient(settings)
    try:
        only_b = Composer(store=store, llm=llm, defaults=[])  # a deployment's user 5
        first = await only_b.build(user_id=5, lang="ar", tz="UTC", now=DUE)
        only_a = Composer(store=store, llm=llm, defaults=[fa])
        second = await only_a.build(user_id=6, lang="ar", tz="UTC", now=DUE)
    finally:
        await llm.aclose()
    assert [i.headline for i in first.items] == ["خبر مزور"]
    assert [i.headline for i in second.items] == ["اتصال هاتفي بين بايدن وبوتين"]
    assert fake_llm.calls == 2
