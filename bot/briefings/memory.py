"""Story memory per subscriber: what each briefing told, so the next ones tell only
what is new (issue 23).

When a briefing is delivered, each of its items is remembered for the subscriber (a
user, group or channel) for BRIEFING_MEMORY_DAYS (default 7):

* per subscriber, `keys.briefing_memory(subject)`: a hash, one field per story version
  told (its `lead_key`) -> the local day, the item told (`item`: a hash of its text),
  the lead article's id, and the earlier entries it updated (`before`). The key
  expires BRIEFING_MEMORY_DAYS after its last write; older fields are ignored on read
  and deleted at the next write. `/forget` deletes it.
* shared by every subscriber who was told the same thing (nothing in them is about a
  reader, so they stay small per subscriber): `keys.told_story(lead_key)`, the story
  as told (its articles' ids and content hashes, the numbers and content words of
  their text), and `keys.told_item(item_id)`, the item's text in its language.

Matching a story of today against what was told: it shares an article (id or content
hash) with a told story, or its lead's content words overlap a told story's (overlap
coefficient >= MATCH; a developing story's new article repeats its names and places,
while two different stories on one topic share far fewer: see tests/unit/
test_memory.py). Then the story is:

* a **repeat** when its new articles (those not told) carry no number and almost no
  content word (< NOVEL_SHARE of them) that the told articles did not: a re-post or a
  rewrite. It is left out, and counted;
* an **update** otherwise: the item says what is new since the earlier item
  (bot/briefings/updates.py), and is left out too when no new point survives the
  evidence check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import TypeVar, cast

from bot.briefings.feeds import FeedArticle
from bot.briefings.stories import Story
from bot.grounding.evidence import content_stems
from bot.grounding.guards import source_number_keys
from bot.ingest.arabic import tokens
from bot.store.redis import Store

T = TypeVar("T")

MATCH = 0.4  # overlap coefficient of lead content words: same story
NOVEL_SHARE = 0.25  # share of a new article's content words not told before: news
LEAD_WORDS = 150  # the lead identifies a story (as in clustering)


def content_hash(a: FeedArticle) -> str:
    """What an article says, whatever its id or outlet (a re-post has the same)."""
    return hashlib.sha256(" ".join(tokens(a.text)).encode()).hexdigest()[:16]


def lead_terms(a: FeedArticle) -> frozenset[str]:
    """The content words that identify the story an article reports."""
    words = " ".join(tokens(f"{a.title}\n{a.text}")[:LEAD_WORDS])
    return frozenset(content_stems(words))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / min(|a|, |b|) (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def item_id(lang: str, headline: str, bullets: list[str]) -> str:
    """The identity of an item's text: readers told the same words share it."""
    raw = json.dumps([lang, headline, bullets], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ToldStory:
    """A story as a briefing told it (shared by every reader told it)."""

    articles: frozenset[str]
    hashes: frozenset[str]
    numbers: frozenset[str]
    stems: frozenset[str]
    terms: frozenset[str]

    @classmethod
    def of(cls, story: Story) -> ToldStory:
        text = "\n".join(f"{a.title}\n{a.text}" for a in story.articles)
        return cls(
            articles=frozenset(a.id for a in story.articles),
            hashes=frozenset(content_hash(a) for a in story.articles),
            numbers=frozenset(source_number_keys(text)),
            stems=frozenset(content_stems(text)),
            terms=lead_terms(story.lead),
        )

    def to_json(self) -> str:
        return json.dumps({k: sorted(getattr(self, k)) for k in self.__dataclass_fields__})

    @classmethod
    def from_json(cls, raw: str) -> ToldStory:
        data = json.loads(raw)
        return cls(
            **{k: frozenset(str(x) for x in data.get(k, [])) for k in cls.__dataclass_fields__}
        )

    def matches(self, story: Story, terms: frozenset[str]) -> bool:
        """Whether `story` (whose lead has `terms`) is this story."""
        if any(a.id in self.articles for a in story.articles):
            return True
        if any(content_hash(a) in self.hashes for a in story.articles):
            return True
        return overlap(terms, self.terms) >= MATCH


@dataclass(frozen=True)
class ToldItem:
    """An item's text as the reader got it."""

    lang: str
    headline: str
    bullets: tuple[str, ...]

    @cached_property
    def id(self) -> str:
        return item_id(self.lang, self.headline, list(self.bullets))

    @property
    def text(self) -> str:
        return "\n".join([self.headline, *self.bullets])

    def to_json(self) -> str:
        return json.dumps(
            {"lang": self.lang, "headline": self.headline, "bullets": list(self.bullets)},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> ToldItem:
        data = json.loads(raw)
        return cls(str(data["lang"]), str(data["headline"]), tuple(map(str, data["bullets"])))


@dataclass(frozen=True)
class Entry:
    """One story version a subscriber was told: `key` is its lead_key."""

    key: str
    day: date
    item: str  # ToldItem id
    lead: str  # the lead article's id (a briefing question's story)
    before: tuple[str, ...] = ()  # the entries this one updated

    def to_json(self) -> str:
        return json.dumps(
            {
                "day": self.day.isoformat(),
                "item": self.item,
                "lead": self.lead,
                "before": list(self.before),
            }
        )

    @classmethod
    def from_json(cls, key: str, raw: str) -> Entry:
        data = json.loads(raw)
        return cls(
            key=key,
            day=date.fromisoformat(data["day"]),
            item=str(data["item"]),
            lead=str(data.get("lead", "")),
            before=tuple(map(str, data.get("before", []))),
        )


@dataclass
class Told:
    """What one delivered item told (recorded after the send): the story version, its
    item, and the entries it updated."""

    key: str
    story: ToldStory
    item: ToldItem
    lead: str
    before: tuple[str, ...] = ()


@dataclass(frozen=True)
class Novelty:
    """What today's story adds to what was told: numbers and content words."""

    numbers: frozenset[str]
    stems: frozenset[str]
    share: float

    @property
    def anything(self) -> bool:
        return bool(self.numbers) or self.share >= NOVEL_SHARE


def novelty(story: Story, told: list[ToldStory]) -> Novelty:
    """What the articles of `story` that no told story carried add to all of them."""
    seen_ids = set().union(*(t.articles for t in told)) if told else set()
    seen_hashes = set().union(*(t.hashes for t in told)) if told else set()
    fresh = [
        a for a in story.articles if a.id not in seen_ids and content_hash(a) not in seen_hashes
    ]
    if not fresh:
        return Novelty(frozenset(), frozenset(), 0.0)
    text = "\n".join(f"{a.title}\n{a.text}" for a in fresh)
    numbers = set(source_number_keys(text)) - set().union(*(t.numbers for t in told))
    # a number's digit groups ("20,35" -> "20", "35") are keys too; a new figure is
    # one whose whole form is new
    stems = set(content_stems(text))
    new_stems = stems - set().union(*(t.stems for t in told))
    share = len(new_stems) / len(stems) if stems else 0.0
    return Novelty(frozenset(numbers), frozenset(new_stems), share)


@dataclass
class Memory:
    """One subscriber's remembered entries (read once per briefing)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # fields past the window (to delete)

    @property
    def signature(self) -> tuple[tuple[str, date, str], ...]:
        """Identity for memoizing a briefing: readers with equal memories (the same
        stories told on the same days in the same words) share one."""
        return tuple(sorted((k, e.day, e.item) for k, e in self.entries.items()))

    def chain(self, key: str) -> list[Entry]:
        """The entry `key` and those it updated, newest first (each once)."""
        out: list[Entry] = []
        todo = [key]
        while todo:
            k = todo.pop(0)
            e = self.entries.get(k)
            if e is None or e in out:
                continue
            out.append(e)
            todo += list(e.before)
        return sorted(out, key=lambda e: e.day, reverse=True)


def parse_memory(data: dict[str, str], cutoff: date) -> Memory:
    """A memory hash as read from Redis, without entries from `cutoff` or before
    (their fields are listed in `stale`, to be deleted at the next write)."""
    mem = Memory()
    for key, value in data.items():
        try:
            entry = Entry.from_json(key, value)
        except (ValueError, KeyError, TypeError):
            mem.stale.append(key)
            continue
        if entry.day > cutoff:
            mem.entries[key] = entry
        else:
            mem.stale.append(key)
    return mem


class MemoryStore:
    """Reads and writes story memory (`days`: how long it is kept)."""

    def __init__(self, store: Store, days: int) -> None:
        self.store = store
        self.days = days
        self._stories: dict[str, ToldStory] = {}
        self._items: dict[str, ToldItem] = {}
        self._written: set[str] = set()  # shared keys this process wrote
        self._entries: dict[tuple[str, str, tuple[str, ...], date], str] = {}

    @property
    def ttl(self) -> int:
        return self.days * 86400

    def cutoff(self, today: date) -> date:
        return today - timedelta(days=self.days)

    async def read_many(self, subjects: list[int], today: date) -> list[Memory]:
        """The memories of `subjects` in one round trip (entries older than the memory
        window are left out)."""
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for s in subjects:
                pipe.hgetall(self.store.keys.briefing_memory(s))
            raw = cast(list[dict[str, str]], await pipe.execute())
        cutoff = self.cutoff(today)
        return [parse_memory(data or {}, cutoff) for data in raw]

    async def read(self, subject: int, today: date) -> Memory:
        return (await self.read_many([subject], today))[0]

    async def stories(self, keys: list[str]) -> dict[str, ToldStory]:
        """The shared told stories of `keys` (cached in-process: they never change)."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._stories]
        if missing:
            raw = await self.store.redis.mget([self.store.keys.told_story(k) for k in missing])
            if len(self._stories) > 20000:
                self._stories.clear()
            for k, value in zip(missing, raw, strict=True):
                story = _parse(ToldStory.from_json, value)
                if story is not None:  # not (yet) written: look again next time
                    self._stories[k] = story
        return {k: v for k in keys if (v := self._stories.get(k)) is not None}

    async def items(self, ids: list[str]) -> dict[str, ToldItem]:
        """The shared told items of `ids` (cached in-process: they never change)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._items]
        if missing:
            raw = await self.store.redis.mget([self.store.keys.told_item(i) for i in missing])
            if len(self._items) > 20000:
                self._items.clear()
            for i, value in zip(missing, raw, strict=True):
                item = _parse(ToldItem.from_json, value)
                if item is not None:
                    self._items[i] = item
        return {i: v for i in ids if (v := self._items.get(i)) is not None}

    async def record_many(self, items: list[tuple[int, date, list[Told], list[str]]]) -> None:
        """Remember what each subscriber was told on their local day, and drop the
        fields their memory had let expire (`stale`): one round trip for all."""
        k = self.store.keys
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for subject, day, told, stale in items:
                if not told:
                    continue
                mem_key = k.briefing_memory(subject)
                pipe.hset(mem_key, mapping={t.key: self._entry(t, day) for t in told})
                if stale:
                    pipe.hdel(mem_key, *stale)
                pipe.expire(mem_key, self.ttl)
                for t in told:
                    if t.key not in self._written:
                        pipe.set(k.told_story(t.key), t.story.to_json(), ex=self.ttl + 86400)
                        self._stories[t.key] = t.story
                    if t.item.id not in self._written:
                        pipe.set(k.told_item(t.item.id), t.item.to_json(), ex=self.ttl + 86400)
                        self._items[t.item.id] = t.item
                    self._written.update((t.key, t.item.id))
            await pipe.execute()
        if len(self._written) > 20000:
            self._written.clear()

    def _entry(self, t: Told, day: date) -> str:
        """An entry's JSON (the same for every reader told that item that day)."""
        key = (t.key, t.item.id, t.before, day)
        raw = self._entries.get(key)
        if raw is None:
            if len(self._entries) > 20000:
                self._entries.clear()
            raw = self._entries[key] = Entry(t.key, day, t.item.id, t.lead, t.before).to_json()
        return raw


def _parse(parse: Callable[[str], T], raw: str | bytes | None) -> T | None:
    if not raw or not isinstance(raw, str):
        return None
    try:
        return parse(raw)
    except (ValueError, KeyError, TypeError):
        return None
