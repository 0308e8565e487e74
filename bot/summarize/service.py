"""SummarizeService: an article (link or pasted text) in, a digest out.

    service = await SummarizeService.create(settings, store)
    digest = await service.digest("https://…", kind="url", lang="en")
    await service.aclose()

Load: a URL is validated, then served from the article cache (per normalized URL, for
ARTICLE_CACHE_HOURS) or fetched through the SSRF-guarded Fetcher and extracted; pasted
text is cleaned by `extract_text`. Every loaded article is also kept by its id for
CONTEXT_TTL_DAYS so follow-up questions and buttons can find it again.

Summarize: the digest cache (DIGEST_CACHE_DAYS) is keyed by the article body, language,
length, model and prompt version; a miss runs the LLM path (bot.summarize.pipeline)
under single flight, or the offline extractive summarizer when there is no API key or
the LLM keeps failing. A fallback digest produced because the LLM failed is cached for
a few minutes only, so the LLM is tried again soon.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Literal

from bot import metrics, stats
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain import Article, Digest, Lang, Length, Progress, Stage
from bot.errors import LLMError
from bot.ingest.documents import read_document
from bot.ingest.extract import extract_html, extract_text
from bot.ingest.fetch import PAGE_PDF_OR_IMAGE_TYPES, FetchedPage, Fetcher
from bot.ingest.inputs import normalize_url, url_for_log, validate_url
from bot.llm.client import LLMClient, Usage
from bot.store.redis import Pipeline, Store
from bot.summarize.budget import Reserve, reserve_within
from bot.summarize.cache import SingleFlight, digest_cache_key, get_digest, put_digest
from bot.summarize.extractive import summarize_extractive
from bot.summarize.languages import Drafts
from bot.summarize.pipeline import LLMSummarizer, prompt_version

log = logging.getLogger(__name__)

OLD_AFTER_DAYS = 30
FALLBACK_TTL_SECONDS = 300
EXTRACTIVE_MODEL = "extractive"
BIG_TEXT_CHARS = 50_000  # extract larger texts in a worker thread


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.llm = llm
        self.clock: Clock = clock or SystemClock()
        wait = max(60.0, settings.llm_timeout_seconds * (settings.llm_max_retries + 1) * 4)
        self.flight: SingleFlight[Digest] = SingleFlight(store, wait_timeout=wait)
        self.prompt_version = prompt_version()
        self._watchers: dict[str, list[Progress]] = {}  # callers waiting on a digest key
        self.drafts: Drafts | None = None
        if llm is not None:
            summarizer = LLMSummarizer(
                llm,
                max_input_tokens=settings.llm_max_input_tokens,
                max_parts=settings.summary_max_parts,
            )
            self.drafts = Drafts(
                summarizer=summarizer,
                llm=llm,
                store=store,
                model=llm.model,
                prompt_version=self.prompt_version,
                first_language=self._first_language,
            )

    async def _first_language(
        self, article: Article, length: Length, progress: Progress | None
    ) -> Digest:
        return await self.summarize(
            article, lang=article.language, length=length, progress=progress
        )

    @classmethod
    async def create(
        cls, settings: Settings, store: Store, *, clock: Clock | None = None
    ) -> SummarizeService:
        """Build the service with its own Fetcher and LLM client (None without an API key)."""
        return cls(
            settings,
            store,
            fetcher=Fetcher.from_settings(settings),
            llm=LLMClient.from_settings(settings),
            clock=clock,
        )

    async def aclose(self) -> None:
        """Close the fetcher and the LLM client (the store belongs to the caller)."""
        await self.fetcher.aclose()
        if self.llm is not None:
            await self.llm.aclose()

    @property
    def model(self) -> str:
        return self.llm.model if self.llm is not None else EXTRACTIVE_MODEL

    # --- articles ---------------------------------------------------------------

    async def load_article(
        self,
        source: str,
        *,
        kind: Literal["url", "text"],
        progress: Progress | None = None,
        writes: Pipeline | None = None,
    ) -> Article:
        """Return the article at a URL (kind="url") or in pasted text (kind="text").

        `writes`: the request's Redis pipeline (the caller runs it before replying); the
        write that keeps the article by id is queued there instead of sent now.

        Raises BadInput / TextTooShort for unusable input, FetchError and its subclasses
        (BlockedAddress, UnsupportedContent, TooLarge) for fetch failures, NotAnArticle
        when a page holds no article text.
        """
        data: str | None = None
        if kind == "url":
            article, data = await self._load_url(validate_url(source), progress)
        else:
            if progress:
                await progress(Stage("extracting"))
            big = len(source) > BIG_TEXT_CHARS
            article = await asyncio.to_thread(extract_text, source) if big else extract_text(source)
        if writes is not None:
            self.queue_remember(writes, article, data)
        else:
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

    async def _extract_page(self, page: FetchedPage) -> Article:
        if page.body is not None:  # a PDF or a picture: text layer, else OCR
            article = await self._read_file(page.body, page.content_type)
        elif page.content_type.split(";")[0].strip().lower() == "text/plain":
            article = extract_text(page.text)
        else:
            article = await asyncio.to_thread(extract_html, page.text, page.url)
        return article.model_copy(update={"url": article.url or page.url, "source_kind": "url"})

    async def _read_file(self, data: bytes, content_type: str) -> Article:
        """The article in a linked PDF or picture (bot/ingest/documents.py
        `read_document`: OCR where needed, cached by the bytes' hash), with the OCR
        pages and seconds counted for /stats."""
        reading = await read_document(
            data,
            None,
            content_type,
            self.settings.ocr_limits(),
            self.store,
            cache_seconds=self.settings.article_cache_hours * 3600,
        )
        if reading.ocr_pages:
            counts = {"ocr_pages": reading.ocr_pages, "ocr_seconds": round(reading.ocr_seconds)}
            await stats.incr_many(self.store, counts)
        return reading.article

    async def _remember(self, article: Article, data: str | None = None) -> None:
        """Keep the article by id for follow-ups; an already stored copy only gets its TTL renewed."""
        key = self.store.keys.article("id:" + article.id)
        ttl = self.settings.context_ttl
        if not await self.store.redis.expire(key, ttl):
            await self.store.redis.set(key, data or article.model_dump_json(), ex=ttl)

    def queue_remember(self, pipe: Pipeline, article: Article, data: str | None = None) -> None:
        """`_remember` as writes queued on a caller's pipeline (no answer needed): renew
        the stored copy's TTL, and store it only when it is not there (SET NX)."""
        key = self.store.keys.article("id:" + article.id)
        ttl = self.settings.context_ttl
        pipe.expire(key, ttl)
        pipe.set(key, data or article.model_dump_json(), ex=ttl, nx=True)

    async def get_article(self, article_id: str) -> Article | None:
        """Return a previously loaded article by its id, or None once it has expired."""
        raw = await self.store.redis.get(self.store.keys.article("id:" + article_id))
        return Article.model_validate_json(raw) if raw else None

    # --- digests ------------------------------------------------------------------

    async def digest(
        self,
        source: str,
        *,
        kind: Literal["url", "text"],
        lang: Lang | None = None,
        length: Length = "short",
        progress: Progress | None = None,
        reserve: Reserve | None = None,
    ) -> Digest:
        """Load `source` and summarize it; `lang` None means the article's own language.
        `reserve` holds the LLM work's estimated cost first (see `summarize`).

        Raises what load_article raises; summarizing itself always yields a digest.
        """
        article = await self.load_article(source, kind=kind, progress=progress)
        return await self.summarize(
            article,
            lang=lang or article.language,
            length=length,
            progress=progress,
            reserve=reserve,
        )

    async def summarize(
        self,
        article: Article,
        *,
        lang: Lang,
        length: Length = "short",
        progress: Progress | None = None,
        writes: Pipeline | None = None,
        reserve: Reserve | None = None,
    ) -> Digest:
        """Return the digest of `article` in `lang` (cached=True when it was not computed
        by this call). Concurrent identical calls, here or in other processes, share one
        computation. `writes`: the request's Redis pipeline (the caller runs it before
        replying); the day's counters are queued there instead of sent now. `reserve`:
        called with the estimated token cost before any LLM work (not for a cache hit);
        it raises (BudgetExceeded) to refuse, and then nothing is computed."""
        key = digest_cache_key(article.text, lang, length, self.model, self.prompt_version)

        async def lookup() -> Digest | None:
            return await get_digest(self.store, key)

        async def compute() -> Digest:
            work = article
            if reserve is not None and self.drafts is not None:
                work = await reserve_within(self.drafts.summarizer, article, lang, length, reserve)
            fan = self._fan_out(key) if progress is not None else None
            digest, ttl = await self._compute(work, lang=lang, length=length, progress=fan)
            if work is not article:  # cut to this user's budget: not what others should get
                return digest.model_copy(update={"cut": True})
            await put_digest(self.store, key, digest, ttl)
            return digest

        watchers = self._watchers.setdefault(key, [])
        if progress is not None:
            watchers.append(progress)
        try:
            digest, shared = await self.flight.run(key, lookup=lookup, compute=compute)
        finally:
            if progress is not None:
                watchers.remove(progress)
            if not watchers:
                self._watchers.pop(key, None)
        metrics.DIGESTS.labels(path="cache" if shared else digest.path).inc()
        counts = {"digests": 1, "cache_hits" if shared else "cache_misses": 1}
        if writes is not None:
            stats.queue_many(self.store, writes, counts)
        else:
            await stats.incr_many(self.store, counts)
        return self._finish(digest, article, cached=shared)

    def _fan_out(self, key: str) -> Progress:
        """Progress for the computation of `key`, told to every caller in this process
        waiting for it (single flight: the others follow the same stream). A caller's
        failing callback does not stop the computation nor the other callers."""

        async def fan(stage: Stage) -> None:
            for watcher in list(self._watchers.get(key, ())):
                try:
                    await watcher(stage)
                except Exception:
                    log.exception("a progress callback failed")

        return fan

    async def _compute(
        self, article: Article, *, lang: Lang, length: Length, progress: Progress | None
    ) -> tuple[Digest, int]:
        """Write a fresh digest; return it with its cache lifetime in seconds.

        A digest in the other language than the article's is translated from the
        article-language digest when that one is cached; otherwise the model writes it
        directly, and if it will not write `lang`, the article-language digest is made
        (and cached) and translated. Every call and token spent, failed ones included,
        is counted in the stats and in the digest (so the budget is charged for it).
        """
        if self.drafts is None:
            if progress:
                await progress(Stage("summarizing"))
            digest = await asyncio.to_thread(self._extractive, article, lang, length)
            return digest, self.settings.digest_cache_days * 86400
        usage = Usage()
        try:
            draft = await self.drafts.draft(
                article, lang=lang, length=length, usage=usage, progress=progress
            )
        except LLMError as exc:
            return await self._fallback(article, lang, length, usage, exc), FALLBACK_TTL_SECONDS
        await self._count_usage(usage)
        digest = Digest(
            lang=lang,
            length=length,
            article_id=article.id,
            headline=draft.headline,
            bullets=draft.bullets,
            questions=draft.questions,
            sources=draft.sources,
            quotes=draft.quotes,
            translated=bool(draft.quality.get("translated")),
            cut=bool(draft.quality.get("cut_parts")),
            quality=draft.quality,
            path="llm",
            unverified_dropped=draft.dropped,
            model=self.model,
            prompt_version=self.prompt_version,
            llm_calls=usage.calls,
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
        )
        return digest, self.settings.digest_cache_days * 86400

    async def _fallback(
        self, article: Article, lang: Lang, length: Length, usage: Usage, exc: LLMError
    ) -> Digest:
        """The digest when the model failed: the checked other-language digest labelled
        (when a translation failed), else the offline extract; with what was spent."""
        assert self.drafts is not None
        await self._count_usage(usage)
        fallback = await self.drafts.untranslated(article, lang, length)
        if fallback is None:
            log.warning("LLM failed (%s): falling back to the extractive summary", exc.detail)
            fallback = await asyncio.to_thread(self._extractive, article, lang, length)
        else:
            log.warning(
                "translation failed (%s): the %s digest, labelled", exc.detail, fallback.lang
            )
        return fallback.model_copy(
            update={
                "llm_calls": usage.calls,
                "tokens_in": usage.prompt_tokens,
                "tokens_out": usage.completion_tokens,
            }
        )

    async def _count_usage(self, usage: Usage) -> None:
        await stats.incr_llm(self.store, calls=usage.calls, tokens=usage.tokens)

    @staticmethod
    def _extractive(article: Article, lang: Lang, length: Length) -> Digest:
        """The offline digest: in the article's own language, with a translation note
        when another language was asked for. CPU-bound (seconds on a big article):
        callers run it in a worker thread, off the event loop."""
        headline, bullets = summarize_extractive(article, length=length)
        return Digest(
            headline=headline,
            bullets=bullets,
            questions=[],
            lang=article.language,
            length=length,
            path="extractive",
            article_id=article.id,
            translation_note=lang != article.language,
        )

    def _finish(self, digest: Digest, article: Article, *, cached: bool) -> Digest:
        """Attach this request's article metadata and the date notes (relative to now)."""
        age = None
        if article.published is not None:
            age = (self.clock.now().date() - article.published).days
        return digest.model_copy(
            update={
                "cached": cached,
                "title": article.title,
                "url": article.url,
                "site_name": article.site_name,
                "published": article.published,
                "age_days": age,
                "old": age is not None and age > OLD_AFTER_DAYS,
                "partial": article.partial,
            }
        )
