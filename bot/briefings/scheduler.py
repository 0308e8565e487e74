"""Wiring the briefing services, and the APScheduler jobs that drive them.

`Briefings.create(settings, store, sender, llm=...)` builds the poller, composer and delivery
once per process. `start_scheduler(briefings)` runs an APScheduler 3
`AsyncIOScheduler` with two in-memory jobs:

* `tick` every minute: deliver the briefings due now;
* `poll` every FEED_POLL_MINUTES: poll the feeds (the Redis poll lock makes one
  replica poll per interval).

APScheduler's job stores cannot be shared between processes (its FAQ), so they hold
nothing durable: Redis (the due set, leases, per-day keys) is the source of truth, and
every replica may run the same jobs. `coalesce=True` folds a backlog of missed runs
into one (a tick catches up with everything due anyway), `max_instances=1` keeps a
slow tick from overlapping the next, and `misfire_grace_time` (30 s for the tick, half
the interval for polling) lets a briefly blocked loop still run the job late rather
than skip it, instead of APScheduler's default 1 s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.briefings.compose import Composer
from bot.briefings.delivery import Delivery, Sender, format_counts
from bot.briefings.feeds import FeedPoller, PollReport
from bot.briefings.limiter import RateLimiter
from bot.briefings.pacing import ChatSender
from bot.briefings.sources import Source, all_sources, load_defaults
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.readers import Readers
from bot.store.redis import Store

log = logging.getLogger(__name__)


@dataclass
class Briefings:
    """The briefing services of one process (built by bot.app.build_services)."""

    settings: Settings
    store: Store
    clock: Clock
    defaults: list[Source]
    fetcher: Fetcher
    composer: Composer
    delivery: Delivery
    poller: FeedPoller

    @classmethod
    def create(
        cls,
        settings: Settings,
        store: Store,
        sender: Sender,
        *,
        llm: LLMClient | None,
        clock: Clock | None = None,
        rate_limit: bool = True,
        readers: Readers | None = None,
    ) -> Briefings:
        """Build every briefing service; `llm` (None: offline) and `readers` (feed
        entries' pages are read there) belong to the caller.

        Raises ConfigError for a bad FEEDS_FILE."""
        clock = clock or SystemClock()
        defaults = load_defaults(settings.feeds_file)
        fetcher = Fetcher.from_settings(settings)
        composer = Composer(store=store, llm=llm, defaults=defaults)
        paced = ChatSender(
            sender,
            store,
            per_minute=settings.group_messages_per_minute,
            recall_ttl=settings.context_ttl,
        )
        delivery = Delivery(
            store=store,
            sender=paced,
            builder=composer.for_subscription,
            grace=timedelta(hours=settings.briefing_grace_hours),
            skip_empty=settings.briefing_skip_empty,
            limiter=RateLimiter(store, settings.broadcast_rate, burst=1.0) if rate_limit else None,
        )
        poller = FeedPoller(
            store=store,
            fetcher=fetcher,
            clock=clock,
            feed_max_bytes=settings.feed_max_bytes,
            readers=readers,
        )
        return cls(settings, store, clock, defaults, fetcher, composer, delivery, poller)

    async def tick(self) -> None:
        counts = await self.delivery.tick(self.clock.now())
        if sum(counts.values()):
            log.info("briefings: %s", format_counts(counts))

    async def poll(self, *, locked: bool = True) -> PollReport:
        sources = await all_sources(self.store, self.defaults)
        lock = timedelta(minutes=self.settings.feed_poll_minutes) - timedelta(seconds=5)
        report = await self.poller.poll_all(sources, lock_for=lock if locked else None)
        log.info("feeds: %s", report.line())
        return report

    async def aclose(self) -> None:
        """Close the fetcher (the LLM client and the store belong to the caller)."""
        await self.fetcher.aclose()


def start_scheduler(briefings: Briefings) -> AsyncIOScheduler:
    """Start the tick and polling jobs on the running event loop; returns the scheduler."""
    minutes = briefings.settings.feed_poll_minutes
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        briefings.tick,
        "interval",
        minutes=1,
        id="briefing-tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=30,
    )
    scheduler.add_job(
        briefings.poll,
        "interval",
        minutes=minutes,
        id="feed-poll",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(30, minutes * 30),
        # first poll soon after start-up rather than a whole interval later
        next_run_time=datetime.now(UTC) + timedelta(seconds=10),
    )
    scheduler.start()
    return scheduler
