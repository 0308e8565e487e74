"""Composition root: builds the store, clients and services once, and closes them.

`build_services(settings)` is called by each entry point (`run`, `chat`, the webhook
server); handlers reach the result through `Services`, never through globals.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.limits import Limits
from bot.store.redis import Store, open_store
from bot.summarize.service import SummarizeService
from bot.users import Users

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the conversation layer needs. `followups` and `briefings` are optional
    features: None when they are not available."""

    settings: Settings
    store: Store
    summarizer: SummarizeService
    limits: Limits
    users: Users
    clock: Clock
    followups: Any = None
    briefings: Any = None
    owns_store: bool = True

    async def close(self) -> None:
        """Close the services and (when this object opened it) the store."""
        for closer in (
            getattr(self.briefings, "aclose", None),
            getattr(self.followups, "aclose", None),
            self.summarizer.aclose,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        if self.owns_store:
            await self.store.close()


async def build_services(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None
) -> Services:
    """Open Redis (unless `store` is given) and build every service.

    Raises StoreUnavailable when Redis cannot be reached.
    """
    owns = store is None
    store = store if store is not None else await open_store(settings)
    clock = clock or SystemClock()
    summarizer = await SummarizeService.create(settings, store)
    summarizer.clock = clock
    services = Services(
        settings=settings,
        store=store,
        summarizer=summarizer,
        limits=Limits(store, settings, clock),
        users=Users(store, settings),
        clock=clock,
        owns_store=owns,
    )
    services.followups = _followups(settings, store, summarizer, clock)
    return services


def _followups(settings: Settings, store: Store, summarizer: SummarizeService, clock: Clock) -> Any:
    """The follow-up service when that feature is installed, else None."""
    try:
        from bot.followups.service import FollowupService
    except ImportError:
        return None
    return FollowupService(settings, store, articles=summarizer, llm=summarizer.llm, clock=clock)
