"""The store on a real 3-node Redis Cluster (started on loopback ports by the test).

Keys that one Lua script or one transaction touches must share a hash slot; these
tests check the key module's hash tags and then run the real briefing code (claim
script, per-day idempotency script, transactions, the global token bucket) and the
webhook's update dedupe through `redis.asyncio.cluster.RedisCluster`, unchanged.
Skipped only when no redis-server / valkey-server binary exists on the machine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.cluster import key_slot
from redis.exceptions import RedisClusterException, ResponseError

from bot import stats
from bot.briefings import subscriptions as subs
from bot.briefings.delivery import Delivery, Rendered
from bot.briefings.feeds import FeedArticle, load_articles
from bot.briefings.limiter import RateLimiter
from bot.briefings.subscriptions import Subscription
from bot.clock import FrozenClock
from bot.config import Settings
from bot.errors import RateLimited
from bot.followups.context import ChatContext
from bot.limits import Limits
from bot.messages import Button
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.summarize.service import SummarizeService
from bot.telegram.webhook import SEEN_TTL_SECONDS
from bot.users import Users
from tests.fakes.cluster import LocalCluster, server_binary
from tests.fakes.llm import FakeLLM
from tests.integration.telegram_harness import model

pytestmark = pytest.mark.skipif(
    server_binary() is None,
    reason="no redis-server or valkey-server binary on this machine to start a cluster",
)

NOW = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(Path(tmp_path_factory.mktemp("cluster")))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
async def cstore(cluster: LocalCluster) -> AsyncIterator[Store]:
    """A Store on the cluster, connected the way an operator's REDIS_URL does it."""
    url = cluster.url.replace("redis://", "redis+cluster://")
    client = cast(RedisCluster, client_for(url))
    assert isinstance(client, RedisCluster)
    await client.initialize()  # load the slot map
    keys = Keys(f"ctest-{uuid.uuid4().hex[:8]}")
    store = Store(redis=cast(Any, client), keys=keys, url=cluster.url)
    try:
        yield store
    finally:
        async for key in client.scan_iter(match=keys.pattern()):
            await client.delete(key)
        await client.aclose()


def test_keys_used_together_share_a_slot() -> None:
    k = Keys("digestbot")
    sched = [k.due(), k.subscription(42), k.sent(42, "2026-03-01")]
    sched += [k.subscription(7), k.sent(7, "2026-12-31")]
    assert len({slot(key) for key in sched}) == 1
    assert "{sched}" in k.due() and "{bcast}" in k.broadcast_bucket()
    # the two tags are independent slots, so scheduling and pacing spread over nodes
    assert slot(k.broadcast_bucket()) != slot(k.due())


async def test_cluster_spreads_keys_over_the_nodes(cstore: Store, cluster: LocalCluster) -> None:
    nodes = {
        cstore.redis.get_node_from_key(cstore.keys.user(uid)).port  # type: ignore[attr-defined]
        for uid in range(40)
    }
    assert nodes == set(cluster.ports)  # a real 3-node cluster, not one server


