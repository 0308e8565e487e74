"""The store on a real 3-node Redis Cluster (started on loopback ports by the test).

Keys that one Lua script or one transaction touches must share a hash slot; these
tests check the key module's hash tags and then run the real briefing code (claim
script, per-day idempotency script, transactions, the global token bucket) and the
webhook's update dedupe through `redis.asyncio.cluster.RedisCluster`, unchanged.
Skipped only when no redis-server / valkey-server binary exists on the machine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.cluster import key_slot
from redis.exceptions import CrossSlotTransactionError, RedisClusterException, ResponseError

from bot.briefings import subscriptions as subs
from bot.briefings.delivery import Delivery, Rendered
from bot.briefings.limiter import RateLimiter
from bot.briefings.subscriptions import Subscription
from bot.chat.types import Button
from bot.store.keys import Keys
from bot.store.redis import Store
from bot.telegram.webhook import SEEN_TTL_SECONDS
from tests.fakes.cluster import LocalCluster, server_binary

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
    """A Store whose client is a RedisCluster, under a unique prefix."""
    client = RedisCluster.from_url(cluster.url, decode_responses=True)
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
    sched = [k.due(), k.subscription(42), k.lease(42), k.sent(42, "2026-03-01")]
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
    waits = [await limiter.try_acquire() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0 < waits[3] <= 0.2  # the 4th waits about 1/5 s
    assert await cstore.redis.ttl(cstore.keys.broadcast_bucket()) > 0


async def test_unsubscribe_transaction_runs_on_the_cluster(cstore: Store) -> None:
    sub = Subscription(user_id=9, chat_id=9, hhmm=time(7, 0), tz="UTC", lang="en", slot=NOW)
    await cstore.redis.hset(cstore.keys.subscription(9), mapping=sub.to_hash())
    await cstore.redis.zadd(cstore.keys.due(), {"9": NOW.timestamp()})
    assert await subs.unsubscribe(cstore, 9) is True
    assert await cstore.redis.zscore(cstore.keys.due(), "9") is None


@pytest.mark.xfail(
    strict=True,
    raises=CrossSlotTransactionError,
    reason="subscriptions._save puts keys.user(uid) (no {sched} tag) in the same "
    "MULTI as the {sched} keys: CROSSSLOT on a cluster (reported to the lead)",
)
async def test_subscribe_runs_on_the_cluster(cstore: Store) -> None:
    await subs.subscribe(
        cstore, user_id=5, chat_id=5, hhmm=time(7, 30), tz="Asia/Riyadh", lang="ar", now=NOW
    )
    got = await subs.get(cstore, 5)
    assert got is not None and got.tz == "Asia/Riyadh"


async def test_multi_key_script_needs_the_hash_tag(cstore: Store) -> None:
    """A representative EVAL over two {sched} keys works; the same script over keys
    without a shared tag is refused by the cluster: why the tags matter."""
    script = cstore.redis.register_script(
        "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]);"
        "redis.call('SET', KEYS[2], ARGV[2], 'EX', 60);"
        "return redis.call('ZCARD', KEYS[1])"
    )
    k = cstore.keys
    assert await script(keys=[k.due(), k.lease(77)], args=[NOW.timestamp(), "77"]) == 1
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
