"""Which LLM path writes a digest in the asked language.

A digest in the article's own language is written from the article. One in the other
language is translated from the article-language digest when that one is cached (a few
hundred tokens instead of a re-read); otherwise the model writes it directly, and when
it will not write that language (`WrongLanguage`), the article-language digest is made
(and cached, through the service's single flight) and translated. When a translation
fails its checks, `untranslated` offers the checked article-language digest, labelled.
The translation grows on screen as it is written (a `LiveDraft` over its stream, with
checks of its own: `translate.live_checks`); it replaces a rejected attempt shown before.

Every call made on the way, failed ones included, is added to the caller's `Usage`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import metrics
from bot.domain import Article, Digest, Lang, Length, Progress, Stage
from bot.errors import LLMError
from bot.grounding import evidence
from bot.llm.client import LLMClient, Usage
from bot.store.redis import Store
from bot.summarize import shape
from bot.summarize.cache import digest_cache_key, get_digest
from bot.summarize.live import LiveDraft
from bot.summarize.pipeline import BULLET_RANGE, LLMDraft, LLMSummarizer, WrongLanguage
from bot.summarize.translate import live_checks, translate_draft

log = logging.getLogger(__name__)

FirstLanguage = Callable[[Article, Length, Progress | None], Awaitable[Digest]]


@dataclass
class Drafts:
    """Makes the checked LLM draft of a digest in one language (see the module doc).

    `first_language(article, length, progress)` returns the article-language digest
    through the service (cache and single flight included)."""

    summarizer: LLMSummarizer
    llm: LLMClient
    store: Store
    model: str
    prompt_version: str
    first_language: FirstLanguage

    async def draft(
        self,
        article: Article,
        *,
        lang: Lang,
        length: Length,
        usage: Usage,
        progress: Progress | None,
    ) -> LLMDraft:
        """The checked draft in `lang`; `usage` collects what every call cost."""
        if lang != article.language:
            source = await self._cached_draft(article, length)
            if source is not None:
                return await self._translate(article, source, lang, length, usage, progress)
        try:
            draft = await self.summarizer.summarize(
                article, lang=lang, length=length, progress=progress
            )
            usage.add(draft.usage)
            draft.usage = usage
            return draft
        except WrongLanguage as exc:
            usage.add_failed(exc)
            if lang == article.language:
                raise
            log.info(
                "the model will not write %s: translating the %s digest", lang, article.language
            )
            metrics.LLM_REPAIRS.labels(kind="language_pivot").inc()
        except LLMError as exc:
            usage.add_failed(exc)
            raise
        first = await self.first_language(article, length, _stages_only(progress))
        if not first.cached:  # made for this request: its cost is this request's too
            usage.add(Usage(first.tokens_in, first.tokens_out, first.llm_calls))
        if first.path != "llm":
            raise LLMError("no digest in the article's language to translate")
        return await self._translate(article, _as_draft(first), lang, length, usage, progress)

    async def untranslated(self, article: Article, lang: Lang, length: Length) -> Digest | None:
        """The checked LLM digest in the article's own language, labelled as not
        translated, when a translation into `lang` failed (None when there is none)."""
        if lang == article.language:
            return None
        key = digest_cache_key(
            article.text, article.language, length, self.model, self.prompt_version
        )
        cached = await get_digest(self.store, key)
        if cached is None or cached.path != "llm":
            return None
        return cached.model_copy(update={"translation_note": True, "cached": False})

    async def _cached_draft(self, article: Article, length: Length) -> LLMDraft | None:
        key = digest_cache_key(
            article.text, article.language, length, self.model, self.prompt_version
        )
        cached = await get_digest(self.store, key)
        return _as_draft(cached) if cached is not None and cached.path == "llm" else None

    async def _translate(
        self,
        article: Article,
        source: LLMDraft,
        lang: Lang,
        length: Length,
        usage: Usage,
        progress: Progress | None = None,
    ) -> LLMDraft:
        """The checked translation of `source`, shown as it is written (`progress`)."""
        sentences = evidence.number_sentences(article.text)
        if not source.min_bullets:
            lo, hi = BULLET_RANGE[length]
            source.min_bullets = shape.bullet_range(lo, hi, len(sentences)).lo
        live = None
        if progress is not None:
            checks = live_checks(
                source, target=lang, article_lang=article.language, sentences=sentences
            )
            live = LiveDraft(progress, lang, *checks)
        try:
            draft = await translate_draft(
                self.llm,
                source,
                target=lang,
                article_lang=article.language,
                sentences=sentences,
                on_text=live,
            )
        except LLMError as exc:
            usage.add_failed(exc)
            raise
        usage.add(draft.usage)
        draft.usage = usage
        return draft


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
