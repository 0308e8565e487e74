"""News sources: the operator's defaults (FEEDS_FILE) plus each user's own feeds.

`FEEDS_FILE` is TOML with `[[feeds]]` tables (`name`, `url`, `language`). A user's own
sources live in `keys.user_sources(user_id)` (hash: feed id -> JSON, no TTL), and every
user-added feed is also listed, reference-counted, in the poll registry
(bot/briefings/registry.py) so the poller fetches it once for everybody while some user
has it. `/addsource` validates by fetching (through the SSRF-guarded Fetcher): a feed
(at most `FEED_MAX_BYTES`, parsed once, in a worker thread: feedparser on a big feed
takes seconds of CPU) is accepted as is; an HTML page is searched for `<link
rel="alternate" type="application/rss+xml|atom+xml">`; anything else is refused with
`NotAFeed`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast
from urllib.parse import urljoin

import feedparser

from bot.briefings import registry
from bot.errors import ConfigError, DigestBotError, NotAFeed, TooLarge, TooManySources
from bot.ingest.arabic import detect_language
from bot.ingest.fetch import FEED_TYPES, Fetcher
from bot.ingest.inflate import limit_mb
from bot.ingest.inputs import normalize_url, validate_url
from bot.store.redis import Store

MAX_USER_SOURCES = 20
FEED_MAX_BYTES = 1024 * 1024  # Settings.feed_max_bytes; feedparser needs ~1 s per MB
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class Source:
    """One feed: display name, feed URL and the language it publishes in.

    `operator`: a default feed from FEEDS_FILE (trusted: its entry dates are kept, and
    its articles lead their stories); False for a feed a user added with /addsource,
    which is what every source read back from Redis is (`from_json`).
    """

    name: str
    url: str
    language: str = "ar"
    operator: bool = field(default=True, compare=False)

    @property
    def id(self) -> str:
        """Stable short id of the feed (sha256 of its normalized URL)."""
        return feed_id(self.url)

    def to_json(self) -> str:
        data = {"name": self.name, "url": self.url, "language": self.language}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Source:
        """A user-added source as stored in Redis (never an operator one)."""
        data = json.loads(raw)
        return cls(
            name=data["name"], url=data["url"], language=data.get("language", "ar"), operator=False
        )


@lru_cache(maxsize=4096)
def feed_id(url: str) -> str:
    """Short stable id of a feed URL (first 16 hex digits of sha256 of the normalized URL)."""
    return hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:16]


_defaults_cache: dict[tuple[str, float], list[Source]] = {}


def load_defaults(path: Path | None) -> list[Source]:
    """The operator's default feeds from FEEDS_FILE (empty when unset).

    Raises ConfigError (exit 2) for an unreadable file or a malformed entry.
    """
    if path is None:
        return []
    try:
        stamp = (str(path), path.stat().st_mtime)
        if stamp in _defaults_cache:
            return _defaults_cache[stamp]
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"FEEDS_FILE cannot be read: {path} ({exc})") from None
    out: list[Source] = []
    for i, entry in enumerate(data.get("feeds", [])):
        if not isinstance(entry, dict) or not entry.get("url") or not entry.get("name"):
            raise ConfigError(f"FEEDS_FILE entry {i + 1} needs a name and a url")
        lang = str(entry.get("language", "ar"))
        if lang not in {"ar", "en"}:
            raise ConfigError(f"FEEDS_FILE entry {i + 1}: language must be ar or en")
        out.append(Source(name=str(entry["name"]), url=str(entry["url"]), language=lang))
    _defaults_cache[stamp] = out
    return out


async def user_sources(store: Store, user_id: int) -> list[Source]:
    """The user's own sources (not the defaults), in insertion order."""
    raw = cast(dict[str, str], await store.redis.hgetall(store.keys.user_sources(user_id)))
    return [Source.from_json(v) for v in raw.values()]


async def sources_for(store: Store, defaults: list[Source], user_id: int) -> list[Source]:
    """The defaults plus the user's own sources (deduplicated by feed id)."""
    seen: dict[str, Source] = {s.id: s for s in defaults}
    for s in await user_sources(store, user_id):
        seen.setdefault(s.id, s)
    return list(seen.values())


async def all_sources(store: Store, defaults: list[Source]) -> list[Source]:
    """Every feed to poll: the defaults plus every feed some user has now."""
    raw = await registry.registered(store)
    seen: dict[str, Source] = {s.id: s for s in defaults}
    for v in raw.values():
        src = Source.from_json(v)
        seen.setdefault(src.id, src)
    return list(seen.values())


async def remove_source(store: Store, user_id: int, source_id: str) -> Source | None:
    """Remove one of the user's own sources; returns it, or None if they had no such source.
    The feed stops being polled when no other user has it."""
    key = store.keys.user_sources(user_id)
    async with registry.sources_lock(store, user_id):
        raw = cast(str | None, await store.redis.hget(key, source_id))
        if raw is None:
            return None
        await store.redis.hdel(key, source_id)
        await registry.release_ref(store, source_id, user_id)
    return Source.from_json(raw)


