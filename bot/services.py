"""`Services`: everything the chat layer and the entry points use, built once by
`bot.app.build_services` (the composition root) and closed by its owner."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from bot.briefings import Briefings
from bot.clock import Clock
from bot.config import Settings
from bot.followups import FollowupService
from bot.handled import HandledMessages
from bot.limits import Limits
from bot.readers import Readers
from bot.store.redis import Store
from bot.summarize.requests import DigestRequests
from bot.summarize.service import SummarizeService
from bot.users import Users


@dataclass(frozen=True)
class Services:
    """The process's services, each with its real type; none is optional."""

    settings: Settings
    store: Store
    clock: Clock
    summarizer: SummarizeService
    limits: Limits
    users: Users
    followups: FollowupService
    briefings: Briefings
    readers: Readers
    digests: DigestRequests  # a user's metered digest request
    handled: HandledMessages  # which content of a message was answered (edits)
    owns_store: bool = True

    async def close(self) -> None:
        """Close the services, kill the reader workers (a stuck one too) and (when
        `build_services` opened it) close the store."""
        for closer in (self.briefings.aclose, self.summarizer.aclose, self.readers.aclose):
            with contextlib.suppress(Exception):
                await closer()
        if self.owns_store:
            await self.store.close()
