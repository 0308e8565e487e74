"""Composing a subscriber's briefing: their stories, each summarized once per language.

Cost model (chosen: single-language calls). Each story is summarized by one LLM call
per language it is needed in, and the result is cached in `keys.story_summary(lead,
lang)` for every subscriber, process and tick after it. The cache is keyed by the lead
article actually summarized (`Story.lead_key`: its id and content hash), never by the
cluster, so a subscriber whose own feed leads a story cannot change what others read. A briefing day with S stories
read by Arabic and English subscribers costs at most S x 2 calls, whatever the number
of subscribers or sources. One call returning both languages would cost S calls but
pays for the second language even when nobody reads it, produces longer outputs that
fail validation more often, and invalidates both caches together; with single-language
calls a story read only in Arabic costs one call. The benchmark counts the calls.
Each call's calls and tokens go to the daily counters (bot.stats "llm_calls" and
"llm_tokens"), so /stats shows what briefings cost next to digests.

Concurrent requests for one summary share one call: in-process through a shared
task, across processes through a `SET NX` lock (`keys.story_flight`) whose holder
fills the cache while the others wait for it. Without an LLM (no OPENAI_API_KEY) or
when it fails, the item is the extractive headline and first bullets of the story's
lead article, in the article's language.

One prefix per article (issue 21). An item call starts like every request about the
story's lead article: the common article system message, then the article message that
a reader's question about that briefing story starts with (`bot.followups.
question_prefix`, byte for byte), then the item's task (`prompts/briefing_item.md`);
its translation into the other language starts with the same two messages. A server
that caches prompt prefixes then reads the article once for the item, its translation
and the questions readers ask about the story. An article too long to go whole with
every question (questions then get the passages retrieval picks) is read up to
MAX_ARTICLE_CHARS, in the same layout.

Memory and topics (issue 23). A subscriber's briefing is built against what their
earlier briefings told them (bot/briefings/memory.py) and the topics they follow or
mute (topics.py): muted stories are dropped, followed ones rank first; a story they
were told is left out when nothing is new (a re-post, a rewrite: counted in the
briefing's `left_out` and said in one line) and comes back as an update item when it
has something new (bot/briefings/updates.py: one call per new article, earlier item
and language, shared by every reader told that item). What each delivered briefing
told is recorded after the send (`record`, wired as the delivery's `on_sent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from bot import stats
from bot.briefings import topics as topic_store
from bot.briefings.batched import Batched
from bot.briefings.delivery import Rendered
from bot.briefings.feeds import load_articles
from bot.briefings.memory import (
    Memory,
    MemoryStore,
    Novelty,
    Told,
    ToldItem,
    ToldStory,
    content_hash,
    lead_terms,
    novelty,
    parse_memory,
)
from bot.briefings.message import Briefing, BriefingItem, render_parts
from bot.briefings.schedule import local_date
from bot.briefings.sources import Source
from bot.briefings.stories import Story, cluster, rank
from bot.briefings.subscriptions import Subscription
from bot.briefings.topics import Topics
from bot.briefings.updates import Updates, headline_for, new_points
from bot.domain import Article
from bot.errors import LLMError
from bot.followups import question_prefix
from bot.llm.article import article_messages, with_task
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.prompts import load_prompt
from bot.llm.tokens import estimate_tokens
from bot.store.redis import Store
from bot.summarize.extractive import summarize_extractive
from bot.summarize.translate import translate_draft
from bot.summarize.writer import LLMDraft

log = logging.getLogger(__name__)

MAX_STORIES = 5
CANDIDATES = 4  # stories looked at per item slot (repeats and muted ones are skipped)
MEMORY_DAYS = 7
WINDOW = timedelta(hours=24)
SUMMARY_TTL = 3 * 24 * 3600
FALLBACK_TTL = 3600
FLIGHT_SECONDS = 60
MAX_ARTICLE_CHARS = 6000  # read of an article too long to go whole with every question
ITEM_CALL = 900  # tokens of an item call besides the article: prompt and reply (upper-leaning)
MAX_INPUT_TOKENS = 6000  # settings.llm_max_input_tokens' default (the service passes it)
LANGUAGE_NAMES = {"ar": "Arabic", "en": "English"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "headline": {"type": "string"},
        "bullets": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["headline", "bullets"],
    "additionalProperties": False,
}


class ItemSummary(BaseModel):
    """A story's briefing item in one language: headline and 1-2 bullets."""

    headline: str
    bullets: list[str]
    lang: str
    path: Literal["llm", "extractive"] = "llm"


