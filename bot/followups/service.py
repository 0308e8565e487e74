"""Follow-up questions: answers about the chat's article, grounded in the article itself.

Transport-neutral: the Telegram router and the console decide which message is a
question and call `FollowupService.answer`; this module picks the article, retrieves
the relevant parts, asks the LLM (prompt `prompts/answer.md`), checks the quote, and
caches the result. Nothing here imports `telegram`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from bot import stats
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain import Article, Lang
from bot.errors import BadInput, LLMError, NoActiveArticle
from bot.followups.context import ChatContext, Turn
from bot.followups.retrieval import PassageIndex, match_form, question_query, quote_in_article
from bot.i18n import t
from bot.ingest.arabic import detect_language
from bot.ingest.arabic import tokens as word_tokens
from bot.llm.client import LLMClient
from bot.llm.prompts import load_prompt
from bot.llm.tokens import count_tokens
from bot.store.redis import Store

log = logging.getLogger(__name__)

PROMPT_NAME = "answer"
ARTICLE_SHARE = 0.6  # at most this share of LLM_MAX_INPUT_TOKENS goes to article text
FRAMING_TOKENS = 40  # chat-format overhead per request (roles, separators), rounded up
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_TOKENS = 400
OFFLINE_PASSAGES = 3
GAP = "[…]"

QUERY_PROMPT_NAME = "answer_query"
MAX_KEYWORDS = 12
MAX_KEYWORD_TOKENS = 150

AnswerPath = Literal["llm", "cache", "passages", "unavailable"]

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "quote": {"type": "string"},
        "found": {"type": "boolean"},
    },
    "required": ["answer", "quote", "found"],
    "additionalProperties": False,
}

KEYWORDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"keywords": {"type": "array", "items": {"type": "string"}}},
    "required": ["keywords"],
    "additionalProperties": False,
}

_LANG_NAMES: dict[str, str] = {"ar": "Arabic", "en": "English"}
_TAGS = re.compile(r"<(/?\s*(?:article|history|question|answer_language)\b)", re.I)


class ArticleSource(Protocol):
    """Where articles come from (SummarizeService satisfies it)."""

    async def get_article(self, article_id: str) -> Article | None: ...


class Answer(BaseModel):
    """An answer to a follow-up question.

    `path`: "llm" (fresh model answer), "cache" (the same normalized question was
    answered before about the same article in the same language, in any chat; a short
    follow-up such as "and when?" only after the same question), "passages" (no LLM configured: `passages` holds the top article
    passages and `text` their concatenation), "unavailable" (the LLM failed: `text` is
    the localized apology and `passages` the top passages as a fallback).
    `quote` is the article sentence the answer relies on, only when it was found in the
    article (`verified`); `not_in_article` means the article does not say, and `text`
    is then exactly the catalog sentence. `tokens` is what the LLM call cost (0 unless
    path == "llm"), for the per-user budget.
    """

    text: str
    quote: str | None = None
    verified: bool = False
    not_in_article: bool = False
    path: AnswerPath
    article_id: str
    lang: Lang
    tokens: int = 0
    passages: list[str] = Field(default_factory=list)


class _Keywords(BaseModel):
    keywords: list[str] = Field(default_factory=list)


class _ModelAnswer(BaseModel):
    answer: str = ""
    quote: str = ""
    found: bool = True


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
    ) -> Answer:
        """Answer `question` from the article the chat is talking about.

        The article is the one bound to `reply_to_message_id` when that message is
        known, else the chat's most recent one. `lang` None means the question's
        language. Returns an Answer (see its docstring for the paths); the LLM being
        down is NOT an exception: it returns path="unavailable" with the localized
        apology in `text`, so callers render every Answer the same way.

        A question in another language than a long (over-budget) article costs one
        small extra LLM call that turns it into search words in the article's language
        (`prompts/answer_query.md`); `Answer.tokens` includes it. `user_id` only
        labels log lines; the caller applies the user's limits.

        Raises NoActiveArticle when there is no article (none yet, expired, or its
        text is no longer cached), BadInput for an empty question.
        """
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if not question:
            raise BadInput("empty question")
        article_id = None
        if reply_to_message_id is not None:
            article_id = await self._ctx.article_for_reply(chat_id, reply_to_message_id)
        if article_id is None:
            article_id = await self._ctx.active_article(chat_id)
        if article_id is None:
            raise NoActiveArticle("no active article")
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
            passages = await asyncio.to_thread(self._top_passages, article, query)
            await stats.incr(self._store, "followups_offline")
            return Answer(
                text="\n\n".join(passages),
                verified=True,
                path="passages",
                article_id=article_id,
                lang=answer_lang,
                passages=passages,
            )

        spent = 0
        try:
            if await asyncio.to_thread(self._needs_translated_query, article, question):
                keywords, spent = await self._translated_keywords(self._llm, article, question)
                for term in keywords:
                    query[term] = query.get(term, 0.0) + 1.0
            # Cutting and indexing a long article is CPU work: keep it off the event loop.
            system, user = await asyncio.to_thread(
                self.build_prompt, article, question, answer_lang, history, query
            )
            data, usage = await self._llm.complete_json(
                system=system,
                user=user,
                schema_name="answer",
                schema=ANSWER_SCHEMA,
                max_tokens=MAX_ANSWER_TOKENS,
            )
            reply = _ModelAnswer.model_validate(data)
        except (LLMError, ValidationError) as exc:
            log.warning(
                "follow-up answer failed (user %s, article %s): %s", user_id, article_id, exc
            )
            await stats.incr(self._store, "followup_failures")
            return Answer(
                text=t(answer_lang, "followup.llm_down"),
                path="unavailable",
                article_id=article_id,
                lang=answer_lang,
                tokens=spent,  # a keyword call that worked before the failure still cost
                passages=await asyncio.to_thread(self._top_passages, article, query),
            )

        tokens = spent + usage.prompt_tokens + usage.completion_tokens
        await stats.incr(self._store, "llm_tokens", tokens)
        result = self._grounded(reply, article, article_id, answer_lang, tokens)
        await self._store.redis.set(
            self._store.keys.answer(cache_key),
            result.model_dump_json(),
            ex=self._ctx.ttl_seconds,
        )
        await self._ctx.add_turn(chat_id, article_id, Turn(question, result.text))
        await stats.incr(self._store, "followups")
        return result

    def build_prompt(
        self,
        article: Article,
        question: str,
        lang: Lang,
        history: list[Turn],
        query: dict[str, float] | None = None,
    ) -> tuple[str, str]:
        """Return (system, user) messages for one question, within LLM_MAX_INPUT_TOKENS.

        The system message is `prompts/answer.md` alone; the article parts, the history
        and the question go into the user message as delimited data. When the article
        is over the answer budget, only the passages BM25 ranks best for the question
        are kept (in article order, gaps marked "[…]"). Old turns are dropped first if
        the history alone crowds out the article.
        """
        max_in = self._settings.llm_max_input_tokens
        system = load_prompt(PROMPT_NAME).text.strip()
        turns = list(history)
        while True:
            fixed = (
                count_tokens(system)
                + count_tokens(_user_message(lang, "", turns, question))
                + FRAMING_TOKENS
            )
            if not turns or fixed <= max_in * (1 - ARTICLE_SHARE):
                break
            turns.pop(0)
        budget = max(0, min(int(max_in * ARTICLE_SHARE), max_in - fixed))
        index = passage_index(article.text, _passage_size(int(max_in * ARTICLE_SHARE)))
        if index.total_tokens <= budget:
            body = article.text.strip()
        else:
            chosen = index.select(query or question_query(question), budget)
            body = _join_with_gaps(index.passages, chosen)
        return system, _user_message(lang, body, turns, question)

    # --- helpers ------------------------------------------------------------------

    def _needs_translated_query(self, article: Article, question: str) -> bool:
        """True when retrieval must run (article over budget) and the question's language
        is not the article's, so its words cannot match the article's."""
        share = int(self._settings.llm_max_input_tokens * ARTICLE_SHARE)
        index = passage_index(article.text, _passage_size(share))
        if index.total_tokens <= share:
            return False
        return detect_language(question) != detect_language(article.text[:3000])

    async def _translated_keywords(
        self, llm: LLMClient, article: Article, question: str
    ) -> tuple[list[str], int]:
        """Search words for `question` in the article's language (one small LLM call).

        Returns (normalized tokens, tokens spent). Raises LLMError / ValidationError.
        """
        article_lang = detect_language(article.text[:3000])
        user = (
            f"<question>\n{_data(question)}\n</question>\n\n"
            f"<article_language>{_LANG_NAMES[article_lang]}</article_language>"
        )
        data, usage = await llm.complete_json(
            system=load_prompt(QUERY_PROMPT_NAME).text.strip(),
            user=user,
            schema_name="search_keywords",
            schema=KEYWORDS_SCHEMA,
            max_tokens=MAX_KEYWORD_TOKENS,
        )
        words = _Keywords.model_validate(data).keywords[:MAX_KEYWORDS]
        terms = [term for word in words for term in word_tokens(word)]
        return terms, usage.prompt_tokens + usage.completion_tokens

    def _cache_key(
        self, article_id: str, lang: Lang, question: str, context: str | None = None
    ) -> str:
        model = self._settings.llm_model if self._llm is not None else "-"
        version = load_prompt(PROMPT_NAME).version
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
        return hit.model_copy(update={"path": "cache", "tokens": 0})

    def _top_passages(self, article: Article, query: dict[str, float]) -> list[str]:
        budget = int(self._settings.llm_max_input_tokens * ARTICLE_SHARE)
        return passage_index(article.text, _passage_size(budget)).top(query, OFFLINE_PASSAGES)

    def _grounded(
        self, reply: _ModelAnswer, article: Article, article_id: str, lang: Lang, tokens: int
    ) -> Answer:
        text = reply.answer.strip()
        if not reply.found or not text:
            return Answer(
                text=t(lang, "followup.not_in_article"),
                verified=True,
                not_in_article=True,
                path="llm",
                article_id=article_id,
                lang=lang,
                tokens=tokens,
            )
        quote = reply.quote.strip()
        verified = bool(quote) and quote_in_article(quote, article.text)
        if quote and not verified:
            log.info("follow-up quote not found in article %s; dropped", article_id)
        return Answer(
            text=text,
            quote=quote if verified else None,
            verified=verified,
            path="llm",
            article_id=article_id,
            lang=lang,
            tokens=tokens,
        )


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


@functools.lru_cache(maxsize=16)
def passage_index(text: str, max_tokens: int) -> PassageIndex:
    """The PassageIndex of an article text, kept for the 16 most recent articles.

    Cutting and tokenizing a 60,000-character article takes ~0.3 s; follow-up
    questions come in bursts about the same article, so it is done once.
    """
    return PassageIndex(text, max_tokens, count_tokens)


def _passage_size(budget: int) -> int:
    """Largest passage (tokens): a quarter of the budget, between 50 and 350."""
    return max(50, min(350, budget // 4))


def _join_with_gaps(passages: list[str], chosen: list[int]) -> str:
    parts: list[str] = []
    last = -1
    for i in chosen:
        if i != last + 1:  # also true for a first passage that is not the article's first
            parts.append(GAP)
        parts.append(passages[i])
        last = i
    if parts and last != len(passages) - 1:
        parts.append(GAP)
    return "\n\n".join(parts)


def _data(text: str) -> str:
    """Neutralize our own delimiter tags inside data so data cannot close a block."""
    return _TAGS.sub(r"‹\1", text)


def _user_message(lang: Lang, body: str, history: list[Turn], question: str) -> str:
    lines = [f"<answer_language>{_LANG_NAMES[lang]}</answer_language>", "", "<article>"]
    lines += [_data(body), "</article>", "", "<history>"]
    for turn in history:
        lines += [f"Q: {_data(turn.question)}", f"A: {_data(turn.answer)}", ""]
    lines += ["</history>", "", "<question>", _data(question), "</question>"]
    return "\n".join(lines)
