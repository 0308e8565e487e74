"""The APScheduler jobs that drive the briefing services.

`start_scheduler(briefings)` runs an APScheduler 3 `AsyncIOScheduler` with two in-memory
jobs:

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

from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.briefings.service import Briefings


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