async def test_claim_and_delivery_scripts_run_unchanged_on_the_cluster(cstore: Store) -> None:
    # seed three subscribers due at 07:00 UTC the way subscriptions._save stores them
    for uid in (1, 2, 3):
        sub = Subscription(user_id=uid, chat_id=uid, hhmm=time(7, 0), tz="UTC", lang="ar", slot=NOW)
        await cstore.redis.hset(cstore.keys.subscription(uid), mapping=sub.to_hash())
        await cstore.redis.zadd(cstore.keys.due(), {str(uid): NOW.timestamp()})

    sent: list[int] = []

    class Sender:
        async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
            sent.append(chat_id)
            return len(sent)

    async def build(sub: Subscription, now: datetime) -> Rendered:
        return Rendered(parts=[("<b>موجز اليوم</b>", [])])

    first = Delivery(store=cstore, sender=Sender(), builder=build)
    other = Delivery(store=cstore, sender=Sender(), builder=build)
    # two processes claiming at the same instant split the subscribers, never share one
    a = await first.claim(NOW, 2)
    b = await other.claim(NOW, 10)
    assert sorted(a + b) == [1, 2, 3] and not set(a) & set(b)

    # the leases expire: a full tick sends each briefing once (claim + begin scripts,
    # and the {sched} transaction that marks it done and reschedules)
    later = NOW + timedelta(minutes=11)
    counts = await first.tick(later)
    assert counts["sent"] == 3 and sorted(sent) == [1, 2, 3]
    assert (await other.tick(later))["sent"] == 0
    for uid in (1, 2, 3):
        assert await cstore.redis.get(cstore.keys.sent(uid, "2026-03-01")) == "done"
    next_slot = await cstore.redis.zscore(cstore.keys.due(), "1")
    assert next_slot == (NOW + timedelta(days=1)).timestamp()


