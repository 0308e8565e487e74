"""Stories: near-duplicate clustering of feed articles, and ranking for a briefing.

Arabic news is heavily syndicated (the seed article is itself a re-post), so the same
story arrives from several outlets with different headlines and boilerplate around
the same body. Clustering uses MinHash over word 3-gram shingles of the matching
normalization (`bot.ingest.arabic.tokens`: no tashkeel, unified alef/yeh/teh marbuta,
no "ال" prefixes), indexed in a MinHashLSH.

Only the first 200 words are shingled: the lead identifies a story, and syndicated
copies are often excerpts (an excerpt of 4 of the seed's 9 paragraphs scores 0.38 on
the whole text but 0.94 on the lead).

Threshold: `THRESHOLD = 0.3` (estimated Jaccard of the shingle sets). The tests in
tests/unit/test_stories.py build syndicated copies of the seed article (new headline,
site boilerplate before and after, a navigation block in front, light edits, an
excerpt) and different stories on the same topic (Russia, Ukraine, the US, NATO):
copies score about 0.5-0.95, different same-topic stories below 0.05, so 0.3 leaves a
wide margin on both sides.

A story's id is its earliest article's id, so it stays stable while copies join. Its
summary is cached per LEAD ARTICLE actually summarized (`Story.lead_key`: the lead's id
and a hash of its text) and language (see compose): subscribers whose sources give a
story different leads never share a summary. The lead is the earliest article of an
operator (FEEDS_FILE) feed, else the earliest article: a user's /addsource feed
carrying a near-copy of a default story cannot become that story's lead for others.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from datasketch import MinHash, MinHashLSH

from bot.briefings.feeds import FeedArticle
from bot.ingest.arabic import tokens

THRESHOLD = 0.3
NUM_PERM = 128
SHINGLE = 3
MAX_WORDS = 200  # the lead identifies a story; copies often truncate the tail
RECENCY_HALF_LIFE_H = 8.0


def shingles(text: str, k: int = SHINGLE) -> set[str]:
    """Word k-gram shingles of the matching-normalized text (single words if it is short)."""
    words = tokens(text)[:MAX_WORDS]
    if len(words) < k:
        return set(words)
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def minhash(text: str) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=7)
    m.update_batch([s.encode("utf-8") for s in shingles(text)])
    return m


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets (for tests and tuning)."""
    return float(minhash(a).jaccard(minhash(b)))


@dataclass
class Story:
    """Articles reporting one story, earliest first.

    `id` is the id of the whole cluster's earliest article, kept when `rank` narrows the
    articles to one subscriber's sources and window, so summaries are cached per story.
    """

    articles: list[FeedArticle] = field(default_factory=list)
    sid: str = ""

    @property
    def id(self) -> str:
        return self.sid or self.articles[0].id

    @property
    def lead(self) -> FeedArticle:
        """The article the summary is made from: the earliest from an operator feed,
        else the earliest."""
        return next((a for a in self.articles if a.operator), self.articles[0])

    @property
    def lead_key(self) -> str:
        """Cache identity of the summarized text: the lead's id and a hash of its content."""
        lead = self.lead
        digest = hashlib.sha256(f"{lead.title}\n{lead.text}".encode()).hexdigest()[:16]
        return f"{lead.id}-{digest}"

    @property
    def source_ids(self) -> set[str]:
        return {a.source_id for a in self.articles}

    @property
    def latest(self) -> float:
        return max(a.published for a in self.articles)

    def links(self) -> list[tuple[str, str]]:
        """One (source name, url) per distinct source, in order of publication."""
        out: dict[str, tuple[str, str]] = {}
        for a in self.articles:
            out.setdefault(a.source_id, (a.source_name, a.url))
        return list(out.values())


def cluster(articles: Iterable[FeedArticle], threshold: float = THRESHOLD) -> list[Story]:
    """Group near-duplicate articles into stories (input any order; output by first article)."""
    ordered = sorted(articles, key=lambda a: (a.published, a.id))
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    parent: dict[str, str] = {}
    hashes: dict[str, MinHash] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a in ordered:
        if a.id in parent:
            continue
        m = minhash(f"{a.title}\n{a.text}")
        parent[a.id] = a.id
        for other in lsh.query(m):
            # LSH gives candidates; confirm with the estimate to keep precision.
            if m.jaccard(hashes[other]) >= threshold:
                ra, rb = find(a.id), find(other)
                if ra != rb:
                    parent[ra] = rb
        hashes[a.id] = m
        lsh.insert(a.id, m)
    groups: dict[str, list[FeedArticle]] = {}
    for a in ordered:
        if a.id in parent:
            groups.setdefault(find(a.id), []).append(a)
    stories = [Story(articles=arts, sid=arts[0].id) for arts in groups.values()]
    stories.sort(key=lambda s: (s.articles[0].published, s.id))
    return stories


def score(story: Story, now: datetime) -> float:
    """Distinct sources dominate; recency (8 h half-life) breaks ties and orders singles."""
    age_h = max(0.0, (now.timestamp() - story.latest) / 3600)
    return len(story.source_ids) + math.pow(0.5, age_h / RECENCY_HALF_LIFE_H)


def rank(
    stories: Sequence[Story],
    *,
    since: datetime,
    now: datetime,
    source_ids: set[str] | None = None,
    limit: int = 5,
) -> list[Story]:
    """The top `limit` stories for one subscriber.

    Only articles from `source_ids` (None: any) published in (since, now] count; a story
    is kept when at least one of them remains. Sorted by `score`, best first.
    """
    lo, hi = since.timestamp(), now.timestamp()
    picked: list[Story] = []
    for story in stories:
        arts = [
            a
            for a in story.articles
            if lo < a.published <= hi and (source_ids is None or a.source_id in source_ids)
        ]
        if arts:
            picked.append(Story(articles=arts, sid=story.id))
    picked.sort(key=lambda s: (-score(s, now), s.id))
    return picked[:limit]
