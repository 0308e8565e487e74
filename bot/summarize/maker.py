"""DigestMaker: the digest of an article in one language, in one flow.

    made = await maker.make(article, lang="en", length="short", progress=p, hold=h)
    made.digest, made.cost, made.shared

`make` reads top to bottom:

1. **Cached?** The digest cache (`digest_key`: article body, language, length, model,
   prompt version) under single flight: concurrent identical calls, here or in other
   processes, share one computation, and every caller in this process waiting for it
   follows the same progress (the digest growing as the model writes it).
2. **Budget.** Before any LLM work, `hold` is called with the direct digest's estimate
   (its translation included); when that does not fit what is left today the start of
   the article that fits is summarized instead (bot/summarize/budget.py), and that
   digest is not cached.
3. **Translate a cached digest.** A digest in the other language than the article's,
   whose article-language digest is cached, is translated from it (a few hundred
   tokens instead of a re-read).
4. **Direct.** The model writes the digest in the asked language from the article.
5. **Pivot.** When the model will not write that language (`WrongLanguage`), the
   article-language digest is made (through `make`: cached and shared) and translated.
   Its cost is held first; when the budget cannot cover it, the offline fallback
   answers. No further call starts once the work has spent what was held: the
   overshoot past the hold is at most the one call in progress.
6. **Offline fallback.** When the model fails: the checked article-language digest,
   labelled, if only its translation failed; else the extractive summary. Cached a few
   minutes only, so the model is tried again soon.

A map-reduced digest's notes (the reduce call's article message) are kept with the
article (`keys.article_notes`) before the digest is returned: its translation (3, 5)
and the follow-up answers about the article start with the reduce call's prefix.

What the work cost comes back as a value (`Made.cost`: calls and tokens, failed calls
included); a digest from the cache or another caller's computation cost this caller
nothing. Errors of the LLM steps carry what they spent (`LLMError.usage`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot import metrics, stats
from bot.clock import Clock
from bot.domain import Article, Cost, Digest, Lang, Length, Progress, Stage
from bot.errors import BudgetExceeded, LLMError
from bot.grounding import evidence
from bot.llm.article import notes_messages
from bot.llm.client import LLMClient, Message, Usage
from bot.store.redis import Store
from bot.summarize import shape
from bot.summarize.budget import Hold, hold_within
from bot.summarize.cache import SingleFlight, digest_cache_key, get_digest, put_digest
from bot.summarize.extractive import summarize_extractive
from bot.summarize.pipeline import BULLET_RANGE, LLMDraft, LLMSummarizer, WrongLanguage
from bot.summarize.translate import translate_draft

log = logging.getLogger(__name__)

OLD_AFTER_DAYS = 30
FALLBACK_TTL_SECONDS = 300
EXTRACTIVE_MODEL = "extractive"


@dataclass(frozen=True)
class Made:
    """A digest and what making it cost this caller (`shared`: it came from the cache or
    from another caller's computation, and cost this caller nothing)."""

    digest: Digest
    cost: Cost
    shared: bool


class Failed(LLMError):
    """A step of the flow failed; `cost` is everything the flow had spent up to then."""

    def __init__(self, detail: str, *, cost: Cost) -> None:
        super().__init__(detail)
        self.cost = cost

    def spent(self, usage: object) -> LLMError:
        return self  # `cost` already holds everything spent


class BudgetSpent(Failed):
    """The work spent what was held for it: no further call is started."""


def cost_of(usage: Usage | None) -> Cost:
    """The `Cost` of what an LLM step's `Usage` counted (nothing for None)."""
    if usage is None:
        return Cost()
    return Cost(usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)


class DigestMaker:
    """Makes digests (see the module doc); one per process, state in Redis."""

    def __init__(
        self,
        store: Store,
        *,
        llm: LLMClient | None,
        summarizer: LLMSummarizer | None,
        clock: Clock,
        prompt_version: str,
        cache_days: int,
        wait_timeout: float,
    ) -> None:
        self.store = store
        self.llm = llm
        self.summarizer = summarizer
        self.clock = clock
        self.prompt_version = prompt_version
        self.cache_seconds = cache_days * 86400
        self.flight: SingleFlight[Made] = SingleFlight(store, wait_timeout=wait_timeout)
        self._watchers: dict[str, list[Progress]] = {}  # callers waiting on a digest key

    @property
    def model(self) -> str:
        return self.llm.model if self.llm is not None else EXTRACTIVE_MODEL

    def key(self, article: Article, lang: Lang, length: Length) -> str:
        """The digest cache key of `article` in `lang` and `length` (the only place it
        is computed)."""
        return digest_cache_key(article.text, lang, length, self.model, self.prompt_version)

    async def cached(self, article: Article, lang: Lang, length: Length) -> Digest | None:
        """The cached digest of `article` in `lang`, or None."""
        return await get_digest(self.store, self.key(article, lang, length))

    # --- the flow -------------------------------------------------------------------

    async def make(
        self,
        article: Article,
        *,
        lang: Lang,
        length: Length,
        progress: Progress | None = None,
        hold: Hold | None = None,
    ) -> Made:
        """The digest of `article` in `lang` (see the module doc for the flow), with
        this request's article metadata and date notes. Raises BudgetExceeded (from
        `hold`) when not even the start of the article fits today's budget."""
        key = self.key(article, lang, length)

        async def lookup() -> Made | None:  # 1. cached?
            digest = await get_digest(self.store, key)
            return Made(digest, Cost(), shared=True) if digest is not None else None

        async def compute() -> Made:
            fan = self._fan_out(key) if progress is not None else None
            work, held = article, 0
            if hold is not None and self.summarizer is not None:  # 2. budget
                work, held = await hold_within(self.summarizer, article, lang, length, hold)
            digest, cost, ttl = await self._write(work, lang, length, fan, held, hold)
            if work is not article:  # cut to this user's budget: not what others should get
                return Made(digest.model_copy(update={"cut": True}), cost, shared=False)
            await put_digest(self.store, key, digest, ttl)
            return Made(digest, cost, shared=False)

        watchers = self._watchers.setdefault(key, [])
        if progress is not None:
            watchers.append(progress)
        try:
            made, shared = await self.flight.run(key, lookup=lookup, compute=compute)
        finally:
            if progress is not None:
                watchers.remove(progress)
            if not watchers:
                self._watchers.pop(key, None)
        metrics.DIGESTS.labels(path="cache" if shared else made.digest.path).inc()
        cost = Cost() if shared else made.cost
        return Made(self._finish(made.digest, article, cached=shared), cost, shared)

    async def _write(
        self,
        article: Article,
        lang: Lang,
        length: Length,
        progress: Progress | None,
        held: int,
        hold: Hold | None = None,
    ) -> tuple[Digest, Cost, int]:
        """A fresh digest (3 to 6 of the flow), what it cost, and its cache lifetime in
        seconds. `held`: what the budget holds for it (0: no limit); `hold` holds more
        (the pivot's share) before the pivot starts."""
        if self.summarizer is None:
            if progress:
                await progress(Stage("summarizing"))
            digest = await asyncio.to_thread(self._extractive, article, lang, length)
            return digest, Cost(), self.cache_seconds
        cost = Cost()
        try:
            source = await self._cached_draft(article, length) if lang != article.language else None
            if source is not None:  # 3. translate a cached digest
                draft = await self._translate(article, source, lang, length, progress)
                cost += cost_of(draft.usage)
            else:
                try:  # 4. direct
                    draft = await self.summarizer.summarize(
                        article, lang=lang, length=length, progress=progress
                    )
                    cost += cost_of(draft.usage)
                    await self._keep_notes(article, draft)
                except WrongLanguage as exc:  # 5. pivot
                    cost += cost_of(exc.usage)
                    if lang == article.language:
                        raise Failed(exc.detail, cost=cost) from exc
                    draft, cost = await self._pivot(
                        article, lang, length, progress, cost, held, hold
                    )
        except LLMError as exc:  # 6. offline fallback
            cost = exc.cost if isinstance(exc, Failed) else cost + cost_of(exc.usage)
            await self._count(cost)
            digest = await self._fallback(article, lang, length, exc)
            return _with_cost(digest, cost), cost, FALLBACK_TTL_SECONDS
        await self._count(cost)
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
        )
        return _with_cost(digest, cost), cost, self.cache_seconds

    async def _pivot(
        self,
        article: Article,
        lang: Lang,
        length: Length,
        progress: Progress | None,
        cost: Cost,
        held: int,
        hold: Hold | None,
    ) -> tuple[LLMDraft, Cost]:
        """The model will not write `lang`: translate the article-language digest (made
        and cached for this, its cost this request's when made here), once the budget
        holds it too (Failed when it cannot: the offline fallback answers)."""
        log.info("the model will not write %s: translating the %s digest", lang, article.language)
        metrics.LLM_REPAIRS.labels(kind="language_pivot").inc()
        if hold is not None and held and self.summarizer is not None:
            extra = self.summarizer.estimate(article, lang=article.language, length=length)
            try:
                held = await hold(extra)
            except BudgetExceeded as exc:
                raise Failed("the budget left cannot cover the pivot", cost=cost) from exc
        _stop_when_spent(cost, held)
        first = await self.make(
            article, lang=article.language, length=length, progress=_stages_only(progress)
        )
        await stats.incr_many(self.store, digest_counts(first))
        cost += first.cost
        if first.digest.path != "llm":
            raise Failed("no digest in the article's language to translate", cost=cost)
        _stop_when_spent(cost, held)
        try:
            draft = await self._translate(article, _as_draft(first.digest), lang, length, progress)
        except LLMError as exc:
            raise Failed(exc.detail, cost=cost + cost_of(exc.usage)) from exc
        return draft, cost + cost_of(draft.usage)

    async def _translate(
        self,
        article: Article,
        source: LLMDraft,
        lang: Lang,
        length: Length,
        progress: Progress | None,
    ) -> LLMDraft:
        """The checked translation of `source`, shown as it is written (`progress`)."""
        assert self.llm is not None
        sentences = evidence.number_sentences(article.text)
        if not source.min_bullets:
            lo, hi = BULLET_RANGE[length]
            source.min_bullets = shape.bullet_range(lo, hi, len(sentences)).lo
        return await translate_draft(
            self.llm,
            source,
            target=lang,
            article_lang=article.language,
            sentences=sentences,
            progress=progress,
            prefix=await self._prefix(article),
        )

    async def _prefix(self, article: Article) -> list[Message] | None:
        """The messages the requests about `article` start with: the digest's, or for a
        map-reduced article the reduce call's over its kept notes (None when they are
        not kept: expired, or a digest from before they were)."""
        if self.summarizer is None:
            return None
        whole = self.summarizer.prefix(article)
        if whole is not None:
            return whole
        notes = await self.store.redis.get(self.store.keys.article_notes(article.id))
        return notes_messages(str(notes)) if notes else None

    async def _keep_notes(self, article: Article, draft: LLMDraft) -> None:
        """Keep a map-reduced draft's notes with the article, as long as its digest."""
        if draft.notes:
            key = self.store.keys.article_notes(article.id)
            await self.store.redis.set(key, draft.notes, ex=self.cache_seconds)

    async def _cached_draft(self, article: Article, length: Length) -> LLMDraft | None:
        """The cached LLM digest in the article's own language, as a translation source."""
        cached = await self.cached(article, article.language, length)
        return _as_draft(cached) if cached is not None and cached.path == "llm" else None

    async def _fallback(
        self, article: Article, lang: Lang, length: Length, exc: LLMError
    ) -> Digest:
        """The digest when the model failed: the checked other-language digest labelled
        (when a translation failed), else the offline extract."""
        cached = None
        if lang != article.language:
            cached = await self.cached(article, article.language, length)
        if cached is not None and cached.path == "llm":
            log.warning("translation failed (%s): the %s digest, labelled", exc.detail, cached.lang)
            return cached.model_copy(update={"translation_note": True, "cached": False})
        log.warning("LLM failed (%s): falling back to the extractive summary", exc.detail)
        return await asyncio.to_thread(self._extractive, article, lang, length)

    async def _count(self, cost: Cost) -> None:
        await stats.incr_llm(
            self.store, calls=cost.calls, tokens=cost.tokens, cached=cost.tokens_cached
        )

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