async def test_global_token_bucket_runs_on_the_cluster(cstore: Store) -> None:
    limiter = RateLimiter(store=cstore, rate=5, burst=3)
    waits = [await limiter.reserve() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0 < waits[3] <= 0.2 < waits[4] <= 0.4  # then one slot every 1/5 s
    assert await cstore.redis.ttl(cstore.keys.broadcast_bucket()) > 0


async def test_unsubscribe_transaction_runs_on_the_cluster(cstore: Store) -> None:
    sub = Subscription(user_id=9, chat_id=9, hhmm=time(7, 0), tz="UTC", lang="en", slot=NOW)
    await cstore.redis.hset(cstore.keys.subscription(9), mapping=sub.to_hash())
    await cstore.redis.zadd(cstore.keys.due(), {"9": NOW.timestamp()})
    assert await subs.unsubscribe(cstore, 9) is True
    assert await cstore.redis.zscore(cstore.keys.due(), "9") is None


async def test_subscribe_runs_on_the_cluster(cstore: Store) -> None:
    await subs.subscribe(
        cstore, user_id=5, chat_id=5, hhmm=time(7, 30), tz="Asia/Riyadh", lang="ar", now=NOW
    )
    got = await subs.get(cstore, 5)
    assert got is not None and got.tz == "Asia/Riyadh"
    assert await subs.count(cstore) == 1


async def test_multi_key_script_needs_the_hash_tag(cstore: Store) -> None:
    """A representative EVAL over two {sched} keys works; the same script over keys
    without a shared tag is refused by the cluster: why the tags matter."""
    script = cstore.redis.register_script(
        "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]);"
        "redis.call('SET', KEYS[2], ARGV[2], 'EX', 60);"
        "return redis.call('ZCARD', KEYS[1])"
    )
    k = cstore.keys
    assert await script(keys=[k.due(), k.subscription(77)], args=[NOW.timestamp(), "77"]) == 1
    untagged = [k.user(1), k.user(2)]
    assert slot(untagged[0]) != slot(untagged[1])
    with pytest.raises((RedisClusterException, ResponseError)):
        await cstore.redis.eval(
            "return redis.call('MGET', KEYS[1], KEYS[2])",
            2,
            *untagged,  # type: ignore[arg-type]
        )


async def test_webhook_update_dedupe_on_the_cluster(cstore: Store) -> None:
    key = cstore.keys.update_seen(123456)
    first = await cstore.redis.set(key, "1", nx=True, ex=SEEN_TTL_SECONDS)
    again = await cstore.redis.set(key, "1", nx=True, ex=SEEN_TTL_SECONDS)
    assert first is True and again is None


def llm_settings(fake_llm: FakeLLM, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-test-key-123456",
        openai_base_url=fake_llm.base_url,
        llm_model="fake-model",
        llm_timeout_seconds=10,
        llm_max_retries=0,
        redis_prefix=prefix,
        bot_data_dir=tmp_path,
    )


async def test_summaries_single_flight_and_cache_across_processes_on_the_cluster(
    cluster: LocalCluster, cstore: Store, fake_llm: FakeLLM, seed_text: str, tmp_path: Path
) -> None:
    """Two services with their own cluster clients (two processes) summarize the same
    article at once: one LLM call (single flight: lock + pub/sub on the cluster), the
    same digest for both, then a cache hit."""
    fake_llm.handler = model
    fake_llm.latency = 0.3
    other_client = RedisCluster.from_url(cluster.url, decode_responses=True)
    other = Store(redis=cast(Any, other_client), keys=cstore.keys, url=cluster.url)
    settings = llm_settings(fake_llm, cstore.keys.prefix, tmp_path)
    one = await SummarizeService.create(settings, cstore)
    two = await SummarizeService.create(settings, other)
    try:
        first, second = await asyncio.gather(
            one.digest(seed_text, kind="text", lang="ar"),
            two.digest(seed_text, kind="text", lang="ar"),
        )
        assert first.path == second.path == "llm"
        assert first.headline == second.headline
        summary_calls = fake_llm.calls
        third = await two.digest(seed_text, kind="text", lang="ar")
        assert third.cached and fake_llm.calls == summary_calls
        assert summary_calls == len(fake_llm.requests)
        assert {r["model"] for r in fake_llm.requests} == {"fake-model"}
        assert sum(1 for r in fake_llm.requests if seed_text[:40] in str(r)) == 1
    finally:
        await one.aclose()
        await two.aclose()
        await other_client.aclose()


async def test_per_user_limits_run_on_the_cluster(cstore: Store, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        summary_rate_per_minute=2,
        redis_prefix=cstore.keys.prefix,
        bot_data_dir=tmp_path,
    )
    limits = Limits(cstore, settings, FrozenClock(NOW))
    tickets = [await limits.reserve(7), await limits.reserve(7)]
    with pytest.raises(RateLimited):
        await limits.reserve(7)
    await limits.settle(tickets[0], cached=False, tokens=1200)
    assert await limits.tokens_today(7) == 1200
    held = await limits.hold_tokens(tickets[1], 500)  # the budget reservation script
    await limits.settle(tickets[1], cached=True, tokens=300, held=held)
    assert await limits.tokens_today(7) == 1500


async def test_lease_heartbeat_runs_on_the_cluster(cstore: Store) -> None:
    """The renew script touches the due set and the per-day keys together ({sched})."""
    sub = Subscription(user_id=4, chat_id=4, hhmm=time(7, 0), tz="UTC", lang="ar", slot=NOW)
    await cstore.redis.hset(cstore.keys.subscription(4), mapping=sub.to_hash())
    await cstore.redis.zadd(cstore.keys.due(), {"4": NOW.timestamp()})
    d = Delivery(store=cstore, sender=None, builder=None)  # type: ignore[arg-type]
    assert await d.claim(NOW, 10) == [4]
    sent_key = cstore.keys.sent(4, "2026-03-01")
    until = d.leases.expiry(4)
    await cstore.redis.set(sent_key, f"sending:{until}")
    d.leases.sending(4, sent_key)
    later = NOW + timedelta(seconds=30)
    assert await d.leases.renew(later) == 1
    new = d.leases.expiry(4)
    assert new is not None and until is not None and new > until
    assert await cstore.redis.zscore(cstore.keys.due(), "4") == new
    assert await cstore.redis.get(sent_key) == f"sending:{new}"


async def test_user_preferences_run_on_the_cluster(cstore: Store, tmp_path: Path) -> None:
    users = Users(cstore, Settings(_env_file=None, bot_data_dir=tmp_path))  # type: ignore[call-arg]
    await users.touch(8, 8)
    await users.set_lang(8, "ar")
    assert (await users.prefs(8, "en")).lang == "ar"
    assert await users.count() == 1


async def test_forget_runs_on_the_cluster(cstore: Store, tmp_path: Path) -> None:
    users = Users(cstore, Settings(_env_file=None, bot_data_dir=tmp_path))  # type: ignore[call-arg]
    await users.touch(9, 9)
    await users.forget(9)
    assert await users.count() == 0


# --- operations that once crossed slots: pipelines instead of MGET/MULTI, and a
# {chat:<id>} hash tag for a chat's follow-up keys


async def test_followup_context_runs_on_the_cluster(cstore: Store) -> None:
    context = ChatContext(cstore, ttl_seconds=3600)
    await context.bind_message(11, 5, "article-1")
    await context.set_active(11, "article-1")
    assert await context.article_for_reply(11, 5) == "article-1"
    await context.reset(11)  # one DEL over the chat's keys: one slot thanks to the tag
    assert await context.article_for_reply(11, 5) is None
    assert await context.active_article(11) is None


async def test_stats_series_runs_on_the_cluster(cstore: Store) -> None:
    days = [NOW.date() - timedelta(days=i) for i in range(3)]
    await stats.incr(cstore, "digests", 2, day=days[0])
    assert await stats.series(cstore, "digests", days) == [2, 0, 0]


async def test_feed_articles_load_on_the_cluster(cstore: Store) -> None:
    k = cstore.keys
    for i in range(3):
        art = FeedArticle(
            id=f"a{i}",
            url=f"https://example.com/{i}",
            title="عنوان",
            text="نص الخبر",
            source_id="s",
            source_name="مصدر",
            published=NOW.timestamp() - i,
            ingested=NOW.timestamp(),
        )
        await cstore.redis.set(k.feed_article(art.id), art.model_dump_json())
        await cstore.redis.zadd(k.feed_articles(), {art.id: art.published})
    got = await load_articles(cstore, NOW - timedelta(hours=1), NOW)
    assert [a.id for a in got] == ["a2", "a1", "a0"]


async def test_forget_user_everywhere_on_the_cluster(cstore: Store, tmp_path: Path) -> None:
    """/forget's clean-up (prefs, sources, briefing send marks, chat context) on the
    cluster; the usage counters stay (they hold no content, and /forget must not reset
    the limits)."""
    from bot.privacy import forget_user

    k = cstore.keys
    users = Users(cstore, Settings(_env_file=None, bot_data_dir=tmp_path))  # type: ignore[call-arg]
    await users.touch(77, 77)
    await cstore.redis.set(k.rate(77, 1), 3)
    await cstore.redis.set(k.tokens(77, "2026-11-29"), 900)
    await cstore.redis.set(k.sent(77, "2026-11-29"), 1)
    await cstore.redis.hset(k.user_sources(77), "http://x/feed", "{}")
    await ChatContext(cstore, ttl_seconds=3600).bind_message(77, 5, "article-1")
    await forget_user(cstore, 77, private_chat_id=77)
    left = [key async for key in cstore.redis.scan_iter(match=k.pattern()) if "77" in key]
    assert sorted(left) == sorted([k.rate(77, 1), k.tokens(77, "2026-11-29")])


async def test_feed_registry_reference_counts_on_the_cluster(cstore: Store) -> None:
    """The registry and a feed's reference set change in one script: one slot."""
    from bot.briefings import registry

    k = cstore.keys
    assert len({slot(k.feed_registry()), slot(k.feed_refs("a")), slot(k.feed_refs("b"))}) == 1
    assert await registry.add_ref(cstore, "a", 1, '{"name": "A", "url": "http://a/"}') == 1
    assert await registry.add_ref(cstore, "a", 2, '{"name": "A", "url": "http://a/"}') == 2
    assert await registry.release_ref(cstore, "a", 1) == 1
    assert await cstore.redis.hexists(k.feed_registry(), "a")
    assert await registry.release_ref(cstore, "a", 2) == 0
    assert not await cstore.redis.hexists(k.feed_registry(), "a")
