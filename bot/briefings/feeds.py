"""Feed polling: fetch every source (conditional GET), ingest each new entry once.

* Fetching goes through the SSRF-guarded `Fetcher` (a feed or an entry link pointing
  at a private address is refused there), with the feed's stored ETag/Last-Modified;
  a 304 costs one request and nothing else.
* Each new entry is claimed with `SADD` on the feed's seen set, so it is fetched,
  extracted and stored once whatever the number of processes and subscribers. The
  article goes to `keys.feed_article(id)` (JSON, TTL) and `keys.feed_articles()`
  (sorted by publication time).
* A broken feed (network error, HTTP error, malformed XML) is logged and retried with
  exponential back-off recorded in `keys.feed_state(feed_id)`; it never blocks the
  others (all feeds run concurrently under a semaphore, each failure caught).
* `poll_lock` makes one replica poll per interval when the scheduler drives polling.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any, cast

from pydantic import BaseModel

from bot.briefings.sources import FEED_MAX_BYTES, Source, parse_feed
from bot.clock import Clock
from bot.domain import Article
from bot.errors import DigestBotError
from bot.ingest.fetch import FEED_TYPES, HTML_TYPES, Fetcher
from bot.ingest.inputs import normalize_url, url_for_log, validate_url
from bot.readers import Input, Readers
from bot.store.redis import Store

log = logging.getLogger(__name__)

ARTICLE_TTL = 3 * 24 * 3600
SEEN_TTL = 14 * 24 * 3600
MAX_ENTRIES = 30
MIN_SUMMARY_CHARS = 200
BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=6)
_TAGS = re.compile(r"<[^<>]+>")  # not [^>]: "<<<<…" would rescan to the end from each "<"


class FeedArticle(BaseModel):
    """One ingested feed entry: the extracted article plus where it came from."""

    id: str
    url: str
    title: str
    text: str
    source_id: str
    source_name: str
    language: str = "ar"
    published: float  # UTC epoch seconds
    ingested: float
    operator: bool = False  # from an operator (FEEDS_FILE) feed: may lead its story

    def to_article(self) -> Article:
        """The entry as an Article, to digest it or answer questions about it."""
        return Article(
            text=self.text,
            title=self.title,
            url=self.url,
            site_name=self.source_name,
            language="en" if self.language == "en" else "ar",
            source_kind="url",
        )


@dataclass
class PollReport:
    """What one polling pass did (counts)."""

    feeds: int = 0
    new: int = 0
    not_modified: int = 0
    failed: int = 0
    backing_off: int = 0
    entry_errors: int = 0
    locked: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        if self.locked:
            return "skipped: another process is polling"
        return (
            f"feeds={self.feeds} new={self.new} not_modified={self.not_modified} "
            f"failed={self.failed} backing_off={self.backing_off} entry_errors={self.entry_errors}"
        )


def article_id(link: str) -> str:
    """Id of a feed article: sha256 of its normalized link (each outlet's copy is distinct)."""
    return hashlib.sha256(normalize_url(link).encode("utf-8")).hexdigest()[:20]


def _entry_time(entry: Any, fallback: datetime) -> datetime:
    for attr in ("published_parsed", "updated_parsed"):
        st = entry.get(attr)
        if st:
            at = datetime.fromtimestamp(calendar.timegm(st), UTC)
            return min(at, fallback)  # a feed's future date is clamped to now
    return fallback


def _plain(html: str) -> str:
    return " ".join(unescape(_TAGS.sub(" ", html)).split())


@dataclass
class FeedPoller:
    """Polls sources into Redis."""

    store: Store
    fetcher: Fetcher
    clock: Clock
    concurrency: int = 8
    extract: Callable[[str, str], Any] | None = None
    on_progress: Callable[[int], None] | None = None
    page_concurrency: int = 8
    feed_max_bytes: int = FEED_MAX_BYTES
    readers: Readers | None = None  # the composition root's; None: read in a thread here
    _pages: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pages = asyncio.Semaphore(self.page_concurrency)

    async def poll_all(
        self, sources: Sequence[Source], *, lock_for: timedelta | None = None
    ) -> PollReport:
        """Poll every source once (concurrently, bounded); return the counts.

        With `lock_for`, only one process polls per that interval (others get locked=True).
        """
        report = PollReport()
        if lock_for is not None:
            ok = await self.store.redis.set(
                self.store.keys.poll_lock(), "1", nx=True, ex=max(1, int(lock_for.total_seconds()))
            )
            if not ok:
                report.locked = True
                return report
        sem = asyncio.Semaphore(self.concurrency)

        async def one(src: Source) -> None:
            async with sem:
                await self.poll_feed(src, report)
            if self.on_progress:
                self.on_progress(1)

        report.feeds = len(sources)
        await asyncio.gather(*(one(s) for s in sources))
        await self._trim()
        return report

    async def poll_feed(self, src: Source, report: PollReport) -> None:
        """Poll one feed; failures are recorded with back-off, never raised."""
        k = self.store.keys
        state_key = k.feed_state(src.id)
        state = cast(dict[str, str], await self.store.redis.hgetall(state_key))
        now = self.clock.now()
        if float(state.get("next_try") or 0) > now.timestamp():
            report.backing_off += 1
            return
        try:
            page = await self.fetcher.fetch(
                src.url,
                etag=state.get("etag") or None,
                last_modified=state.get("last_modified") or None,
                accept=FEED_TYPES,
                max_bytes=self.feed_max_bytes,
            )
            if page.not_modified:
                report.not_modified += 1
                await self._ok(state_key, page, now)
                return
            parsed = await asyncio.to_thread(parse_feed, page.text)  # CPU: off the loop
            linked = [e for e in parsed.entries if e.get("link")]
            if not parsed.get("version") or (parsed.get("bozo") and not linked):
                reason = str(parsed.get("bozo_exception") or "not an RSS/Atom feed")
                raise MalformedFeed(reason[:200])
        except (DigestBotError, MalformedFeed) as exc:
            await self._failed(src, state_key, state, now, exc, report)
            return
        except Exception as exc:  # a feed never breaks the pass
            log.exception("feed %s crashed the poller", url_for_log(src.url))
            await self._failed(src, state_key, state, now, exc, report)
            return
        await self._ok(state_key, page, now)
        entries = linked[:MAX_ENTRIES]
        results = await asyncio.gather(*(self._entry(src, e, now) for e in entries))
        report.new += sum(1 for r in results if r == "new")
        report.entry_errors += sum(1 for r in results if r == "error")

    async def _entry(self, src: Source, entry: Any, now: datetime) -> str:
        link = str(entry.get("link") or "").strip()
        try:
            link = validate_url(link)
        except DigestBotError:
            return "skip"
        aid = article_id(link)
        k = self.store.keys
        if not await self.store.redis.sadd(k.feed_seen(src.id), aid):
            return "seen"
        await self.store.redis.expire(k.feed_seen(src.id), SEEN_TTL)
        title = _plain(str(entry.get("title") or ""))
        text = ""
        try:
            async with self._pages:  # bounded page fetches across all feeds
                page = await self.fetcher.fetch(link, accept=HTML_TYPES)
            article = await self._read(page.text, page.url, page.content_type)
            text = article.text
            title = title or (article.title or "")
        except DigestBotError as exc:
            log.info(  # host only: a feed's links can carry tokens
                "entry %s of %s: %s; using the feed's summary",
                url_for_log(link),
                src.name,
                exc.key,
            )
        summary = _plain(str(entry.get("summary") or entry.get("description") or ""))
        if len(text) < MIN_SUMMARY_CHARS and len(summary) > len(text):
            text = summary
        if len(text) < 40:
            return "error"
        # a user feed's own dates are not trusted (a back-dated copy would become the
        # earliest of its story): its entries are dated when they were ingested
        published = _entry_time(entry, now) if src.operator else now
        fa = FeedArticle(
            id=aid,
            url=link,
            title=title[:300] or text[:80],
            text=text,
            source_id=src.id,
            source_name=src.name,
            language=src.language,
            published=published.timestamp(),
            ingested=now.timestamp(),
            operator=src.operator,
        )
        user = not src.operator  # a user feed never replaces an article already stored
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.set(k.feed_article(aid), fa.model_dump_json(), ex=ARTICLE_TTL, nx=user)
            pipe.zadd(k.feed_articles(), {aid: fa.published}, nx=user)
            await pipe.execute()
        return "new"

    async def _read(self, text: str, url: str, content_type: str) -> Any:
        """The article on an entry's page: read by the readers (a worker process under
        the page reader's limits: a stranger's feed can link any page), or by `extract`."""
        if self.extract is not None:
            return await asyncio.to_thread(self.extract, text, url)
        if self.readers is not None:
            inp = Input(text=text, url=url, mime_type=content_type, origin="link")
            return await self.readers.read(inp)
        from bot.ingest.extract import extract_html

        return await asyncio.to_thread(extract_html, text, url)

    async def _ok(self, state_key: str, page: Any, now: datetime) -> None:
        mapping = {"failures": "0", "next_try": "0", "last_ok": str(int(now.timestamp()))}
        if getattr(page, "etag", None):
            mapping["etag"] = page.etag
        if getattr(page, "last_modified", None):
            mapping["last_modified"] = page.last_modified
        await self.store.redis.hset(state_key, mapping=cast(Any, mapping))

    async def _failed(
        self,
        src: Source,
        state_key: str,
        state: dict[str, str],
        now: datetime,
        exc: BaseException,
        report: PollReport,
    ) -> None:
        failures = int(state.get("failures") or 0) + 1
        delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)
        reason = getattr(exc, "key", None) or type(exc).__name__
        log.warning(
            "feed %s (%s) failed %d time(s): %s; retry in %s",
            src.name,
            url_for_log(src.url),  # a user's private feed URL can carry a token
            failures,
            reason,
            delay,
        )
        await self.store.redis.hset(
            state_key,
            mapping={
                "failures": str(failures),
                "next_try": str(int((now + delay).timestamp())),
                "last_error": str(reason),
            },
        )
        report.failed += 1
        report.errors[src.url] = str(reason)

    async def _trim(self) -> None:
        cutoff = self.clock.now().timestamp() - ARTICLE_TTL
        await self.store.redis.zremrangebyscore(self.store.keys.feed_articles(), "-inf", cutoff)


class MalformedFeed(Exception):
    """The response parsed as neither RSS nor Atom."""


async def load_articles(store: Store, since: datetime, until: datetime) -> list[FeedArticle]:
    """Feed articles published in [since, until], oldest first (expired ones skipped)."""
    k = store.keys
    ids = await store.redis.zrangebyscore(k.feed_articles(), since.timestamp(), until.timestamp())
    out: list[FeedArticle] = []
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        # GETs in a plain pipeline, not MGET: the articles live in different cluster slots
        async with store.redis.pipeline(transaction=False) as pipe:
            for a in chunk:
                pipe.get(k.feed_article(cast(str, a)))
            raws = await pipe.execute()
        out.extend(FeedArticle.model_validate_json(r) for r in raws if r)
    return out


async def get_article(store: Store, aid: str) -> FeedArticle | None:
    """One stored feed article, or None (expired or unknown)."""
    raw = await store.redis.get(store.keys.feed_article(aid))
    return FeedArticle.model_validate_json(raw) if raw else None
