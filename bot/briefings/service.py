"""The briefing feature's front door: `Briefings`, one object per process.

`Briefings.create(settings, store, sender, llm=..., on_blocked=...)` builds the poller,
composer and delivery once per process (bot/app.py). The scheduler's jobs call `tick`
and `poll` (bot/briefings/scheduler.py); the chat layer calls the methods below for
subscriptions, sources, an on-demand briefing and a briefing's stories. Nothing outside
bot/briefings imports its other modules: what they need is here or in `__init__`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, time, timedelta

from bot.briefings import recall, sources, subscriptions, topics
from bot.briefings.compose import Composer
from bot.briefings.delivery import Delivery, Sender, format_counts
from bot.briefings.feeds import FeedArticle, FeedPoller, PollReport, get_article
from bot.briefings.limiter import RateLimiter
from bot.briefings.memory import ToldItem
from bot.briefings.message import render_parts, render_text
from bot.briefings.pacing import ChatSender, story_ids, without_unsubscribe
from bot.briefings.schedule import local_date
from bot.briefings.sources import Source, all_sources, load_defaults
from bot.briefings.subscriptions import Subscription
from bot.briefings.topics import Topics
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.ingest.fetch import Fetcher
from bot.llm.client import LLMClient
from bot.messages import Button
from bot.readers import Readers
from bot.store.redis import Store

log = logging.getLogger(__name__)

Part = tuple[str, list[list[Button]], list[str]]  # html, buttons, the stories it shows


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
        on_blocked: Callable[[int, int | None], Awaitable[None]] | None = None,
        on_moved: Callable[[int, int], Awaitable[None]] | None = None,
        readers: Readers | None = None,
    ) -> Briefings:
        """Build every briefing service; `llm` (None: offline) and `readers` (feed
        entries' pages are read there) belong to the caller.
        `on_blocked(user_id, private_chat_id)` runs when Telegram answers 403 (the
        composition root passes "forget the user"; without it, only their briefing data
        goes). `on_moved(old, new)` runs when a send finds a group upgraded to a
        supergroup (the composition root moves all of the group's data).

        Raises ConfigError for a bad FEEDS_FILE."""
        clock = clock or SystemClock()
        defaults = load_defaults(settings.feeds_file)
        fetcher = Fetcher.from_settings(settings)
        composer = Composer(
            store=store,
            llm=llm,
            defaults=defaults,
            memory_days=settings.briefing_memory_days,
            max_input_tokens=settings.llm_max_input_tokens,
        )
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
            on_blocked=on_blocked,
            on_moved=on_moved,
            on_sent=composer.record,
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

    async def all_sources(self) -> list[Source]:
        """The defaults plus every subscriber's own sources (what a poll fetches)."""
        return await all_sources(self.store, self.defaults)

    async def poll(self, *, locked: bool = True) -> PollReport:
        sources = await self.all_sources()
        lock = timedelta(minutes=self.settings.feed_poll_minutes) - timedelta(seconds=5)
        report = await self.poller.poll_all(sources, lock_for=lock if locked else None)
        log.info("feeds: %s", report.line())
        return report

    async def aclose(self) -> None:
        """Close the fetcher (the LLM client and the store belong to the caller)."""
        await self.fetcher.aclose()

    # --- what the chat layer asks -------------------------------------------------

    async def subscription(self, subject: int) -> Subscription | None:
        return await subscriptions.get(self.store, subject)

    async def timezone_of(self, subject: int, default: str | None = None) -> str:
        """The zone `subject` set with /timezone, else `default` (the operator's)."""
        return await subscriptions.user_timezone(
            self.store, subject, default or self.settings.default_timezone
        )

    async def set_timezone(self, subject: int, name: str) -> str:
        """Raises BadTimezone."""
        return await subscriptions.set_timezone(self.store, subject, name, now=self.clock.now())

    async def subscribe(
        self,
        subject: int,
        chat_id: int,
        at: time,
        *,
        tz: str,
        lang: str,
        kind: str | None = None,
    ) -> Subscription:
        return await subscriptions.subscribe(
            self.store,
            user_id=subject,
            chat_id=chat_id,
            hhmm=at,
            tz=tz,
            lang=lang,
            now=self.clock.now(),
            kind=kind,
        )

    async def unsubscribe(self, subject: int) -> bool:
        return await subscriptions.unsubscribe(self.store, subject)

    async def move_subscriber(self, old: int, new: int) -> tuple[bool, int]:
        """A group became a supergroup: its subscription (with its schedule, last
        briefing and today's send marks), story memory, topics and own sources follow
        it to the new id. Returns (a subscription moved, how many sources moved);
        (False, 0) once everything has moved (idempotent)."""
        moved = await subscriptions.move(self.store, old, new)
        return moved, await sources.move_sources(self.store, old, new)

    async def count_by_kind(self) -> dict[str, int]:
        return await subscriptions.count_by_kind(self.store)

    async def preview(self, subject: int, lang: str) -> str:
        """The briefing `subject` would get now, as plain text (since their last one)."""
        sub = await subscriptions.get(self.store, subject)
        brief = await self.composer.build(
            user_id=subject,
            lang=lang,
            tz=await self.timezone_of(subject),
            now=self.clock.now(),
            since=sub.last_sent if sub else None,
        )
        return render_text(brief)

    async def own_sources_cost(self, subject: int, *, lang: str) -> int:
        """Tokens the briefing now would spend on stories only the subject's own sources
        carry (shared stories are summarized once for everyone and cost them nothing)."""
        return await self.composer.own_sources_cost(
            user_id=subject, lang=lang, now=self.clock.now()
        )

    async def briefing_now(self, subject: int, *, lang: str, tz: str, private: bool) -> list[Part]:
        """The subject's briefing now, as messages (html, buttons, their story ids); the
        unsubscribe button only where the reader can use it (private chats). What it
        tells is remembered (the next briefings do not repeat it)."""
        brief = await self.composer.build(
            user_id=subject, lang=lang, tz=tz, now=self.clock.now(), remember=True
        )
        parts: list[Part] = []
        for html, buttons in render_parts(brief):
            stories = story_ids(buttons)
            parts.append((html, buttons if private else without_unsubscribe(buttons), stories))
        return parts

    async def remember(self, chat_id: int, message_ids: list[int], stories: list[str]) -> None:
        """Remember that these messages show these stories (replies ask about them)."""
        ttl = self.settings.context_ttl
        await recall.remember_briefing(self.store, chat_id, message_ids, stories, ttl=ttl)

    async def stories_of(self, chat_id: int, message_id: int) -> list[FeedArticle]:
        """The stories a briefing message shows, in order ([] when it is not one)."""
        ids = await recall.briefing_stories(self.store, chat_id, message_id)
        found = [await get_article(self.store, aid) for aid in ids]
        return [fa for fa in found if fa is not None]

    async def story(self, article_id: str) -> FeedArticle | None:
        return await get_article(self.store, article_id)

    async def own_sources(self, subject: int) -> list[Source]:
        return await sources.user_sources(self.store, subject)

    async def add_source(self, subject: int, url: str) -> Source:
        """Raises BadInput, NotAFeed, TooManySources, TooLarge, BlockedAddress, FetchError."""
        return await sources.add_source(
            self.store, self.fetcher, subject, url, max_bytes=self.settings.feed_max_bytes
        )

    async def remove_source(self, subject: int, source_id: str) -> Source | None:
        return await sources.remove_source(self.store, subject, source_id)

    # --- topics and story memory (issue 23) -----------------------------------------

    async def topics(self, subject: int) -> Topics:
        """The topics `subject` follows and mutes."""
        return await topics.get(self.store, subject)

    async def follow(self, subject: int, words: str) -> str:
        """Follow a topic (its stories rank first); the topic as kept. Raises BadTopic,
        TopicTooLong, TooManyTopics."""
        return await topics.add(self.store, subject, "follow", words)

    async def mute(self, subject: int, words: str) -> str:
        """Mute a topic (its stories are left out); the topic as kept. Raises as follow."""
        return await topics.add(self.store, subject, "mute", words)

    async def unfollow(self, subject: int, words: str) -> str | None:
        """Stop following a topic; the topic, or None when it was not followed."""
        return await topics.remove(self.store, subject, "follow", words)

    async def unmute(self, subject: int, words: str) -> str | None:
        """Stop muting a topic; the topic, or None when it was not muted."""
        return await topics.remove(self.store, subject, "mute", words)

    async def earlier_of(
        self, subject: int, article_ids: list[str]
    ) -> dict[str, list[tuple[date, ToldItem]]]:
        """For each story (lead article id) of a briefing `subject` got: what their
        earlier briefings told about it, newest first (a briefing question's context)."""
        tz = await self.timezone_of(subject)
        memory = await self.composer.memory.read(subject, local_date(self.clock.now(), tz))
        out: dict[str, list[tuple[date, ToldItem]]] = {}
        for entry in memory.entries.values():
            if entry.lead not in article_ids:
                continue
            older = memory.chain(entry.key)[1:]
            items = await self.composer.memory.items([e.item for e in older])
            told = [(e.day, items[e.item]) for e in older if e.item in items]
            if told:
                out[entry.lead] = told
        return out