def digest_counts(made: Made) -> dict[str, int]:
    """The day's counters one returned digest adds to (bot/stats.py)."""
    return {"digests": 1, "cache_hits" if made.shared else "cache_misses": 1}


def _stop_when_spent(cost: Cost, held: int) -> None:
    """Raise BudgetSpent when the work has spent what was held (`held` 0: no limit)."""
    if held and cost.tokens >= held:
        log.warning("digest work spent %d of %d held tokens: stopping", cost.tokens, held)
        raise BudgetSpent("the digest spent what was held for it", cost=cost)


def _with_cost(digest: Digest, cost: Cost) -> Digest:
    """The digest showing what it cost (the CLI's JSON output reports it)."""
    return digest.model_copy(
        update={
            "llm_calls": cost.calls,
            "tokens_in": cost.tokens_in,
            "tokens_out": cost.tokens_out,
            "tokens_cached": cost.tokens_cached,
        }
    )


def _stages_only(progress: Progress | None) -> Progress | None:
    """`progress` without the streamed text: a digest made only to be translated is
    not in the language the user asked for, so it is not shown as it is written."""
    if progress is None:
        return None
    report = progress

    async def stages(stage: Stage) -> None:
        if stage.partial is None:
            await report(stage)

    return stages


def _as_draft(digest: Digest) -> LLMDraft:
    """A cached digest as the source of a translation."""
    return LLMDraft(
        headline=digest.headline,
        bullets=list(digest.bullets),
        questions=list(digest.questions),
        sources=[list(ids) for ids in digest.sources],
        quotes=list(digest.quotes),
        dropped=digest.unverified_dropped,
        quality=dict(digest.quality),
    )
