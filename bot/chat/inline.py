"""Inline mode: `@bot <link>` typed in any chat answers with the link's digest.

Transport-neutral: `inline_digest` returns an `InlineAnswer` that the Telegram layer
turns into answerInlineQuery (bot/telegram/inline.py). A digest already in the cache
comes back at once; an uncached link is summarized within INLINE_DEADLINE_SECONDS when
possible. Otherwise (or when the user is over their rate limit, or the link cannot be
summarized) the answer carries a "summarize in the bot" button: a deep link
`/start i_<token>` whose token stands for the link in Redis for a day, so the private
chat produces the digest (the summary started inline keeps running and fills the
cache, so it is usually waiting there). Everything is in the asking user's language
(their /language preference, else Telegram's language_code) and under their limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from dataclasses import dataclass
from typing import cast

from bot.chat.digests import summarize_command
from bot.chat.router import Conversation
from bot.domain import Digest, Lang, Length
from bot.errors import DigestBotError, RateLimited
from bot.i18n import t
from bot.ingest.inputs import find_url, url_for_log
from bot.limits import Hold, Ticket
from bot.messages import Incoming, Outbox
from bot.render import render_digest_html, split_html
from bot.services import Services

log = logging.getLogger(__name__)

START_PREFIX = "i_"
START_TTL = 24 * 3600
_background: set[asyncio.Task[Digest]] = set()  # summaries that outlived the deadline


@dataclass(frozen=True)
class InlineResult:
    """One article result: shown as `title`/`description`, sends `html` when chosen."""

    id: str
    title: str
    description: str
    html: str
    url: str | None
    source_label: str


@dataclass(frozen=True)
class InlineAnswer:
    results: list[InlineResult]
    button_text: str | None = None
    start_parameter: str | None = None
    cache_seconds: int = 0


async def inline_digest(
    services: Services, user_id: int, language_code: str | None, query: str
) -> InlineAnswer:
    """The answer to an inline query `query` from `user_id`."""
    prefs = await services.users.prefs(user_id, language_code)
    lang = prefs.lang
    url = find_url(query.strip())
    if not url:
        return InlineAnswer([], t(lang, "inline.not_a_link"), "help")
    button = t(lang, "inline.open_bot")
    try:
        ticket = await services.limits.reserve(user_id)
    except RateLimited:
        return InlineAnswer([], button, await _remember(services, url))
    work = asyncio.create_task(_summarize(services, ticket, url, lang, prefs.length))
    done, _ = await asyncio.wait({work}, timeout=services.settings.inline_deadline_seconds)
    if not done:  # keeps running in the background and fills the cache
        _background.add(work)
        work.add_done_callback(_finished)
        return InlineAnswer([], button, await _remember(services, url))
    try:
        digest = work.result()
    except DigestBotError as err:  # the bot's chat will explain it in the user's language
        log.info("inline digest of %s failed: %s", url_for_log(url), err.key)
        return InlineAnswer([], button, await _remember(services, url))
    return InlineAnswer([_result(digest, lang)], cache_seconds=60)


async def _summarize(
    services: Services, ticket: Ticket, url: str, lang: Lang, length: Length
) -> Digest:
    hold = Hold(services.limits, ticket)  # today's budget, as for a digest in the chat
    try:
        digest = await services.summarizer.digest(
            url, kind="url", lang=lang, length=length, reserve=hold
        )
    except BaseException:
        await services.limits.cancel(ticket, held=hold.held)
        raise
    tokens = 0 if digest.cached else digest.tokens_in + digest.tokens_out
    await services.limits.settle(ticket, cached=digest.cached, tokens=tokens, held=hold.held)
    return digest


def _finished(task: asyncio.Task[Digest]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.info("background inline digest failed: %s", task.exception())


async def _remember(services: Services, url: str) -> str:
    """A /start parameter standing for `url` (A-Z a-z 0-9 _ -, at most 64 characters)."""
    token = secrets.token_urlsafe(12)
    await services.store.redis.set(services.store.keys.inline_start(token), url, ex=START_TTL)
    return START_PREFIX + token


def _result(digest: Digest, lang: Lang) -> InlineResult:
    html = split_html(render_digest_html(digest, lang))[0]
    first = next((b for b in digest.bullets if b.strip()), "")
    site = digest.site_name or digest.title or ""
    return InlineResult(
        id=digest.article_id[:32] + digest.lang + digest.length[:1],
        title=digest.headline[:200],
        description=(first or t(lang, "inline.description", site=site))[:200],
        html=html,
        url=digest.url,
        source_label=t(lang, "inline.source_button"),
    )


async def open_from_start(conv: Conversation, msg: Incoming, out: Outbox) -> bool:
    """`/start i_<token>` (the inline button's deep link): send the link's digest.
    False when the parameter is not one of ours or has expired."""
    if not msg.args.startswith(START_PREFIX):
        return False
    key = conv.services.store.keys.inline_start(msg.args[len(START_PREFIX) :].strip())
    url = cast(str | None, await conv.services.store.redis.get(key))
    if not url:
        return False
    with contextlib.suppress(Exception):
        await conv.services.users.touch(msg.user_id, msg.chat_id)
    await summarize_command(conv, dataclasses.replace(msg, command="summarize", args=url), out)
    return True