@dataclass(frozen=True)
class Reader:
    """What a subscriber's briefing depends on besides the stories: their sources,
    what they were told (memory) and their topics."""

    sources: frozenset[str]
    memory: Memory
    topics: Topics


@dataclass
class Built:
    """A briefing and what it tells (recorded in the memory once delivered)."""

    briefing: Briefing
    told: list[Told]


@dataclass
class Composer:
    """Builds briefings. One instance per process; share it between ticks."""

    store: Store
    llm: LLMClient | None  # None: offline mode (extractive items)
    defaults: list[Source]
    max_stories: int = MAX_STORIES
    memory_days: int = MEMORY_DAYS
    max_input_tokens: int = MAX_INPUT_TOKENS  # what decides whether questions get it whole
    llm_calls: int = 0
    _stories: tuple[float, list[Story]] | None = None
    _inflight: dict[tuple[str, str], asyncio.Task[ItemSummary]] = field(default_factory=dict)
    _memo: dict[tuple[str, str], ItemSummary] = field(default_factory=dict)
    _rendered: dict[Any, list[Any]] = field(default_factory=dict)
    _stories_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _briefings: dict[Any, tuple[list[Story], Rendered]] = field(default_factory=dict)
    _own_sources: Batched | None = field(default=None, repr=False)
    _records: Batched | None = field(default=None, repr=False)
    memory: MemoryStore = field(init=False, repr=False)
    updates: Updates = field(init=False, repr=False)
    _words: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _terms: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _matches: dict[tuple[Any, ...], bool] = field(default_factory=dict, repr=False)
    _told: dict[tuple[Any, ...], ToldStory] = field(default_factory=dict, repr=False)
    _stale: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Concurrent subscribers' reads (own sources, memory, topics) and memory writes
        # share one pipeline round trip each.
        self._own_sources = Batched(self._read_subjects)
        self._records = Batched(self._record_many)
        self.memory = MemoryStore(self.store, self.memory_days)
        self.updates = Updates(self.store, self.llm)

    async def _read_subjects(self, user_ids: list[int]) -> list[tuple[dict[str, str], ...]]:
        k = self.store.keys
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for uid in user_ids:
                pipe.hgetall(k.user_sources(uid))
                pipe.hgetall(k.briefing_memory(uid))
                pipe.hgetall(k.topics(uid))
            raw = list(await pipe.execute())
        return [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]

    def _source_ids(self, own: dict[str, str]) -> frozenset[str]:
        """Ids of the defaults plus a subscriber's own sources (their stored hash)."""
        ids = {s.id for s in self.defaults}
        ids.update(Source.from_json(v).id for v in own.values())
        return frozenset(ids)

    async def source_ids(self, user_id: int) -> frozenset[str]:
        """The subscriber's sources alone (no memory bookkeeping)."""
        assert self._own_sources is not None
        own, _, _ = await self._own_sources(user_id)
        return self._source_ids(own)

    async def reader(self, user_id: int, today: date) -> Reader:
        """The subscriber's sources (defaults plus their own), memory and topics."""
        assert self._own_sources is not None
        own, memory, topics = await self._own_sources(user_id)
        told = parse_memory(memory, self.memory.cutoff(today))
        if told.stale:  # deleted with the next write (`record`)
            if len(self._stale) > 50000:
                self._stale.clear()
            self._stale[user_id] = told.stale
        return Reader(self._source_ids(own), told, topic_store.parse(topics))

    async def stories(self, now: datetime) -> list[Story]:
        """Every story of the last 48 h at `now` (clustered once per minute per process)."""
        stamp = now.timestamp() // 60
        async with self._stories_lock:
            if self._stories is None or self._stories[0] != stamp:
                articles = await load_articles(self.store, now - 2 * WINDOW, now)
                self._stories = (stamp, await asyncio.to_thread(cluster, articles))
            return self._stories[1]

    async def build(
        self,
        *,
        user_id: int,
        lang: str,
        tz: str,
        now: datetime,
        since: datetime | None = None,
        remember: bool = False,
    ) -> Briefing:
        """The briefing `user_id` gets at `now`: top stories since `since` (at most
        24 h), against what they were told and their topics; with `remember`, what it
        tells is recorded as delivered (an on-demand /briefing)."""
        start = max(since, now - WINDOW) if since else now - WINDOW
        today = local_date(now, tz)
        reader = await self.reader(user_id, today)
        built = await self._build(lang, tz, now, start, reader)
        if remember:
            await self.memory.record_many([(user_id, today, built.told, reader.memory.stale)])
        return built.briefing

    async def own_sources_cost(
        self, *, user_id: int, lang: str, now: datetime, since: datetime | None = None
    ) -> int:
        """Tokens the briefing `user_id` would get at `now` spends on their own sources
        alone: items of stories no operator feed carries (so nobody else's briefing
        pays for them) that are not summarized in `lang` yet. Shared and cached stories
        cost nothing. An upper-leaning estimate (the lead's text read, the item written,
        and a translation when `lang` is not the lead's language)."""
        if self.llm is None:
            return 0
        start = max(since, now - WINDOW) if since else now - WINDOW
        mine = await self.source_ids(user_id)
        top = rank(
            await self.stories(now),
            since=start,
            now=now,
            source_ids=set(mine),
            limit=self.max_stories,
        )
        total = 0
        for story in top:
            lead = story.lead
            if lead.operator or self._memo.get((story.lead_key, lang)) is not None:
                continue
            if await self.store.redis.exists(self.store.keys.story_summary(story.lead_key, lang)):
                continue
            read = self._read_tokens(lead.title, lead.text)
            total += read + ITEM_CALL
            if lang != lead.language:  # the translation starts with the article too
                total += read + ITEM_CALL
        return total

    def _read_tokens(self, title: str, text: str) -> int:
        """Upper-leaning tokens of the article an item call reads: the whole of it when
        questions get it whole (within the input budget), else its first
        MAX_ARTICLE_CHARS."""
        whole = estimate_tokens(f"{title}\n\n{text}")
        cut = estimate_tokens(f"{title}\n\n{text[:MAX_ARTICLE_CHARS]}")
        return min(whole, max(self.max_input_tokens, cut))

    async def _build(
        self, lang: str, tz: str, now: datetime, start: datetime, reader: Reader
    ) -> Built:
        stories = await self.stories(now)
        ranked = rank(
            stories,
            since=start,
            now=now,
            source_ids=set(reader.sources),
            limit=len(stories) if not reader.topics.empty else self.max_stories * CANDIDATES,
        )
        if not reader.topics.empty:  # a followed story ranks first from anywhere in the list
            if len(self._words) > 5000:
                self._words.clear()
            ranked = topic_store.apply(ranked, reader.topics, self._words)
        ranked = ranked[: self.max_stories * CANDIDATES]
        told = await self.memory.stories(list(reader.memory.entries))
        left_out = 0
        chosen: list[tuple[Story, list[str], Novelty | None]] = []
        for story in ranked:
            matched = [key for key, ts in told.items() if self._same(story, key, ts)]
            if not matched:
                chosen.append((story, [], None))
                continue
            new = novelty(story, [told[key] for key in matched])
            if new.anything:
                chosen.append((story, matched, new))
            else:
                left_out += 1  # a re-post or a rewrite of what they were told
        items: list[BriefingItem] = []
        tells: list[Told] = []
        i = 0
        while len(items) < self.max_stories and i < len(chosen):
            batch = chosen[i : i + self.max_stories - len(items)]
            i += len(batch)
            done = await asyncio.gather(
                *(self._item(s, matched, new, lang, reader.memory) for s, matched, new in batch)
            )
            for result in done:
                if result is None:
                    left_out += 1  # matched, but no new point survived the checks
                else:
                    items.append(result[0])
                    tells.append(result[1])
        day = local_date(now, tz)
        return Built(Briefing(lang=lang, day=day, items=items, left_out=left_out), tells)

    def _same(self, story: Story, key: str, told: ToldStory) -> bool:
        """Whether `story` is the told story `key` (memoized per story version)."""
        memo = (story.id, len(story.articles), story.articles[-1].id, key)
        hit = self._matches.get(memo)
        if hit is None:
            terms = self._terms.get(story.lead.id)
            if terms is None:
                terms = self._terms[story.lead.id] = lead_terms(story.lead)
            hit = self._matches[memo] = told.matches(story, terms)
            if len(self._matches) > 50000:
                self._matches.clear()
                self._terms.clear()
        return hit

    def _told_story(self, story: Story) -> ToldStory:
        memo = (story.id, len(story.articles), story.articles[-1].id)
        hit = self._told.get(memo)
        if hit is None:
            if len(self._told) > 5000:
                self._told.clear()
            hit = self._told[memo] = ToldStory.of(story)
        return hit

    async def _item(
        self, story: Story, matched: list[str], new: Novelty | None, lang: str, memory: Memory
    ) -> tuple[BriefingItem, Told] | None:
        """The story's item: a new one, or an update on the told entries `matched`
        (None when the update has nothing new for this reader)."""
        if new is not None:
            return await self._update(story, matched, new, lang, memory)
        m = self._memo.get((story.lead_key, lang)) or await self.summary(story, lang)
        item = BriefingItem(
            story_id=story.id,
            article_id=story.lead.id,
            headline=m.headline,
            bullets=m.bullets[:2],
            links=story.links(),
            path=m.path,
        )
        told = ToldItem(lang, item.headline, tuple(item.bullets))
        return item, Told(story.lead_key, self._told_story(story), told, story.lead.id)

    async def _update(
        self, story: Story, matched: list[str], new: Novelty, lang: str, memory: Memory
    ) -> tuple[BriefingItem, Told] | None:
        entries = [memory.entries[k] for k in matched]
        chain = {e.key: e for k in matched for e in memory.chain(k)}
        told_items = await self.memory.items([e.item for e in chain.values()])
        latest = max(entries, key=lambda e: (e.day, e.key))
        earlier = told_items.get(latest.item)
        told_stories = list((await self.memory.stories(matched)).values())
        seen = set().union(*(ts.articles for ts in told_stories))
        hashes = set().union(*(ts.hashes for ts in told_stories))
        fresh_articles = [
            a for a in story.articles if a.id not in seen and content_hash(a) not in hashes
        ]
        if not fresh_articles:
            return None
        if earlier is None:  # the told text expired before the memory: tell it anew
            return await self._item(story, [], None, lang, memory)
        fresh = Story(articles=fresh_articles, sid=story.id)
        update = await self.updates.get(fresh, earlier, lang, new)
        points = new_points(update, list(told_items.values()))
        if not points:
            return None
        headline = headline_for(
            update,
            points,
            list(told_items.values()),
            fresh.lead.title if fresh.lead.language == update.lang else "",
        )
        item = BriefingItem(
            story_id=story.id,
            article_id=fresh.lead.id,
            headline=headline,
            bullets=points[:2],
            links=fresh.links(),
            path=update.path,
            update_of=latest.day,
        )
        told = ToldItem(lang, headline, tuple(item.bullets))
        record = Told(fresh.lead_key, self._told_story(story), told, fresh.lead.id, tuple(matched))
        return item, record

    async def for_subscription(self, sub: Subscription, now: datetime) -> Rendered:
        """Delivery's builder: the rendered briefing for a claimed subscriber."""

        since = sub.last_sent
        start = max(since, now - WINDOW) if since else now - WINDOW
        today = local_date(now, sub.tz)
        reader = await self.reader(sub.user_id, today)
        stories = await self.stories(now)
        # Subscribers sharing (language, local day, window, sources, memory, topics) get
        # the same message: rank and render it once while the clustering is the same.
        memo_key = (
            start,
            now,
            reader.sources,
            reader.memory.signature,
            reader.topics,
            sub.lang,
            today,
        )
        hit = self._briefings.get(memo_key)
        if hit is not None and hit[0] is stories:
            return hit[1]
        built = await self._build(sub.lang, sub.tz, now, start, reader)
        briefing = built.briefing
        key = (
            briefing.lang,
            briefing.day,
            briefing.left_out,
            tuple(
                (i.story_id, i.headline, tuple(i.bullets), tuple(i.links), i.update_of)
                for i in briefing.items
            ),
        )
        parts = self._rendered.get(key)
        if parts is None:
            if len(self._rendered) > 2000:
                self._rendered.clear()
            parts = self._rendered[key] = render_parts(briefing)
        rendered = Rendered(
            parts,
            empty=briefing.empty,
            told=built.told,
            updates=sum(i.update_of is not None for i in briefing.items),
            left_out=briefing.left_out,
        )
        if all(i.path == "llm" for i in briefing.items):  # final: LLM items never change
            if len(self._briefings) > 2000:
                self._briefings.clear()
            self._briefings[memo_key] = (stories, rendered)
        return rendered

    async def record(self, sub: Subscription, rendered: Rendered, now: datetime) -> None:
        """Delivery's `on_sent`: remember what the subscriber was just told."""
        stale = self._stale.pop(sub.user_id, [])
        if rendered.told:
            assert self._records is not None
            await self._records((sub.user_id, local_date(now, sub.tz), rendered.told, stale))

    async def _record_many(
        self, items: list[tuple[int, date, list[Told], list[str]]]
    ) -> list[None]:
        await self.memory.record_many(items)
        return [None] * len(items)

    async def summary(self, story: Story, lang: str) -> ItemSummary:
        """The story's item in `lang`: cached, else one LLM call shared by all callers."""
        key = (story.lead_key, lang)
        memo = self._memo.get(key)
        if memo is not None:  # LLM items never change: no Redis round trip per subscriber
            return memo
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._summary(story, lang))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        item = await asyncio.shield(task)
        if item.path == "llm":
            if len(self._memo) > 5000:
                self._memo.clear()
            self._memo[key] = item
        return item

    async def _summary(self, story: Story, lang: str) -> ItemSummary:
        k = self.store.keys
        cache_key = k.story_summary(story.lead_key, lang)
        cached = await self.store.redis.get(cache_key)
        if cached:
            return ItemSummary.model_validate_json(cached)
        if self.llm is None:
            return await self._fallback(story, lang)
        flight = k.story_flight(story.lead_key, lang)
        if not await self.store.redis.set(flight, "1", nx=True, ex=FLIGHT_SECONDS):
            for _ in range(FLIGHT_SECONDS * 5):  # another process is summarizing it
                await asyncio.sleep(0.2)
                cached = await self.store.redis.get(cache_key)
                if cached:
                    return ItemSummary.model_validate_json(cached)
                if not await self.store.redis.exists(flight):
                    break
            return await self._fallback(story, lang)
        try:
            # the holder before us may have filled the cache between our first look and
            # taking the lock: look again, or the story is summarized twice
            cached = await self.store.redis.get(cache_key)
            if cached:
                return ItemSummary.model_validate_json(cached)
            item = await self._call_llm(story, lang)
            # fill the cache before releasing the lock, so waiters never miss it
            await self.store.redis.set(cache_key, item.model_dump_json(), ex=SUMMARY_TTL)
        except (LLMError, ValidationError, ValueError) as exc:
            log.warning("briefing item for story %s (%s) fell back: %s", story.id, lang, exc)
            return await self._fallback(story, lang)
        finally:
            with contextlib.suppress(Exception):
                await self.store.redis.delete(flight)
        return item

    async def _call_llm(self, story: Story, lang: str) -> ItemSummary:
        """The story's item in `lang`: written from the lead article in its own language,
        or translated from that item (a short call on the article's cached prefix
        instead of a second read)."""
        lead = story.lead
        if lang != lead.language:
            first = await self._summary(story, lead.language)
            if first.path == "llm":
                return await self._translate(story, first, lang)
        return await self._write(story, lang)

    async def article_prefix(self, story: Story) -> list[Message]:
        """The messages every item call about `story` starts with: those a question
        about the story starts with when its lead article goes whole with every
        question, else the same layout over the article's first MAX_ARTICLE_CHARS.
        (Numbering the sentences is CPU work: done off the event loop.)"""
        article = story.lead.to_article()

        def build() -> list[Message]:
            whole = question_prefix(article, max_input_tokens=self.max_input_tokens)
            if whole is not None:
                return whole
            cut = article.model_copy(update={"text": article.text[:MAX_ARTICLE_CHARS]})
            return article_messages(cut)

        return await asyncio.to_thread(build)

    async def _translate(self, story: Story, first: ItemSummary, lang: str) -> ItemSummary:
        assert self.llm is not None
        source_lang = story.lead.language
        prefix = await self.article_prefix(story)
        draft = LLMDraft(headline=first.headline, bullets=list(first.bullets), questions=[])
        try:
            out = await translate_draft(
                self.llm,
                draft,
                target="en" if lang == "en" else "ar",
                article_lang="en" if source_lang == "en" else "ar",
                sentences=[],
                prefix=prefix,
            )
        except LLMError as exc:
            self.llm_calls += exc.usage.calls if exc.usage is not None else 1
            await self._count_failed(exc)
            raise
        self.llm_calls += out.usage.calls
        await self._count(out.usage)
        return ItemSummary(
            headline=out.headline[:200], bullets=out.bullets[:2], lang=lang, path="llm"
        )

    async def _count(self, usage: Usage) -> None:
        """Charge one call's calls and tokens to the day's counters."""
        await stats.incr_llm(
            self.store, calls=usage.calls, tokens=usage.tokens, cached=usage.cached_tokens
        )

    async def _count_failed(self, exc: LLMError) -> None:
        spent = Usage()
        spent.add_failed(exc)
        await self._count(spent)

    async def _write(self, story: Story, lang: str) -> ItemSummary:
        task = load_prompt("briefing_item").render(language=LANGUAGE_NAMES.get(lang, lang))
        messages = with_task(await self.article_prefix(story), task)
        self.llm_calls += 1
        assert self.llm is not None
        try:
            got = await self.llm.chat_json(
                messages, schema_name="briefing_item", schema=SCHEMA, max_tokens=300
            )
        except LLMError as exc:  # a refused or cut answer still cost its tokens
            await self._count_failed(exc)
            raise
        # counted before the item is checked: a rejected answer still cost its tokens
        await self._count(got.usage)
        data = got.data
        headline = str(data.get("headline") or "").strip()
        bullets = [str(b).strip() for b in data.get("bullets") or [] if str(b).strip()]
        if not headline or not bullets:
            raise ValueError("the model returned an empty item")
        return ItemSummary(headline=headline[:200], bullets=bullets[:2], lang=lang, path="llm")

    async def _fallback(self, story: Story, lang: str) -> ItemSummary:
        lead = story.lead
        article = Article(text=lead.text, title=lead.title, url=lead.url, language="ar")
        headline, bullets = await asyncio.to_thread(summarize_extractive, article)
        item = ItemSummary(
            headline=headline or lead.title,
            bullets=bullets[:2] or [lead.text[:200]],
            lang=lead.language,
            path="extractive",
        )
        with contextlib.suppress(Exception):
            await self.store.redis.set(
                self.store.keys.story_summary(story.lead_key, lang),
                item.model_dump_json(),
                ex=FALLBACK_TTL,
            )
        return item
