"""Topics a subscriber follows or mutes: /follow, /unfollow, /mute, /unmute, /topics.

A topic is a few words as the reader typed them, kept in `keys.topics(subject)` (a
hash: "follow:<words>" / "mute:<words>" -> the words as typed). A story matches a
topic when every word of the topic appears among the words of the story's articles
(titles and leads). Matching is Arabic-aware and needs no model: both sides go through
the matching normalization (`bot.ingest.arabic.tokens`: no tashkeel, أ إ آ -> ا,
ى -> ي, ة -> ه, the article ال and its attached forms وال بال فال لل stripped), and a
story word also counts without up to two leading و ب ل ف and an article after them
(so "وغزة", "بغزة", "لغزة" match "غزة", "وبالانتخابات" matches "الانتخابات"); English words match without case and
a plural "s". Stories matching a followed topic rank first; stories matching a muted
topic are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from bot.briefings.stories import Story
from bot.errors import BadTopic, TooManyTopics, TopicTooLong
from bot.ingest.arabic import tokens
from bot.store.redis import Store

MAX_TOPICS = 20  # per subscriber, followed and muted together
MAX_CHARS = 60  # one topic as typed
STORY_WORDS = 200  # words of each article's title and lead that a topic is matched in
_PREFIXES = "وبلف"


def word_forms(word: str) -> set[str]:
    """The forms a normalized story word may match: itself, without up to two leading
    و ب ل ف and then an article ال (while 3 letters remain: "وبالانتخابات" ->
    "انتخابات"), and an English word without a plural "s"."""
    forms = {word}
    if word.isascii():
        if len(word) > 3 and word.endswith("s"):
            forms.add(word[:-1])
        return forms
    todo = [word]
    for _ in range(2):
        nxt = []
        for w in todo:
            if len(w) >= 4 and w[0] in _PREFIXES:
                nxt.append(w[1:])
        for w in nxt:
            if w.startswith("ال") and len(w) >= 5:
                nxt.append(w[2:])
        forms.update(nxt)
        todo = nxt
    return forms


@lru_cache(maxsize=4096)
def topic_words(topic: str) -> tuple[str, ...]:
    """A topic's words in matching form (each also tried without a leading prefix)."""
    return tuple(tokens(topic))


def _topic_matches(words: tuple[str, ...], pool: set[str]) -> bool:
    return bool(words) and all(bool(word_forms(w) & pool) for w in words)


def story_words(story: Story) -> set[str]:
    """Every matching form of the words of a story's titles and leads."""
    pool: set[str] = set()
    for a in story.articles:
        for w in tokens(f"{a.title}\n{a.text}")[:STORY_WORDS]:
            pool |= word_forms(w)
    return pool


@dataclass(frozen=True)
class Topics:
    """A subscriber's followed and muted topics (as typed)."""

    follow: tuple[str, ...] = ()
    mute: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.follow and not self.mute

    def followed(self, pool: set[str]) -> bool:
        return any(_topic_matches(topic_words(t), pool) for t in self.follow)

    def muted(self, pool: set[str]) -> bool:
        return any(_topic_matches(topic_words(t), pool) for t in self.mute)


def apply(stories: Iterable[Story], topics: Topics, words: dict[str, set[str]]) -> list[Story]:
    """`stories` without the muted ones, the followed ones first (order kept within
    each group). `words` caches `story_words` by story id."""
    if topics.empty:
        return list(stories)
    first: list[Story] = []
    rest: list[Story] = []
    for s in stories:
        pool = words.get(s.id)
        if pool is None:
            pool = words[s.id] = story_words(s)
        if topics.muted(pool):
            continue
        (first if topics.followed(pool) else rest).append(s)
    return first + rest


def check_topic(text: str) -> str:
    """The topic as it will be kept (spaces collapsed); raises BadTopic (no word) or
    TopicTooLong."""
    topic = " ".join(text.split())
    if not topic_words(topic):
        raise BadTopic("no words in topic")
    if len(topic) > MAX_CHARS:
        raise TopicTooLong("topic too long", limit=MAX_CHARS)
    return topic


async def get(store: Store, subject: int) -> Topics:
    data = cast(dict[str, str], await store.redis.hgetall(store.keys.topics(subject)))
    return parse(data)


def parse(data: dict[str, str]) -> Topics:
    """Topics as read from their Redis hash."""
    follow = tuple(sorted(v for f, v in data.items() if f.startswith("follow:")))
    mute = tuple(sorted(v for f, v in data.items() if f.startswith("mute:")))
    return Topics(follow, mute)


async def get_many(store: Store, subjects: list[int]) -> list[Topics]:
    async with store.redis.pipeline(transaction=False) as pipe:
        for s in subjects:
            pipe.hgetall(store.keys.topics(s))
        raw = cast(list[dict[str, str]], await pipe.execute())
    return [parse(d or {}) for d in raw]


def _field(kind: str, topic: str) -> str:
    return f"{kind}:{' '.join(topic_words(topic))}"


async def add(store: Store, subject: int, kind: str, text: str) -> str:
    """Follow or mute (`kind`) a topic; returns it as kept. Raises BadTopic, TopicTooLong or
    TooManyTopics. Following a muted topic unmutes it, and the reverse."""
    topic = check_topic(text)
    key = store.keys.topics(subject)
    other = "mute" if kind == "follow" else "follow"
    data = cast(dict[str, str], await store.redis.hgetall(key))
    field = _field(kind, topic)
    if field not in data and len(data) >= MAX_TOPICS:
        raise TooManyTopics("too many topics", limit=MAX_TOPICS)
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.hdel(key, _field(other, topic))
        pipe.hset(key, field, topic)
        await pipe.execute()
    return topic


async def remove(store: Store, subject: int, kind: str, text: str) -> str | None:
    """Stop following or muting a topic; the topic as it was kept, or None."""
    words = " ".join(topic_words(" ".join(text.split())))
    if not words:
        return None
    key = store.keys.topics(subject)
    field = f"{kind}:{words}"
    kept = cast(str | None, await store.redis.hget(key, field))
    if kept is None:
        return None
    await store.redis.hdel(key, field)
    return kept


async def forget(store: Store, subject: int) -> None:
    await store.redis.delete(store.keys.topics(subject))
