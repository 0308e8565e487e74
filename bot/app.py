"""Composition root: the one place that builds the store, clients and services.

    services = await build_services(settings, sender=sender)
    conversation = build_conversation(services)

Every entry point uses it: the Telegram runner and webhook (with a sender on the
Application's bot, bot/telegram/application.py), the console (`python -m bot chat`), the CLI
and the tests. Handlers reach the services through the `Conversation`, never through
globals; features register their commands and buttons in `build_conversation`.
"""

from __future__ import annotations

from bot.briefings import Briefings, Sender
from bot.chat import briefings, channels, commands, digests, documents, inline
from bot.chat.router import Conversation
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.followups import FollowupService
from bot.handled import HandledMessages
from bot.limits import Limits
from bot.messages import Button
from bot.privacy import forget_user
from bot.readers import Readers
from bot.services import Services
from bot.store.redis import Store, open_store
from bot.summarize.requests import DigestRequests
from bot.summarize.service import SummarizeService
from bot.supergroups import move_chat
from bot.users import Users

# The chat features, in the order their commands appear in /help and Telegram's menu.
FEATURES = (commands, digests, briefings, documents, channels, inline)


async def build_services(
    settings: Settings, *, sender: Sender, store: Store | None = None, clock: Clock | None = None
) -> Services:
    """Open Redis (unless `store` is given) and build every service once; briefings go
    out through `sender`. Close the result with `Services.close()`.

    Raises StoreUnavailable when Redis cannot be reached, ConfigError for a bad
    FEEDS_FILE.
    """
    owns = store is None
    store = store if store is not None else await open_store(settings)
    clock = clock or SystemClock()
    readers = Readers.from_settings(settings)  # worker processes start on first use
    summarizer = await build_summarizer(settings, store, clock=clock, readers=readers)

    async def forget(user_id: int, private_chat_id: int | None) -> None:  # after a 403
        await forget_user(store, user_id, private_chat_id=private_chat_id)

    async def moved(old: int, new: int) -> None:  # a send found the group upgraded
        await move_chat(old, new, users=users, briefings=briefing, context=followups.context)

    briefing = Briefings.create(
        settings,
        store,
        sender,
        llm=summarizer.llm,
        clock=clock,
        readers=readers,
        on_blocked=forget,
        on_moved=moved,
    )
    limits = Limits(store, settings, clock)
    users = Users(store, settings)
    followups = FollowupService(
        settings, store, articles=summarizer, llm=summarizer.llm, clock=clock
    )
    digests = DigestRequests(
        settings,
        store,
        summarizer=summarizer,
        limits=limits,
        users=users,
        context=followups.context,
    )
    return Services(
        settings=settings,
        store=store,
        clock=clock,
        summarizer=summarizer,
        limits=limits,
        users=users,
        followups=followups,
        briefings=briefing,
        readers=readers,
        digests=digests,
        handled=HandledMessages(store, settings.edit_memory_hours * 3600),
        owns_store=owns,
    )


async def build_summarizer(
    settings: Settings,
    store: Store,
    *,
    clock: Clock | None = None,
    readers: Readers | None = None,
) -> SummarizeService:
    """The digest service alone, for `python -m bot summarize` (one digest, no chat):
    its own fetcher and LLM client (none without OPENAI_API_KEY), and its own reader
    workers unless `readers` is given; the caller closes it."""
    return await SummarizeService.create(
        settings, store, clock=clock or SystemClock(), readers=readers
    )


class NoSender:
    """The Sender of a process that never broadcasts (the console, `feeds poll`,
    `briefing preview`): chat replies go through an Outbox instead."""

    async def send(self, chat_id: int, html: str, buttons: list[list[Button]]) -> int:
        raise RuntimeError("this process does not send briefings")


def build_conversation(services: Services) -> Conversation:
    """The conversation with every feature's commands and buttons registered."""
    conversation = Conversation(services)
    for feature in FEATURES:
        feature.register(conversation)
    return conversation
