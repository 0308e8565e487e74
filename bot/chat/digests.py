"""Summarizing in a chat: what counts as an article, the digest message and its buttons.

`/summarize [ar|en] <link or text>`, `/summarize` as a reply, in private chats a plain
link, a pasted article (ARTICLE_MIN_CHARS or more) or a forwarded post, the buttons
under a digest, and a briefing story's "full digest" button all end in
`digest_article`, the one entry for a digest: once real work starts (a cache hit has
no stages), the typing action and one progress placeholder; then the digest (edited
into the placeholder) with its keyboard, then the message is bound to the article for
follow-up questions. The request itself (limits, budget, loading, the digest, the
buttons' record) is the service's `request_digest` (bot/summarize/requests.py); this
module only says what the user asked for and renders the answer. Buttons carry
`d:<ref>:<action>`, where `ref` is the short id of the buttons' record (the article id,
language, length and questions), so callback data stays far below Telegram's 64 bytes.
"""

from __future__ import annotations

import re
from typing import cast

from bot.chat.briefing_questions import ask_about_post
from bot.chat.followups import ask
from bot.chat.router import Conversation
from bot.domain import Digest, Lang, Length, Progress, SourceKind, Stage
from bot.i18n import t
from bot.ingest.inputs import ARTICLE_MIN_CHARS, find_url, validate_url
from bot.messages import Button, Incoming, Outbox, Reply
from bot.render import render_digest_html, render_partial_html
from bot.summarize.requests import MAX_QUESTION_BUTTONS, Requester, Source

QUESTION_BUTTON_CHARS = 60

# a word that is meant as a link, though not an http(s) one: "ftp://x", "http://", "javascript:..."
_URL_LIKE = re.compile(r"^([a-z][a-z0-9+.\-]*://|(javascript|data|file|vbscript):)", re.I)


def register(conv: Conversation) -> None:
    """Add /summarize, the digest buttons (`d:...`) and plain-text handling to `conv`."""
    conv.command("summarize", summarize_command, description="commands.summarize")
    conv.callback("d", digest_button)
    conv.on_text(on_text)


def pick_source(text: str, *, explicit: bool) -> tuple[SourceKind, str] | None:
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
    await digest_article(conv, msg, out, source, lang=lang)


async def on_text(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """Plain text in a private chat (or a mention/reply in a group): an article, a link,
    a forwarded post, or else a follow-up question."""
    text = msg.text
    if msg.reply_to_post is not None and not (msg.reply_to_bot or msg.mentioned):
        await ask_about_post(conv, msg, out, text)  # a comment: only on a briefing
        return
    if msg.mentioned:
        text = " ".join(w for w in text.split() if not w.startswith("@"))
    source = pick_source(text, explicit=msg.forwarded)
    if source is not None and not (msg.reply_to_bot and source[0] == "text" and not msg.forwarded):
        await digest_article(conv, msg, out, source)
        return
    await ask(conv, msg, out, text)


# --- the flow --------------------------------------------------------------------------


async def digest_article(
    conv: Conversation,
    msg: Incoming,
    out: Outbox,
    source: Source,
    *,
    lang: Lang | None = None,
    length: Length | None = None,
) -> None:
    """The one entry for a digest: summarize `source` for `msg`'s user (in `lang` and
    `length`, defaulting to their preferences) under their limits, with progress, and
    send the digest with its buttons. The article becomes the chat's active one. In a
    group or channel whose admins chose a /language, that language is the digest's (as
    for everything the bot says there).

    A cached digest costs four Redis round trips (see `request_digest`), then one for
    the follow-up bindings of the sent messages.

    Raises the typed errors of the request (the router translates them): RateLimited /
    BudgetExceeded from the limits, BadInput, FetchError, NotAnArticle ... from loading.
    """
    digests = conv.services.digests
    private = msg.chat_type == "private"
    user = Requester(
        msg.user_id,
        msg.language_code,
        home_chat=msg.chat_id if private else None,
        shared_chat=msg.chat_id if not private and msg.chat_id != msg.user_id else None,
    )
    done = await digests.request_digest(
        user, source, lang=lang, length=length, progress=lambda ui: _progress(out, ui)
    )
    reply = Reply(
        html=render_digest_html(done.digest, done.prefs.lang),
        buttons=_buttons_for(msg, done.digest, done.ref, done.prefs.lang),
        edit_placeholder=True,
        article_id=done.digest.article_id,
        kind="digest",
    )
    ids = await out.send(reply)
    if ids:
        await digests.bind_sent(msg.chat_id, ids, done.digest.article_id)


def _progress(out: Outbox, ui: Lang) -> Progress:
    """The progress callback: on the first stage (real work; a cache hit has none) the
    typing action, then each new stage's text in the one placeholder, and the digest
    as it is written (`Outbox.live`)."""
    shown: list[str] = []

    async def progress(stage: Stage) -> None:
        if not shown:
            shown.append("")
            await out.typing()
        if stage.partial is not None:  # the digest as the model writes it
            await out.live(render_partial_html(stage.partial, ui))
            return
        text = stage_text(ui, stage)
        if shown[-1] != text:
            shown.append(text)
            await out.progress(text)

    return progress


# --- buttons -------------------------------------------------------------------------


def digest_buttons(digest: Digest, ref: str, ui: str) -> list[list[Button]]:
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
    for i, question in enumerate(digest.questions[:MAX_QUESTION_BUTTONS]):
        label = question if len(question) <= QUESTION_BUTTON_CHARS else question[:59] + "…"
        rows.append([Button("❓ " + label, callback=f"d:{ref}:q{i}")])
    return rows


def _buttons_for(msg: Incoming, digest: Digest, ref: str, ui: str) -> list[list[Button]]:
    """The digest's keyboard in `msg`'s chat: in a channel only the source link (any
    reader's tap on the others would have the bot post in the channel)."""
    rows = digest_buttons(digest, ref, ui)
    if msg.chat_type == "channel":
        rows = [row for row in rows if all(b.url for b in row)]
    return rows


async def digest_button(conv: Conversation, msg: Incoming, out: Outbox) -> None:
    """A tap under a digest: re-summarize in another language or length, or ask a question.
    In a channel (digests there have no such buttons), a tap only gets a toast: the
    reply would be posted to every reader."""
    if msg.chat_type == "channel":
        await conv.button_notice(msg, out, "chat.expired")
        return
    parts = (msg.callback or "").split(":", 2)
    record = await conv.services.digests.buttons(parts[1]) if len(parts) == 3 else None
    if record is None:
        await conv.button_notice(msg, out, "chat.expired")
        return
    action = parts[2]
    if action.startswith("q") and action[1:].isdigit():
        questions = record.get("q") or []
        index = int(action[1:])
        if index >= len(questions):
            await conv.button_notice(msg, out, "chat.expired")
            return
        await ask(conv, msg, out, questions[index], reply_to=msg.callback_message_id)
        return
    lang: Lang = cast(Lang, action if action in ("ar", "en") else record["l"])
    length: Length = cast(Length, action if action in ("short", "detailed") else record["n"])
    article = await conv.services.summarizer.get_article(record["a"])
    if article is None:
        await conv.button_notice(msg, out, "chat.expired")
        return
    await digest_article(conv, msg, out, article, lang=lang, length=length)
