"""SummarizeService: an article (link or pasted text) in, a digest out.

    service = await SummarizeService.create(settings, store)
    digest = await service.digest("https://…", kind="url", lang="en")
    await service.aclose()

Load: a URL is validated, then served from the article cache (per normalized URL, for
ARTICLE_CACHE_HOURS) or fetched through the SSRF-guarded Fetcher and read; pasted text
is served from the same cache (per hash of the text) or read. Reading is the readers'
(bot/readers/: page, text, PDF ... in worker processes under OS limits), so a cached
article never touches them. Every loaded article is also kept by its id for
CONTEXT_TTL_DAYS so follow-up questions and buttons can find it again.

Summarize: the digest flow (cached? → budget → translate a cached digest → direct →
pivot → offline fallback) is `DigestMaker.make` (bot/summarize/maker.py), which
returns the digest and what it cost as a value. A metered request from a user (rate,
budget, the buttons' state) is `bot.summarize.requests.DigestRequests`.
"""

from __future__ import annotations

import hashlib
import logging

from bot import stats
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain import Article, Digest, Lang, Length, Progress, SourceKind, Stage
from bot.ingest.fetch import PAGE_PDF_OR_IMAGE_TYPES, FetchedPage, Fetcher
from bot.ingest.inputs import normalize_url, url_for_log, validate_url
from bot.llm.client import LLMClient
from bot.readers import Input, Readers
from bot.store.redis import Store
from bot.summarize.budget import Hold
from bot.summarize.cache import SingleFlight
from bot.summarize.maker import DigestMaker, Made, digest_counts
from bot.summarize.pipeline import LLMSummarizer, prompt_version

log = logging.getLogger(__name__)


