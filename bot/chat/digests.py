"""Summarizing in a chat: what counts as an article, the digest message and its buttons.

`/summarize [ar|en] <link or text>`, `/summarize` as a reply, and in private chats a
plain link, a pasted article (ARTICLE_MIN_CHARS or more) or a forwarded post all end
in `deliver_digest`: once real work starts (a cache hit has no stages), the typing
action and one progress placeholder; then the digest (edited into the placeholder) with its keyboard, then the message is bound to the article for
follow-up questions. Buttons carry `d:<ref>:<action>`, where `ref` is a short id of a
Redis record (the article id, language, length and questions), so callback data stays
far below Telegram's 64 bytes.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, cast

from bot.chat.router import Conversation
from bot.chat.types import Button, Incoming, Outbox, Reply
from bot.domain import Article, Digest, Lang, Length, Stage
from bot.errors import DigestBotError
from bot.followups.context import ChatContext
from bot.i18n import t
from bot.ingest.inputs import find_url, validate_url
from bot.render import render_digest_html
from bot.users import Prefs

ARTICLE_MIN_CHARS = 300  # a pasted text this long is taken as an article without a command
MAX_QUESTION_BUTTONS = 3
QUESTION_BUTTON_CHARS = 60


@dataclass(frozen=True)
class _Turn:
    """What deliver_digest has in hand for the request it runs: the user's preferences
    (read once) and the Redis pipeline that carries the request's writes in one round
    trip before the digest is sent."""

    user_id: int
    prefs: Prefs
    writes: Any


# a word that is meant as a link, though not an http(s) one: "ftp://x", "http://", "javascript:..."
_URL_LIKE = re.compile(r"^([a-z][a-z0-9+.\-]*://|(javascript|data|file|vbscript):)", re.I)
_TURN: ContextVar[_Turn | None] = ContextVar("digest_turn", default=None)
Progress = Callable[[Stage], Awaitable[None]]
Produce = Callable[[Progress], Awaitable[Digest]]


def pick_source(text: str, *, explicit: bool) -> tuple[Literal["url", "text"], str] | None:
    """Return what to summarize in `text`: ("text", text) for an article-length text,
    else ("url", link) for a text holding a link; else ("text", text) when the user
    asked explicitly (the service then says it is too short), or None.

    Raises BadInput (naming the scheme, or the missing host) for a link that is not a
    fetchable http(s) URL (ftp://x, a bare http://, javascript:...): the argument of
    an explicit request, or a message that is only that link."""
    text = text.strip()
    if not text:
        return None
    if len(text) >= ARTICLE_MIN_CHARS:
        return "text", text
    url = find_url(text)
    if url:
        return "url", url
    words = text.split()
    candidates = words if explicit or len(words) == 1 else []
    for word in candidates:
        if _URL_LIKE.match(word):
            return "url", validate_url(word)  # raises BadInput saying what is wrong
    return ("text", text) if explicit else None


def stage_text(lang: str, stage: Stage) -> str:
    """The placeholder text for a pipeline stage, in `lang`."""
    if stage.name == "summarizing" and stage.total > 1:
        return t(lang, "progress.summarizing_part", part=stage.part, total=stage.total)
    if stage.name in ("fetching", "extracting", "summarizing", "combining"):
        return t(lang, f"progress.{stage.name}")
    return t(lang, "progress.working")


# --- entry points -------------------------------------------------------------------


@Conversation.command("summarize", description="commands.summarize")
async def summarize_command(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    args = msg.args.strip()
    lang: Lang | None = None
    words = args.split(maxsplit=1)
    if words and words[0].lower() in ("ar", "en"):  # per-request language: /summarize en <link>
        lang = cast(Lang, words[0].lower())
        args = words[1].strip() if len(words) > 1 else ""
    source = pick_source(args, explicit=True) if args else None
    if source is None and msg.reply_to_text:
        source = pick_source(msg.reply_to_text, explicit=True)
    if source is None:
        await conv.say(msg, out, "chat.summarize_usage")
        return
    await summarize_source(conv, msg, out, source, lang=lang)


async def on_text(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Plain text in a private chat (or a mention/reply in a group): an article, a link,
    a forwarded post, or else a follow-up question."""
    text = msg.text
    if msg.mentioned:
        text = " ".join(w for w in text.split() if not w.startswith("@"))
    source = pick_source(text, explicit=msg.forwarded)
    if source is not None and not (msg.reply_to_bot and source[0] == "text" and not msg.forwarded):
        await summarize_source(conv, msg, out, source)
        return
    from bot.chat.followups import ask

    await ask(conv, msg, out, text)


# --- the flow --------------------------------------------------------------------------


async def summarize_source(
    conv: Conversation,
    msg: Incoming,
    out: Outbox,
    source: tuple[Literal["url", "text"], str],
    *,
    lang: Lang | None = None,
    length: Length | None = None,
) -> None:
    """Summarize a link or a text for `msg`'s user and deliver the digest."""
    kind, value = source
    svc = conv.services.summarizer

    async def produce(progress: Progress) -> Digest:
        turn = _turn(msg)
        writes = turn.writes if turn is not None else None
        article = await svc.load_article(value, kind=kind, progress=progress, defer=writes)
        return await _summarize(conv, msg, article, progress, lang=lang, length=length)

    await deliver_digest(conv, msg, out, produce)


async def digest_article(
    conv: Conversation,
    msg: Incoming,
    out: Outbox,
    article: Article,
    *,
    lang: Lang | None = None,
    length: Length | None = None,
) -> None:
    """Summarize an already loaded `article` for `msg`'s user and deliver the digest
    (the public entry for other features, e.g. a briefing's "full digest" button)."""

    async def produce(progress: Progress) -> Digest:
        return await _summarize(conv, msg, article, progress, lang=lang, length=length)

    await deliver_digest(conv, msg, out, produce)


async def _summarize(
    conv: Conversation,
    msg: Incoming,
    article: Article,
    progress: Progress,
    *,
    lang: Lang | None,
    length: Length | None,
) -> Digest:
    """Summarize `article` in `lang`/`length`, defaulting to the user's preferences."""
    turn = _turn(msg)  # set by deliver_digest for this very request
    prefs = turn.prefs if turn else await conv.services.users.prefs(msg.user_id, msg.language_code)
    digest: Digest = await conv.services.summarizer.summarize(
        article,
        lang=lang or prefs.lang,
        length=length or prefs.length,
        progress=progress,
        defer=turn.writes if turn else None,
    )
    return digest


def _turn(msg: Incoming) -> _Turn | None:
    turn = _TURN.get(None)
    return turn if turn is not None and turn.user_id == msg.user_id else None


async def deliver_digest(conv: Conversation, msg: Incoming, out: Outbox, produce: Produce) -> None:
    """Run `produce` under the user's limits with progress, then send the digest.

    A cached digest costs four Redis round trips: preferences with the rate check, the
    cached article, the cached digest, and one pipeline of this request's writes
    (refund, counters, the by-id article, the buttons' record) before the reply; then
    one for the follow-up bindings of the sent messages.

    Raises the typed errors of the pipeline (the router translates them) and
    RateLimited / BudgetExceeded from the limits.
    """
    services = conv.services
    redis = services.store.redis
    touch = msg.chat_id if msg.chat_type == "private" else None
    async with redis.pipeline(transaction=False) as pipe:
        index = services.users.queue_prefs(pipe, msg.user_id, touch_chat=touch)
        check = services.limits.queue_reserve(pipe, msg.user_id)
        results = await pipe.execute()
    prefs = services.users.prefs_from(results[index], msg.language_code)
    ticket = await check(results)
    ui = prefs.lang
    shown: list[str] = []

    async def progress(stage: Stage) -> None:
        # the first stage means real work (a cache hit has none): typing, then the placeholder
        if not shown:
            await out.typing()
        text = stage_text(ui, stage)
        if not shown or shown[-1] != text:
            shown.append(text)
            await out.progress(text)

    async with redis.pipeline(transaction=False) as writes:
        token = _TURN.set(_Turn(msg.user_id, prefs, writes))
        try:
            digest = await produce(progress)
        except DigestBotError:
            # nothing was summarized (bad input, blocked address, HTTP error, not an
            # article, wrong content type...): the reserved rate unit goes back
            await services.limits.cancel(ticket)
            raise
        finally:
            _TURN.reset(token)
        tokens = 0 if digest.cached else digest.tokens_in + digest.tokens_out
        services.limits.queue_settle(writes, ticket, cached=digest.cached, tokens=tokens)
        ref = queue_ref(conv, writes, digest)
        await writes.execute()
    reply = Reply(
        html=render_digest_html(digest, ui),
        buttons=digest_buttons(conv, digest, ref, ui),
        edit_placeholder=True,
        article_id=digest.article_id,
        kind="digest",
    )
    ids = await out.send(reply)
    if services.followups is not None and ids:
        context = ChatContext(services.store, services.settings.context_ttl_days * 86400)
        async with redis.pipeline(transaction=False) as binds:
            for mid in ids:
                context.queue_bind(binds, msg.chat_id, mid, digest.article_id)
            context.queue_active(binds, msg.chat_id, digest.article_id)
            await binds.execute()


# --- buttons -------------------------------------------------------------------------


async def save_ref(conv: Conversation, digest: Digest) -> str:
    """Store what the digest's buttons need under a short random id; return the id."""
    async with conv.services.store.redis.pipeline(transaction=False) as pipe:
        ref = queue_ref(conv, pipe, digest)
        await pipe.execute()
    return ref


def queue_ref(conv: Conversation, pipe: Any, digest: Digest) -> str:
    """`save_ref` as a write queued on a caller's Redis pipeline; return the id."""
    ref = secrets.token_urlsafe(6)
    record = {
        "a": digest.article_id,
        "l": digest.lang,
        "n": digest.length,
        "q": digest.questions[:MAX_QUESTION_BUTTONS],
        "u": digest.url,
    }
    store = conv.services.store
    ttl = conv.services.settings.context_ttl_days * 86400
    pipe.set(store.keys.digest_ref(ref), json.dumps(record), ex=ttl)
    return ref


async def load_ref(conv: Conversation, ref: str) -> dict[str, Any] | None:
    store = conv.services.store
    raw = await store.redis.get(store.keys.digest_ref(ref))
    return cast(dict[str, Any], json.loads(raw)) if raw else None


def digest_buttons(conv: Conversation, digest: Digest, ref: str, ui: str) -> list[list[Button]]:
    """The keyboard under a digest: other language, shorter/longer, source, questions."""
    other = "en" if digest.lang == "ar" else "ar"
    size = ("longer", "detailed") if digest.length == "short" else ("shorter", "short")
    rows = [
        [
            Button(t(ui, f"buttons.lang_{other}"), callback=f"d:{ref}:{other}"),
            Button(t(ui, f"buttons.{size[0]}"), callback=f"d:{ref}:{size[1]}"),
        ]
    ]
    if digest.url:
        rows.append([Button(t(ui, "buttons.source"), url=digest.url)])
    if conv.services.followups is not None:
        for i, question in enumerate(digest.questions[:MAX_QUESTION_BUTTONS]):
            label = question if len(question) <= QUESTION_BUTTON_CHARS else question[:59] + "…"
            rows.append([Button("❓ " + label, callback=f"d:{ref}:q{i}")])
    return rows


@Conversation.callback("d")
async def digest_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """A tap under a digest: re-summarize in another language or length, or ask a question."""
    parts = (msg.callback or "").split(":", 2)
    record = await load_ref(conv, parts[1]) if len(parts) == 3 else None
    if record is None:
        await conv.say(msg, out, "chat.expired")
        return
    action = parts[2]
    if action.startswith("q") and action[1:].isdigit():
        questions = record.get("q") or []
        index = int(action[1:])
        if index >= len(questions):
            await conv.say(msg, out, "chat.expired")
            return
        from bot.chat.followups import ask

        await ask(conv, msg, out, questions[index], reply_to=msg.callback_message_id)
        return
    lang: Lang = cast(Lang, action if action in ("ar", "en") else record["l"])
    length: Length = cast(Length, action if action in ("short", "detailed") else record["n"])
    article = await conv.services.summarizer.get_article(record["a"])
    if article is None:
        await conv.say(msg, out, "chat.expired")
        return

    async def produce(progress: Progress) -> Digest:
        return await _summarize(conv, msg, article, progress, lang=lang, length=length)

    await deliver_digest(conv, msg, out, produce)
