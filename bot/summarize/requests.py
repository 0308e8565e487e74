"""One metered digest request: a user asks for the digest of a link, a text, a document
or an article in hand. Used by every way in (chat messages, buttons, documents, inline
mode, a briefing story's button); knows nothing of chats or Telegram.

`DigestRequests.request_digest(user, source, lang=..., length=..., progress=...)` reads
top to bottom:

1. **Admit.** The user's preferences and a reserved rate unit, in one Redis round trip
   (bot/limits.py); over the rate or with no budget left today it raises RateLimited /
   BudgetExceeded and nothing is counted.
2. **Load** the article (a link is fetched or read from the article cache, a text
   cleaned, a document read by the caller's loader).
3. **Make** the digest (`DigestMaker.make`: cached? → hold the worst case → translate a
   cached digest → direct → pivot → offline fallback), holding today's budget before
   any LLM work.
4. **Settle** in one pipeline with the request's other writes: the rate unit (cache hits
   count lightly), the true cost against what was held, the day's stats, the article
   kept by id for follow-ups, the record the digest's buttons point to.

A request that fails gives back what it held; it keeps its rate unit once it did work
(fetched, read, or called a model), and only a request refused before any work (a link
that is not a URL, no budget left for a cached article) gets the unit back.

Also here: the buttons' records (`buttons`), the messages sent for a digest bound to its
article (`bind_sent`), and the inline mode's deep links (`link_token` / `open_link`)
with its digests that outlive the inline deadline (`within`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from bot import stats
from bot.config import Settings
from bot.domain import Article, Digest, Lang, Length, Progress, SourceKind, Stage
from bot.errors import BudgetExceeded
from bot.followups import ChatContext
from bot.limits import Hold, Limits, Ticket
from bot.store.redis import Store
from bot.summarize.maker import Made, digest_counts
from bot.summarize.service import SummarizeService
from bot.users import Prefs, Users

log = logging.getLogger(__name__)

MAX_QUESTION_BUTTONS = 3
LINK_TTL = 24 * 3600

# What to summarize: an article in hand, a link or text still to load, or a loader
# (a document: downloading and reading it is the request's work).
Loader = Callable[[], Awaitable[Article]]
Source = Article | tuple[SourceKind, str] | Loader
# The progress callback, given the language the user reads (known once admitted).
ProgressFor = Callable[[Lang], Progress]


@dataclass(frozen=True)
class Requester:
    """Who asks: `user_id` (their limits and preferences), their Telegram language (used
    when they chose none), `home_chat` (their private chat, recorded as theirs) and
    `shared_chat` (a group or channel whose own /language choice wins)."""

    user_id: int
    language_code: str | None = None
    home_chat: int | None = None
    shared_chat: int | None = None


@dataclass(frozen=True)
class Requested:
    """A served request: the digest, what it cost, the id of its buttons' record and
    the requester's effective preferences."""

    digest: Digest
    cost: int
    ref: str
    prefs: Prefs