async def move_sources(store: Store, old: int, new: int) -> int:
    """Subscriber `old` (a group) is now `new` (the supergroup it became): its own
    sources become `new`'s (added to any `new` has), and the poll registry's references
    follow (taken for `new` before released for `old`: the feeds are never unpolled).
    Returns how many sources moved; 0 when `old` has none left (a second call)."""
    k = store.keys
    async with registry.sources_lock(store, old), registry.sources_lock(store, new):
        own = cast(dict[str, str], await store.redis.hgetall(k.user_sources(old)))
        for source_id, raw in own.items():
            await registry.add_ref(store, source_id, new, raw)  # before the hash has it
            await store.redis.hsetnx(k.user_sources(new), source_id, raw)
        await registry.release_all(store, old)
        await store.redis.delete(k.user_sources(old))
    return len(own)


def looks_like_feed(parsed: Any) -> bool:
    """True when feedparser's result is an RSS or Atom feed."""
    return bool(parsed.get("version")) and not (parsed.get("bozo") and not parsed.entries)


def parse_feed(text: str) -> Any:
    """feedparser on already-decoded text (never lets feedparser fetch anything itself)."""
    body = re.sub(r"^(\s*<\?xml[^>]*?)encoding=[\"'][^\"']*[\"']", r"\1", text, count=1)
    return feedparser.parse(
        body.encode("utf-8"), response_headers={"content-type": "application/xml; charset=utf-8"}
    )


class _AlternateLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        rel = a.get("rel", "").lower().split()
        kind = a.get("type", "").lower()
        if "alternate" in rel and kind in {"application/rss+xml", "application/atom+xml"}:
            self.found.append((a.get("href", ""), a.get("title", "")))


def discover_feeds(html: str, base_url: str) -> list[tuple[str, str]]:
    """Feed links a page advertises: [(absolute URL, title)], in page order."""
    parser = _AlternateLinks()
    parser.feed(html)
    return [(urljoin(base_url, href), title) for href, title in parser.found if href.strip()]


async def resolve_feed(
    fetcher: Fetcher, url: str, max_bytes: int = FEED_MAX_BYTES
) -> tuple[str, Any]:
    """Fetch `url`; return (feed URL, parsed feed), following one `<link rel=alternate>`.

    Feeds over `max_bytes` are refused (TooLarge) before parsing; parsing and the page
    search run in a worker thread, never on the event loop. Raises NotAFeed when neither
    the URL nor a feed it links to is RSS/Atom, and the Fetcher's errors as they are.
    """
    page = await fetcher.fetch(url, accept=FEED_TYPES)
    if len(page.text.encode("utf-8")) <= max_bytes:
        parsed = await asyncio.to_thread(parse_feed, page.text)
        if looks_like_feed(parsed):
            return page.url, parsed
    elif page.content_type not in _PAGE_TYPES:
        raise TooLarge(f"feed over {max_bytes} bytes", limit_mb=limit_mb(max_bytes))
    links = await asyncio.to_thread(discover_feeds, page.text, page.url)
    for link, _title in links[:3]:
        try:
            validate_url(link)
            feed_page = await fetcher.fetch(link, accept=FEED_TYPES, max_bytes=max_bytes)
        except DigestBotError:
            continue
        parsed = await asyncio.to_thread(parse_feed, feed_page.text)
        if looks_like_feed(parsed):
            return feed_page.url, parsed
    raise NotAFeed(url, url=url[:200])


async def add_source(
    store: Store, fetcher: Fetcher, user_id: int, url: str, *, max_bytes: int = FEED_MAX_BYTES
) -> Source:
    """Validate `url` by fetching it and add the feed it names to the user's sources.

    Returns the Source (name from the feed's title). Raises BadInput for a bad URL,
    NotAFeed, TooManySources, TooLarge (a feed over `max_bytes`), or the Fetcher's
    errors (BlockedAddress for a private address, FetchError ...). Nothing is stored
    unless the feed is valid.
    """
    url = validate_url(url.strip())
    key = store.keys.user_sources(user_id)
    if await store.redis.hlen(key) >= MAX_USER_SOURCES:
        raise TooManySources(url, limit=MAX_USER_SOURCES)
    feed_url, parsed = await resolve_feed(fetcher, url, max_bytes)
    title = str(parsed.feed.get("title") or "").strip() or _host(feed_url)
    sample = " ".join(str(e.get("title", "")) for e in parsed.entries[:10]) or title
    src = Source(name=title[:80], url=feed_url, language=detect_language(sample), operator=False)
    async with registry.sources_lock(store, user_id):
        known = await store.redis.hexists(key, src.id)
        if not known and await store.redis.hlen(key) >= MAX_USER_SOURCES:  # checked again
            raise TooManySources(url, limit=MAX_USER_SOURCES)  # (two adds at once)
        await registry.add_ref(store, src.id, user_id, src.to_json())  # before the user's hash
        await store.redis.hset(key, src.id, src.to_json())
    return src


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url