class SummarizeService:
    """Loads articles and writes their digests (LLM or extractive), with Redis caches."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        fetcher: Fetcher,
        llm: LLMClient | None,
        clock: Clock | None = None,
        readers: Readers | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.llm = llm
        # the composition root's readers; a service built alone (tests) owns its own
        self._owns_readers = readers is None
        self.readers = readers if readers is not None else Readers.from_settings(settings)
        self.clock: Clock = clock or SystemClock()
        wait = max(60.0, settings.llm_timeout_seconds * (settings.llm_max_retries + 1) * 4)
        self.prompt_version = prompt_version()
        summarizer = None
        if llm is not None:
            summarizer = LLMSummarizer(
                llm,
                max_input_tokens=settings.llm_max_input_tokens,
                max_parts=settings.summary_max_parts,
            )
        self.maker = DigestMaker(
            store,
            llm=llm,
            summarizer=summarizer,
            clock=self.clock,
            prompt_version=self.prompt_version,
            cache_days=settings.digest_cache_days,
            wait_timeout=wait,
        )

    @classmethod
    async def create(
        cls,
        settings: Settings,
        store: Store,
        *,
        clock: Clock | None = None,
        readers: Readers | None = None,
    ) -> SummarizeService:
        """Build the service with its own Fetcher and LLM client (None without an API
        key); `readers` None: its own, closed with it."""
        return cls(
            settings,
            store,
            fetcher=Fetcher.from_settings(settings),
            llm=LLMClient.from_settings(settings),
            clock=clock,
            readers=readers,
        )

    async def aclose(self) -> None:
        """Close the fetcher, the LLM client and its own readers (the store and given
        readers belong to the caller)."""
        await self.fetcher.aclose()
        if self.llm is not None:
            await self.llm.aclose()
        if self._owns_readers:
            await self.readers.aclose()

    @property
    def model(self) -> str:
        return self.maker.model

    @property
    def flight(self) -> SingleFlight[Made]:
        """The digests' single flight (`DigestMaker.flight`)."""
        return self.maker.flight

    @flight.setter
    def flight(self, flight: SingleFlight[Made]) -> None:
        self.maker.flight = flight

    # --- articles ---------------------------------------------------------------

    async def load_article(
        self,
        source: str,
        *,
        kind: SourceKind,
        progress: Progress | None = None,
        remember: bool = True,
    ) -> Article:
        """Return the article at a URL (kind="url") or in pasted text (kind="text"),
        kept by id for follow-ups unless `remember` is False (the caller then keeps it
        with its own writes: `kept_record`).

        Raises BadInput / TextTooShort for unusable input, FetchError and its subclasses
        (BlockedAddress, UnsupportedContent, TooLarge) for fetch failures, NotAnArticle
        when a page holds no article text, TooComplex / InputTooLarge (bot.readers) for
        an input over its reader's limits.
        """
        if kind == "url":
            article, data = await self._load_url(validate_url(source), progress)
        else:
            article, data = await self._load_text(source, progress)
        if remember:
            await self._remember(article, data)
        return article

    async def _load_url(self, url: str, progress: Progress | None) -> tuple[Article, str]:
        """The article at `url` and its JSON (as cached)."""
        key = self.store.keys.article(
            hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]
        )
        cached = await self.store.redis.get(key)
        if cached is not None:
            try:
                return Article.model_validate_json(cached), str(cached)
            except ValueError:
                log.warning("dropping an unreadable cached article for %s", url_for_log(url))
        if progress:
            await progress(Stage("fetching"))
        page = await self.fetcher.fetch(url, accept=PAGE_PDF_OR_IMAGE_TYPES)
        if progress:
            await progress(Stage("extracting"))
        article = await self._extract_page(page)
        data = article.model_dump_json()
        await self.store.redis.set(key, data, ex=self.settings.article_cache_hours * 3600)
        return article, data

    async def load_document(self, inp: Input) -> Article:
        """The article in an uploaded file (or a file given to the CLI): from the article
        cache (keyed by the file's hash, so the same file sent again never reaches a
        reader), else read by the reader its kind names.

        Raises what `Readers.read` raises (UnsupportedDocument, InputTooLarge,
        TooComplex, the reader's own BadInput subclasses)."""
        return (await self._read_cached("file:", inp.data, inp))[0]

    async def _load_text(self, text: str, progress: Progress | None) -> tuple[Article, str]:
        """The article in pasted `text` and its JSON: from the article cache (keyed by
        the text's hash, so a repeated paste never reaches a reader), else read."""
        inp = Input(text=text, origin="paste")
        return await self._read_cached("text:", text.encode("utf-8", "replace"), inp, progress)

    async def _read_cached(
        self, kind: str, raw: bytes, inp: Input, progress: Progress | None = None
    ) -> tuple[Article, str]:
        """The article read from `inp` and its JSON, cached for ARTICLE_CACHE_HOURS under
        the hash of its `raw` bytes."""
        key = self.store.keys.article(kind + hashlib.sha256(raw).hexdigest()[:32])
        cached = await self.store.redis.get(key)
        if cached is not None:
            try:
                return Article.model_validate_json(cached), str(cached)
            except ValueError:
                log.warning("dropping an unreadable cached %sarticle", kind)
        if progress:
            await progress(Stage("extracting"))
        article = await self._read(inp)
        data = article.model_dump_json()
        await self.store.redis.set(key, data, ex=self.settings.article_cache_hours * 3600)
        return article, data

    async def _extract_page(self, page: FetchedPage) -> Article:
        """The article in a fetched page, read by the reader its content type names."""
        binary = page.body is not None  # a PDF or a picture (text layer, else OCR)
        inp = Input(
            data=page.body if page.body is not None else b"",
            text=None if binary else page.text,
            mime_type=page.content_type,
            url=page.url,
            origin="link",
        )
        article = await self._read(inp)
        return article.model_copy(update={"url": article.url or page.url, "source_kind": "url"})

    async def _read(self, inp: Input) -> Article:
        """`inp` read by the readers, the pages and seconds OCR took (reported by the
        worker with the article) added to today's /stats counters."""
        article = await self.readers.read(inp)
        if article.ocr_pages:
            counts = {"ocr_pages": article.ocr_pages, "ocr_seconds": round(article.ocr_seconds)}
            await stats.incr_many(self.store, counts)
        return article

    async def _remember(self, article: Article, data: str | None = None) -> None:
        """Keep the article by id for follow-ups; an already stored copy only gets its TTL renewed."""
        key = self.store.keys.article("id:" + article.id)
        ttl = self.settings.context_ttl
        if not await self.store.redis.expire(key, ttl):
            await self.store.redis.set(key, data or article.model_dump_json(), ex=ttl)

    def kept_record(self, article: Article) -> tuple[str, str, int]:
        """What `_remember` writes, for a caller that batches its writes: the key, the
        article's JSON and its lifetime in seconds (renew the TTL, then SET NX)."""
        key = self.store.keys.article("id:" + article.id)
        return key, article.model_dump_json(), self.settings.context_ttl

    async def get_article(self, article_id: str) -> Article | None:
        """Return a previously loaded article by its id, or None once it has expired."""
        raw = await self.store.redis.get(self.store.keys.article("id:" + article_id))
        return Article.model_validate_json(raw) if raw else None

    # --- digests ------------------------------------------------------------------

    async def digest(
        self,
        source: str,
        *,
        kind: SourceKind,
        lang: Lang | None = None,
        length: Length = "short",
        progress: Progress | None = None,
    ) -> Digest:
        """Load `source` and summarize it; `lang` None means the article's own language.

        Raises what load_article raises; summarizing itself always yields a digest.
        """
        article = await self.load_article(source, kind=kind, progress=progress)
        return await self.summarize(
            article, lang=lang or article.language, length=length, progress=progress
        )

    async def summarize(
        self,
        article: Article,
        *,
        lang: Lang,
        length: Length = "short",
        progress: Progress | None = None,
    ) -> Digest:
        """Return the digest of `article` in `lang` (cached=True when it was not computed
        by this call), counted in the day's stats; no budget (the CLI's path: a user's
        request goes through `bot.summarize.requests`)."""
        made = await self.make(article, lang=lang, length=length, progress=progress)
        await stats.incr_many(self.store, digest_counts(made))
        return made.digest

    async def make(
        self,
        article: Article,
        *,
        lang: Lang,
        length: Length = "short",
        progress: Progress | None = None,
        hold: Hold | None = None,
    ) -> Made:
        """`DigestMaker.make`: the digest and what it cost this caller (not counted in
        the day's stats: the caller does that, `digest_counts`)."""
        return await self.maker.make(
            article, lang=lang, length=length, progress=progress, hold=hold
        )