class _Work:
    """Whether a request did work (a stage was reported), passing stages on."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = False

    async def __call__(self, stage: Stage) -> None:
        self.done = True
        if self.progress is not None:
            await self.progress(stage)


class DigestRequests:
    """The metered digest request (see the module doc); one per process."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        summarizer: SummarizeService,
        limits: Limits,
        users: Users,
        context: ChatContext,
    ) -> None:
        self.settings = settings
        self.store = store
        self.summarizer = summarizer
        self.limits = limits
        self.users = users
        self.context = context
        self._background: set[asyncio.Task[Any]] = set()  # digests past the inline deadline

    async def request_digest(
        self,
        user: Requester,
        source: Source,
        *,
        lang: Lang | None = None,
        length: Length | None = None,
        progress: ProgressFor | None = None,
    ) -> Requested:
        """The digest of `source` for `user` (in `lang` and `length`, defaulting to their
        preferences) under their limits (see the module doc).

        Raises RateLimited / BudgetExceeded, and what loading raises (BadInput,
        FetchError, NotAnArticle ...): summarizing itself always yields a digest."""
        prefs, ticket = await self._admit(user)
        shown = progress(prefs.lang) if progress is not None else None
        work = _Work(shown)
        hold = Hold(self.limits, ticket)
        try:
            article = await self._load(source, work)
            try:
                made = await self.summarizer.make(
                    article,
                    lang=lang or prefs.lang,
                    length=length or prefs.length,
                    progress=shown,
                    hold=hold,
                )
            except BudgetExceeded:
                raise  # refused before any model call
            except BaseException:
                work.done = True  # the model may have been called
                raise
            return await self._settle(ticket, hold, article, made, prefs)
        except BaseException:
            await self.limits.cancel(ticket, held=hold.held, keep_unit=work.done)
            raise

    async def _admit(self, user: Requester) -> tuple[Prefs, Ticket]:
        """The user's preferences and a reserved rate unit, in one round trip (recording
        `home_chat` as theirs). Raises RateLimited / BudgetExceeded."""
        users = self.users
        async with self.store.redis.pipeline(transaction=False) as pipe:
            index = users.queue_prefs(pipe, user.user_id, touch_chat=user.home_chat)
            shared = None
            if user.shared_chat is not None:
                shared = users.queue_prefs(pipe, user.shared_chat)
            check = self.limits.queue_reserve(pipe, user.user_id)
            results = await pipe.execute()
        prefs = users.prefs_from(results[index], user.language_code)
        if shared is not None and (chat := users.prefs_from(results[shared])).lang_set:
            prefs = dataclasses.replace(prefs, lang=chat.lang)
        return prefs, await check(results)

    async def _load(self, source: Source, work: _Work) -> Article:
        if isinstance(source, Article):
            return source
        if isinstance(source, tuple):
            kind, value = source
            return await self.summarizer.load_article(
                value, kind=kind, progress=work, remember=False
            )
        work.done = True  # a document: downloading and reading it is work
        return await source()

    async def _settle(
        self,
        ticket: Ticket,
        hold: Hold,
        article: Article,
        made: Made,
        prefs: Prefs,
    ) -> Requested:
        """One pipeline of the request's writes before the reply: the rate unit and the
        true cost, the stats, the article kept by id, the buttons' record."""
        digest = made.digest
        async with self.store.redis.pipeline(transaction=False) as writes:
            self.limits.queue_settle(
                writes,
                ticket,
                cached=made.shared,
                tokens=self.limits.charge(made.cost.tokens, made.cost.tokens_cached),
                held=hold.held,
            )
            stats.queue_many(self.store, writes, digest_counts(made))
            key, data, ttl = self.summarizer.kept_record(article)
            writes.expire(key, ttl)
            writes.set(key, data, ex=ttl, nx=True)
            ref = secrets.token_urlsafe(6)
            record = {
                "a": digest.article_id,
                "l": digest.lang,
                "n": digest.length,
                "q": digest.questions[:MAX_QUESTION_BUTTONS],
                "u": digest.url,
            }
            writes.set(self.store.keys.digest_ref(ref), json.dumps(record), ex=ttl)
            await writes.execute()
        return Requested(digest, made.cost.tokens, ref, prefs)

    # --- after the reply ----------------------------------------------------------------

    async def buttons(self, ref: str) -> dict[str, Any] | None:
        """The record a digest's buttons point to (article id `a`, language `l`, length
        `n`, questions `q`, link `u`), or None once it expired."""
        raw = await self.store.redis.get(self.store.keys.digest_ref(ref))
        return cast(dict[str, Any], json.loads(raw)) if raw else None

    async def bind_sent(self, chat_id: int, message_ids: list[int], article_id: str) -> None:
        """Bind the messages sent for a digest to its article (a reply to one asks about
        it) and make it the chat's active article, in one round trip."""
        async with self.store.redis.pipeline(transaction=False) as binds:
            for mid in message_ids:
                self.context.queue_bind(binds, chat_id, mid, article_id)
            self.context.queue_active(binds, chat_id, article_id)
            await binds.execute()

    async def keep(self, article: Article) -> None:
        """Keep `article` by id for follow-up questions (an article in hand)."""
        key, data, ttl = self.summarizer.kept_record(article)
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.expire(key, ttl)
            pipe.set(key, data, ex=ttl, nx=True)
            await pipe.execute()

    # --- inline mode --------------------------------------------------------------------

    async def within(
        self, seconds: float, work: Coroutine[Any, Any, Requested]
    ) -> Requested | None:
        """Run `work`; None when it is not done within `seconds` (it keeps running and
        fills the cache). Raises what `work` raised when it ended in time."""
        task = asyncio.create_task(work)
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done:
            return task.result()
        self._background.add(task)
        task.add_done_callback(self._finished)
        return None

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("background inline digest failed: %s", task.exception())

    async def link_token(self, url: str, creator: int) -> str:
        """A token (A-Z a-z 0-9 _ -, 16 characters) standing for `url` for a day, made
        for `creator` (an inline query's "summarize in the bot" deep link)."""
        token = secrets.token_urlsafe(12)
        record = json.dumps({"url": url, "by": creator})
        await self.store.redis.set(self.store.keys.inline_start(token), record, ex=LINK_TTL)
        return token

    async def open_link(self, token: str) -> tuple[str, int | None] | None:
        """The link a token stands for and who made it (None: unknown or expired)."""
        raw = cast(str | None, await self.store.redis.get(self.store.keys.inline_start(token)))
        if not raw:
            return None
        if not raw.startswith("{"):  # a token made before the creator was kept
            return raw, None
        data = json.loads(raw)
        return str(data["url"]), int(data["by"])
