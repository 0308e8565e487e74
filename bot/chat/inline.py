"""Inline mode: `@bot <link>` typed in any chat answers with the link's digest.

Transport-neutral: `inline_digest` returns an `InlineAnswer` that the Telegram layer
turns into answerInlineQuery (bot/telegram/inline.py). A digest already in the cache
comes back at once; an uncached link is summarized within INLINE_DEADLINE_SECONDS when
possible (the service's `request_digest`, under the asking user's limits). Otherwise
(or when the user is over their rate limit, or the link cannot be summarized) the
answer carries a "summarize in the bot" button: a deep link `/start i_<token>` whose
token stands for the link and its creator for a day, so the private chat produces the
digest (the summary started inline keeps running and fills the cache, so it is usually
waiting there). Someone else who opens that deep link is asked first, with a button:
the digest would count toward their own allowance. Everything is in the asking user's
language (their /language preference, else Telegram's language_code).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.chat.digests import summarize_command
from bot.chat.router import Conversation, plain_html
from bot.domain import Digest, Lang
from bot.errors import DigestBotError, RateLimited
from bot.i18n import t
from bot.ingest.inputs import find_url, url_for_log
from bot.messages import Button, Incoming, Outbox, Reply
from bot.render import render_digest_html, split_html
from bot.services import Services
from bot.summarize.requests import Requester

log = logging.getLogger(__name__)

START_PREFIX = "i_"
CONFIRM = "il"  # callback data "il:<token>": summarize someone else's deep link


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


def register(conv: Conversation) -> None:
    """Add the button that confirms someone else's deep link to `conv`."""
    conv.callback(CONFIRM, confirm_button)


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
    digests = services.digests
    request = digests.request_digest(
        Requester(user_id, language_code), ("url", url), lang=lang, length=prefs.length
    )
    try:
        done = await digests.within(services.settings.inline_deadline_seconds, request)
    except RateLimited:
        done = None
    except DigestBotError as err:  # the bot's chat will explain it in the user's language
        log.info("inline digest of %s failed: %s", url_for_log(url), err.key)
        done = None
    if done is None:  # over the limit, failed, or still running (it fills the cache)
        token = await digests.link_token(url, creator=user_id)
        return InlineAnswer([], button, START_PREFIX + token)
    return InlineAnswer([_result(done.digest, lang)], cache_seconds=60)


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
    """`/start i_<token>` (the inline button's deep link): send the link's digest; a
    link someone else made is offered with a button first (it would count toward the
    opener's allowance). False when the parameter is not one of ours or has expired."""
    if not msg.args.startswith(START_PREFIX):
        return False
    token = msg.args[len(START_PREFIX) :].strip()
    found = await conv.services.digests.open_link(token)
    if found is None:
        return False
    url, creator = found
    with contextlib.suppress(Exception):
        await conv.services.users.touch(msg.user_id, msg.chat_id)
    if creator is not None and creator != msg.user_id:
        lang = await conv.lang(msg)
        text = t(lang, "inline.confirm_link", host=urlsplit(url).hostname or "")
        button = Button(t(lang, "inline.confirm_button"), callback=f"{CONFIRM}:{token}")
        await out.send(Reply(html=plain_html(lang, text), buttons=[[button]]))
        return True
    await summarize_command(conv, dataclasses.replace(msg, command="summarize", args=url), out)
    return True


async def confirm_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """ "Summarize it" under someone else's deep link: the digest, on the tapper's own
    allowance (private chats only: that is where the deep link opens)."""
    token = (msg.callback or "").partition(":")[2]
    found = await conv.services.digests.open_link(token) if token else None
    if found is None or msg.chat_type != "private":
        await conv.say(msg, out, "chat.expired")
        return
    await summarize_command(conv, dataclasses.replace(msg, command="summarize", args=found[0]), out)
