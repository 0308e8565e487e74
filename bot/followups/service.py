"""Follow-up questions: answers about the chat's article, grounded in the article itself.

Transport-neutral: the Telegram router and the console decide which message is a
question and call `FollowupService.answer`; this module picks the article, retrieves
the relevant parts, asks the LLM (prompt `prompts/answer.md`) for an answer citing the
article's numbered sentences, checks it against them (`grounding.py`: re-anchored when
the citation is wrong, one corrective retry `prompts/answer_retry.md` when unsupported,
then shown unverified), and caches the result. Nothing here imports `telegram`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from bot import stats
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain import Article, Lang, Progress
from bot.errors import BadInput, LLMError, NoActiveArticle
from bot.followups.anchored import AnchoredAnswer, call
from bot.followups.answer import KEYWORDS_SCHEMA, Answer, Keywords
from bot.followups.context import ChatContext, Turn
from bot.followups.grounding import judge
from bot.followups.live import LiveAnswer
from bot.followups.numbered import NumberedPassages
from bot.followups.prompt import (
    ARTICLE_SHARE,
    LANG_NAMES,
    PASSAGES_PROMPT_NAME,
    PROMPT_NAME,
    build_prompt,
    defuse_tags,
    fits_whole,
    numbered_passages,
    passage_index,
    passage_size,
)
from bot.followups.retrieval import match_form, question_query
from bot.i18n import t
from bot.ingest.arabic import detect_language
from bot.ingest.arabic import tokens as word_tokens
from bot.llm import article as prefix
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.prompts import combined_version, load_prompt
from bot.store.redis import Store

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
OFFLINE_PASSAGES = 3

QUERY_PROMPT_NAME = "answer_query"
MAX_KEYWORDS = 12
MAX_KEYWORD_TOKENS = 150


class ArticleSource(Protocol):
    """Where articles come from (SummarizeService satisfies it)."""

    async def get_article(self, article_id: str) -> Article | None: ...


@dataclass(frozen=True)
class _Question:
    """A question on its way to the model: its text, the answer language, the chat's
    past turns about the article, and the retrieval query (weights by search term)."""

    text: str
    lang: Lang
    history: list[Turn]
    query: dict[str, float]


class FollowupService:
    """Answers questions about the article a chat is talking about."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        articles: ArticleSource,
        llm: LLMClient | None,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._articles = articles
        self._llm = llm
        self._clock = clock or SystemClock()
        self._ctx = ChatContext(store, settings.context_ttl)

    # --- routing data -------------------------------------------------------------

    @property
    def context(self) -> ChatContext:
        """The chats' follow-up context (which message and chat is about which article)."""
        return self._ctx

    async def bind_message(self, chat_id: int, message_id: int, article_id: str) -> None:
        """Remember that a sent message (digest or answer) is about `article_id`."""
        await self._ctx.bind_message(chat_id, message_id, article_id)

    async def set_active(self, chat_id: int, article_id: str) -> None:
        """Make `article_id` the chat's most recent article."""
        await self._ctx.set_active(chat_id, article_id)

    async def active_article(self, chat_id: int) -> str | None:
        """The chat's most recent article id, or None."""
        return await self._ctx.active_article(chat_id)

    async def article_for_reply(self, chat_id: int, message_id: int) -> str | None:
        """The article a message of the chat is about, or None when it is not known."""
        return await self._ctx.article_for_reply(chat_id, message_id)

    async def reset(self, chat_id: int) -> None:
        """Forget the chat's active article, its message map and its histories."""
        await self._ctx.reset(chat_id)

    # --- answering ----------------------------------------------------------------

    async def answer(
        self,
        *,
        chat_id: int,
        question: str,
        lang: Lang | None,
        reply_to_message_id: int | None = None,
        user_id: int | None = None,
        article_id: str | None = None,
        progress: Progress | None = None,
    ) -> Answer:
        """Answer `question` from the article the chat is talking about; `progress`
        gets the answer as the model writes it (`Stage("writing")`).
        The article is `article_id` (a briefing story the caller chose), else the one
        bound to `reply_to_message_id`, else the chat's most recent one. `lang` None means the question's
        language. Returns an Answer (see its docstring for the paths); the LLM being
        down is NOT an exception: it returns path="unavailable" with the localized
        apology in `text`, so callers render every Answer the same way.

        A question in another language than a long (over-budget) article costs one
        small extra LLM call that turns it into search words in the article's language
        (`prompts/answer_query.md`); `Answer.tokens` includes it. `user_id` only labels
        log lines; the caller applies the user's limits.
        Raises NoActiveArticle when there is no article (none yet, expired, or its
        text is no longer cached), BadInput for an empty question.
        """
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if not question:
            raise BadInput("empty question")
        article_id = article_id or await self._article_id(chat_id, reply_to_message_id)
        answer_lang: Lang = lang or detect_language(question)
        history = await self._ctx.history(chat_id, article_id)
        previous = _topic(history)
        # A short follow-up ("and when?") means something else after another question:
        # its cache entry is keyed by the question it follows.
        context = previous if _is_elliptical(question) else None
        cache_key = self._cache_key(article_id, answer_lang, question, context)
        cached = await self._cached(cache_key)
        if cached is not None:
            await stats.incr(self._store, "followup_cache_hits")
            await self._ctx.add_turn(chat_id, article_id, Turn(question, cached.text))
            return cached

        article = await self._articles.get_article(article_id)
        if article is None:
            raise NoActiveArticle(f"article {article_id} is no longer cached")
        query = question_query(question, previous)
        if self._llm is None:
            return await self._offline(article, article_id, answer_lang, query)
        asked = _Question(question, answer_lang, history, query)
        result = await self._ask_llm(self._llm, article, article_id, asked, user_id, progress)
        if result.path == "llm":
            await self._store.redis.set(
                self._store.keys.answer(cache_key),
                result.model_dump_json(),
                ex=self._ctx.ttl_seconds,
            )
            await self._ctx.add_turn(chat_id, article_id, Turn(question, result.text))
            await stats.incr(self._store, "followups")
        return result

    async def _article_id(self, chat_id: int, reply_to_message_id: int | None) -> str:
        """The article bound to the replied-to message, else the chat's most recent one.
        Raises NoActiveArticle when there is none."""
        article_id = None
        if reply_to_message_id is not None:
            article_id = await self._ctx.article_for_reply(chat_id, reply_to_message_id)
        if article_id is None:
            article_id = await self._ctx.active_article(chat_id)
        if article_id is None:
            raise NoActiveArticle("no active article")
        return article_id

    async def _offline(
        self, article: Article, article_id: str, lang: Lang, query: dict[str, float]
    ) -> Answer:
        """No LLM configured: the article's best passages for the question."""
        passages = await asyncio.to_thread(self._top_passages, article, query)
        await stats.incr(self._store, "followups_offline")
        return Answer(
            text="\n\n".join(passages),
            verified=True,
            path="passages",
            article_id=article_id,
            lang=lang,
            passages=passages,
        )

    async def _ask_llm(
        self,
        llm: LLMClient,
        article: Article,
        article_id: str,
        asked: _Question,
        user_id: int | None,
        progress: Progress | None = None,
    ) -> Answer:
        """The model's answer, checked against the sentences it cites (path "llm"), or
        path "unavailable" with the apology and the best passages when the LLM fails.
        Every call, failed ones included, is charged (`Answer.tokens`, the stats)."""
        usage = Usage()
        query = asked.query
        try:
            if await asyncio.to_thread(self._needs_translated_query, article, asked.text):
                keywords = await self._translated_keywords(llm, article, asked.text, usage)
                for term in keywords:
                    query[term] = query.get(term, 0.0) + 1.0
            # a map-reduced article's notes: the prefix its digest's requests started with
            notes = await self._store.redis.get(self._store.keys.article_notes(article_id))
            # Cutting and indexing a long article is CPU work: keep it off the event loop.
            messages = await asyncio.to_thread(
                self.build_prompt,
                article,
                asked.text,
                asked.lang,
                asked.history,
                query,
                str(notes) if notes else None,
            )
            sentences = (await asyncio.to_thread(self._numbered, article)).sentences
            same_language = asked.lang == detect_language(article.text[:3000])
            live = None
            if progress is not None:  # shows finished sentences the check supports

                def supported(text: str, ids: list[int]) -> bool:
                    return judge(text, ids, sentences, same_language=same_language).ok

                live = LiveAnswer(progress, asked.lang, supported)
            reply = await call(llm, messages, usage, live)
            check = AnchoredAnswer(
                llm,
                sentences=sentences,
                same_language=same_language,
                lang=asked.lang,
                article_id=article_id,
                usage=usage,
            )
            result = await check.check(reply)
        except (LLMError, ValidationError) as exc:
            log.warning(
                "follow-up answer failed (user %s, article %s): %s", user_id, article_id, exc
            )
            await stats.incr(self._store, "followup_failures")
            await _charge(self._store, usage)
            return Answer(
                text=t(asked.lang, "followup.llm_down"),
                path="unavailable",
                article_id=article_id,
                lang=asked.lang,
                tokens=usage.tokens,  # what the failed work (and a keyword call) cost
                tokens_cached=usage.cached_tokens,
                passages=await asyncio.to_thread(self._top_passages, article, query),
            )
        await _charge(self._store, usage)
        return result.model_copy(
            update={"tokens": usage.tokens, "tokens_cached": usage.cached_tokens}
        )

    def build_prompt(
        self,
        article: Article,
        question: str,
        lang: Lang,
        history: list[Turn],
        query: dict[str, float] | None = None,
        notes: str | None = None,
    ) -> list[Message]:
        """Return the messages for one question (bot.followups.prompt); `notes`: the
        kept notes of a map-reduced article's digest."""
        max_in = self._settings.llm_max_input_tokens
        return build_prompt(
            article, question, lang, history, query, max_input_tokens=max_in, notes=notes
        )

    # --- helpers ------------------------------------------------------------------

    def _needs_translated_query(self, article: Article, question: str) -> bool:
        """True when retrieval must run (the article is not sent whole) and the question's
        language is not the article's, so its words cannot match the article's."""
        if fits_whole(article, max_input_tokens=self._settings.llm_max_input_tokens):
            return False
        return detect_language(question) != detect_language(article.text[:3000])

    async def _translated_keywords(
        self, llm: LLMClient, article: Article, question: str, usage: Usage
    ) -> list[str]:
        """Search words for `question` in the article's language (one small LLM call,
        added to `usage`). Returns normalized tokens. Raises LLMError / ValidationError.
        """
        article_lang = detect_language(article.text[:3000])
        user = (
            f"<question>\n{defuse_tags(question)}\n</question>\n\n"
            f"<article_language>{LANG_NAMES[article_lang]}</article_language>"
        )
        try:
            data, spent = await llm.complete_json(
                system=load_prompt(QUERY_PROMPT_NAME).text.strip(),
                user=user,
                schema_name="search_keywords",
                schema=KEYWORDS_SCHEMA,
                max_tokens=MAX_KEYWORD_TOKENS,
            )
        except LLMError as err:
            usage.add_failed(err)
            raise
        usage.add(spent)
        words = Keywords.model_validate(data).keywords[:MAX_KEYWORDS]
        return [term for word in words for term in word_tokens(word)]

    def _cache_key(
        self, article_id: str, lang: Lang, question: str, context: str | None = None
    ) -> str:
        model = self._settings.llm_model if self._llm is not None else "-"
        # the prefix's prompt too
        version = combined_version(prefix.SYSTEM_PROMPT, PROMPT_NAME, PASSAGES_PROMPT_NAME)
        parts = [article_id, lang, model, version, match_form(question)]
        if context:
            parts.append(match_form(context))
        raw = "|".join(parts)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    async def _cached(self, cache_key: str) -> Answer | None:
        raw = await self._store.redis.get(self._store.keys.answer(cache_key))
        if not raw:
            return None
        try:
            hit = Answer.model_validate_json(raw)
        except ValidationError:
            return None
        return hit.model_copy(update={"path": "cache", "tokens": 0, "tokens_cached": 0})

    def _top_passages(self, article: Article, query: dict[str, float]) -> list[str]:
        return passage_index(article.text, passage_size(self._share())).top(query, OFFLINE_PASSAGES)

    def _share(self) -> int:
        return int(self._settings.llm_max_input_tokens * ARTICLE_SHARE)

    def _numbered(self, article: Article) -> NumberedPassages:
        return numbered_passages(article.text, passage_size(self._share()))


async def _charge(store: Store, usage: Usage) -> None:
    """Count the calls and tokens in the daily stats (/stats)."""
    await stats.incr_llm(store, calls=usage.calls, tokens=usage.tokens, cached=usage.cached_tokens)


SELF_CONTAINED_WORDS = 3  # a question with fewer words leans on the one before


def _is_elliptical(question: str) -> bool:
    """True for a short follow-up whose meaning depends on the previous question."""
    return len(word_tokens(question)) < SELF_CONTAINED_WORDS


def _topic(history: list[Turn]) -> str | None:
    """The latest self-contained question of the history (what "and when?" refers to)."""
    for turn in reversed(history):
        if not _is_elliptical(turn.question):
            return turn.question
    return None
